// `rsagent start` and `rsagent run`: exec the daemon binary, in the
// foreground (run) or forked into its own session with a readiness pipe
// (start), and wait for another start already under way.
#include "rsagent/cli/commands.hpp"
#include "rsagent/daemon/control.hpp"
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/daemon/presence.hpp"
#include "rsagent/util/fs.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <fcntl.h>
#include <iostream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace rsagent::cli {

namespace {
// How long a `start` waits for another one under way (10,000 VIPs take 4 s).
constexpr auto kStartWait = std::chrono::seconds(120);

// The forked child: leaves the operator's session and becomes rsagentd.
[[noreturn]] void become_daemon(const CommandOptions& opts, int pipe_read, int pipe_write,
                                int presence_fd) {
  ::close(pipe_read);
  // A session of its own, out of the operator's terminal and its job
  // control. One fork, as daemon(3) does: the daemon leads its session but
  // never opens a terminal (everything it opens is a file, /proc or a
  // socket), so it never acquires a controlling one; a second fork would
  // cost every start another process.
  ::setsid();
  (void)!::chdir("/");
  ::umask(022);
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::close(null);
  }
  // rsagentd logs to syslog and, until ready, warnings to the operator's
  // terminal; errors come back through the readiness pipe (printed once,
  // by this parent). The pipe's end must survive the exec.
  ::fcntl(pipe_write, F_SETFD, 0);
  ::fcntl(presence_fd, F_SETFD, 0);
  CommandOptions child_opts = opts;
  child_opts.ready_fd = pipe_write;
  child_opts.presence_fd = presence_fd;
  ::_exit(exec_daemon(child_opts));
}

// Everything the daemon wrote to the readiness pipe, until it closes it.
std::string read_report(int fd) {
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    msg.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return msg;
}

// The daemon is this process's child until it is ready: how it ended, when
// it did ("exited with status 1", "was killed by SIGKILL").
std::string how_it_ended(pid_t child) {
  int status = 0;
  for (int i = 0; i < 50; ++i) {
    const pid_t r = ::waitpid(child, &status, WNOHANG);
    if (r == child) {
      if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
      if (WIFSIGNALED(status)) {
        const char* name = ::sigabbrev_np(WTERMSIG(status));
        return name != nullptr ? std::string("was killed by SIG") + name
                               : "was killed by signal " + std::to_string(WTERMSIG(status));
      }
    }
    if (r < 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "closed its report pipe";
}

}  // namespace

std::string daemon_binary() {
  char exe[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  return (n > 0 ? fs::parent_dir(exe) : std::string(".")) + "/rsagentd";
}

int exec_daemon(const CommandOptions& opts) {
  const std::string bin = daemon_binary();
  std::vector<std::string> args{bin, "--config", opts.config, "--log-level", opts.log_level};
  if (opts.state_dir) {
    args.push_back("--state-dir");
    args.push_back(*opts.state_dir);
  }
  if (opts.ready_fd >= 0) {
    args.push_back("--ready-fd");
    args.push_back(std::to_string(opts.ready_fd));
  }
  if (opts.presence_fd >= 0) {
    args.push_back("--presence-fd");
    args.push_back(std::to_string(opts.presence_fd));
  }
  args.push_back("run");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(bin.c_str(), argv.data());
  const std::string why = std::string("cannot run the daemon ") + bin + ": " + std::strerror(errno) +
                          "; reinstall rsagent (rsagent and rsagentd go together)";
  if (opts.ready_fd >= 0) {
    const std::string out = std::to_string(exit_code::kFailure) + "\n" + why;
    (void)!::write(opts.ready_fd, out.data(), out.size());
  } else {
    std::cerr << "rsagent: " << why << "\n";
  }
  return exit_code::kFailure;
}

int cmd_run(const CommandOptions& opts) { return exec_daemon(opts); }

// A daemon holds the state folder, or another `start` (or a `stop`
// reverting) is under way. "Already running" is true only once that daemon
// is up, which it says by writing its pid file; until then, wait. When it
// lets go instead (that start failed, or a stop finished), start afresh.
int wait_for_other_start(const daemon::Paths& paths, const CommandOptions& opts) {
  const auto deadline = std::chrono::steady_clock::now() + kStartWait;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto holder = daemon::presence_holder(paths);
    const auto pid = daemon::read_pid(paths.pidfile());
    if (holder && holder->daemon && pid && *pid == holder->pid) {
      std::cout << "rsagent is already running (pid " << *pid << ") for state folder " << paths.runtime
                << "\n";
      return exit_code::kOk;
    }
    if (!holder && !daemon::lock_is_held(paths.lockfile())) return cmd_start(opts);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cerr << "rsagent: another start is in progress (a daemon holds state folder " << paths.runtime
            << " and has not reported ready within " << kStartWait.count()
            << " s); see the system log, then try again\n";
  return exit_code::kFailure;
}

int cmd_start(const CommandOptions& opts) {
  if (auto code = via_systemctl(opts, "start")) return *code;
  const daemon::Paths paths = daemon::Paths::for_state_dir(opts.state_dir);
  // Claimed first, before the configuration is read, and handed to the
  // daemon: from this moment a `stop` or `status` sees that this state
  // folder is taken, even before the daemon has its lock, and even if the
  // folder is removed.
  auto presence = daemon::Presence::claim(paths);
  if (!presence) {
    if (presence.error().err == EADDRINUSE) return wait_for_other_start(paths, opts);
    std::cerr << "rsagent: " << presence.error().str() << "\n";
    return exit_code::kFailure;
  }
  auto loaded = config::load(opts.config);
  if (!loaded.config) return print_config_errors(loaded);
  if (!daemon::has_net_admin()) {
    std::cerr << "rsagent: start " << daemon::kNeedPrivilege << "\n";
    return exit_code::kNotPrivileged;
  }
  if (daemon::lock_is_held(paths.lockfile())) {
    presence->release();
    return wait_for_other_start(paths, opts);
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::cerr << "rsagent: pipe: " << std::strerror(errno) << "\n";
    return exit_code::kFailure;
  }
  std::cout.flush();
  std::cerr.flush();
  const pid_t child = ::fork();
  if (child < 0) {
    std::cerr << "rsagent: fork: " << std::strerror(errno) << "\n";
    return exit_code::kFailure;
  }
  if (child == 0) become_daemon(opts, fds[0], fds[1], presence->fd());
  ::close(fds[1]);
  presence->release();  // the daemon holds it now
  // The daemon writes its report and closes the pipe once it is ready (or
  // has failed); EOF without a report means it died on the way.
  const std::string msg = read_report(fds[0]);
  const auto nl = msg.find('\n');
  if (msg.empty() || nl == std::string::npos) {
    std::cerr << "rsagent: the daemon " << how_it_ended(child)
              << " during start-up without a report; run `rsagent run` to start it in the "
                 "foreground and see its log\n";
    return exit_code::kFailure;
  }
  const int code = std::atoi(msg.substr(0, nl).c_str());
  const std::string text = msg.substr(nl + 1);
  // Two starts raced past the check above: wait for the winner's outcome.
  if (code == exit_code::kAnotherStart) return wait_for_other_start(paths, opts);
  if (code == exit_code::kOk) {
    std::cout << text << "\n";
  } else {
    std::cerr << (text.rfind("rsagent", 0) == 0 ? "" : "rsagent: ") << text << "\n";
  }
  return code;
}

}  // namespace rsagent::cli
