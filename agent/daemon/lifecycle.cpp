// run, start and stop: the daemon's life from config to revert.
#include "rsagent/daemon/agent.hpp"
#include "rsagent/daemon/commands.hpp"
#include "rsagent/daemon/control.hpp"
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/util/fs.hpp"

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <vector>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace rsagent::daemon {

namespace {

constexpr auto kStopTimeout = std::chrono::seconds(60);
// How long a `start` waits for another one under way (10,000 VIPs take 4 s).
constexpr auto kStartWait = std::chrono::seconds(120);


int print_config_errors(const config::LoadResult& r) {
  for (const auto& d : r.errors) std::cerr << d.str() << "\n";
  std::cerr << "rsagent: " << r.errors.size()
            << " configuration error(s); nothing was changed. Fix them, then run "
               "`rsagent check-config`.\n";
  return exit_code::kBadConfig;
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

std::optional<int> via_systemctl(const CommandOptions& opts, const std::string& verb) {
  // Only for the installed service's own files: with --config/--state-dir the
  // operator means this instance, not the unit.
  if (opts.state_dir || opts.config != config::kDefaultConfigPath) return std::nullopt;
  if (std::getenv("RSAGENT_NO_SYSTEMCTL") != nullptr) return std::nullopt;
  // Already running under systemd (the unit's own ExecStart): act directly.
  if (std::getenv("INVOCATION_ID") != nullptr) return std::nullopt;
  if (::access("/run/systemd/system", F_OK) != 0) return std::nullopt;  // systemd is not PID 1
  bool installed = false;
  for (const char* dir : {"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system",
                          "/lib/systemd/system"})
    installed = installed || ::access((std::string(dir) + "/rsagent.service").c_str(), F_OK) == 0;
  if (!installed) return std::nullopt;
  std::cout.flush();
  std::vector<std::string> args{"systemctl", verb, "rsagent.service"};
  if (verb == "status") args.push_back("--no-pager");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp("systemctl", argv.data());
  std::cerr << "rsagent: exec systemctl: " << std::strerror(errno)
            << " (set RSAGENT_NO_SYSTEMCTL=1 to act directly)\n";
  return exit_code::kFailure;
}

int cmd_reload(const CommandOptions& opts) {
  if (::geteuid() != 0) {
    std::cerr << "rsagent: reload needs root: the control socket accepts only root\n";
    return exit_code::kNotPrivileged;
  }
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  auto reply = control_call(paths.control_socket(), {"reload", "", false});
  if (!reply) {
    std::cerr << "rsagent: reload: no daemon answers on " << paths.control_socket() << " ("
              << reply.error().str() << "); start it with `rsagent start`\n";
    return exit_code::kFailure;
  }
  (reply->ok ? std::cout : std::cerr) << (reply->ok ? "rsagent: " : "") << reply->message << "\n";
  return reply->ok ? exit_code::kOk : (reply->code ? reply->code : exit_code::kFailure);
}

int cmd_restart(const CommandOptions& opts, bool only_if_running) {
  if (!has_net_admin()) {
    std::cerr << "rsagent: restart " << kNeedPrivilege << "\n";
    return exit_code::kNotPrivileged;
  }
  // Refuse a broken config before the running daemon is touched.
  auto loaded = config::load(opts.config);
  if (!loaded.config) return print_config_errors(loaded);
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  if (!lock_is_held(paths.lockfile())) {
    if (!only_if_running) return cmd_start(opts);
    std::cout << "rsagent is not running; nothing to restart\n";
    return exit_code::kOk;
  }
  auto reply = control_call(paths.control_socket(), {"restart", "", false});
  if (!reply || !reply->ok) {
    std::cerr << "rsagent: restart: " << (reply ? reply->message : reply.error().str()) << "\n";
    return exit_code::kFailure;
  }
  const std::uint64_t old_boot = reply->boot;
  const auto deadline = std::chrono::steady_clock::now() + kStopTimeout;
  bool gone = false;
  auto gone_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto ping = control_call(paths.control_socket(), {"ping", "", false});
    if (ping && ping->ok && ping->boot != old_boot) {
      std::cout << "rsagent restarted: " << ping->message
                << "; VIPs, routes and sysctls stayed in place\n";
      return exit_code::kOk;
    }
    // The lock is free for a moment while the new image starts; only a
    // lasting absence means it did not come back.
    if (lock_is_held(paths.lockfile()) || ping) {
      gone = false;
      continue;
    }
    if (!gone) {
      gone = true;
      gone_since = std::chrono::steady_clock::now();
    }
    if (std::chrono::steady_clock::now() - gone_since > std::chrono::seconds(3)) {
      // It went away without coming back: its journal is intact.
      std::cerr << "rsagent: the daemon did not come back after exec; its changes are still in "
                   "place (see the log); run `rsagent start` to take them over\n";
      return exit_code::kFailure;
    }
  }
  std::cerr << "rsagent: the restarted daemon did not answer within 60 s\n";
  return exit_code::kFailure;
}

int cmd_operator(const CommandOptions& opts, const std::string& cmd) {
  if (::geteuid() != 0) {
    std::cerr << "rsagent: " << cmd << " needs root: the control socket accepts only root\n";
    return exit_code::kNotPrivileged;
  }
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  auto reply = control_call(paths.control_socket(), {cmd, opts.reason, false});
  if (reply) {
    (reply->ok ? std::cout : std::cerr) << "rsagent: " << reply->message << "\n";
    return reply->ok ? exit_code::kOk : exit_code::kFailure;
  }
  if (lock_is_held(paths.lockfile())) {
    std::cerr << "rsagent: the daemon is running but does not answer on " << paths.control_socket()
              << ": " << reply.error().str() << "\n";
    return exit_code::kFailure;
  }
  // No daemon: record the state so the next start comes up in it.
  health::OperatorState op;
  op.admin = cmd == "drain" ? health::Admin::kDrain
                            : (cmd == "maint" ? health::Admin::kMaint : health::Admin::kReady);
  op.reason = opts.reason;
  op.since_unix = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  if (auto s = fs::make_dirs(paths.persistent); !s) {
    std::cerr << "rsagent: " << s.error().str() << "\n";
    return exit_code::kFailure;
  }
  if (auto s = OperatorStore(paths.persistent + "/operator.json").save(op); !s) {
    std::cerr << "rsagent: " << s.error().str() << "\n";
    return exit_code::kFailure;
  }
  std::cout << "rsagent is not running; recorded \"" << cmd << "\": it applies when rsagent starts\n";
  return exit_code::kOk;
}

// The lock is held: a daemon runs, or another `start` (or a `stop`
// reverting) is under way. "Already running" is true only once that daemon
// is up, which it says by writing its pid file; until then, wait. When the
// lock is let go instead (that start failed, or a stop finished), start
// afresh.
int wait_for_other_start(const Paths& paths, const CommandOptions& opts) {
  const auto deadline = std::chrono::steady_clock::now() + kStartWait;
  while (std::chrono::steady_clock::now() < deadline) {
    const bool held = lock_is_held(paths.lockfile());
    const auto pid = read_pid(paths.pidfile());
    if (held && pid && ::kill(*pid, 0) == 0) {
      std::cout << "rsagent is already running (pid " << *pid << ") for state folder " << paths.runtime
                << "\n";
      return exit_code::kOk;
    }
    if (!held) return cmd_start(opts);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::cerr << "rsagent: another start is in progress (" << paths.lockfile() << " is held and no "
            << "daemon has reported ready within " << kStartWait.count()
            << " s); see the system log (journalctl -t rsagent), then try again\n";
  return exit_code::kFailure;
}

int cmd_start(const CommandOptions& opts) {
  if (auto code = via_systemctl(opts, "start")) return *code;
  auto loaded = config::load(opts.config);
  if (!loaded.config) return print_config_errors(loaded);
  if (!has_net_admin()) {
    std::cerr << "rsagent: start " << kNeedPrivilege << "\n";
    return exit_code::kNotPrivileged;
  }
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  if (lock_is_held(paths.lockfile())) return wait_for_other_start(paths, opts);
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
  if (child == 0) {
    ::close(fds[0]);
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
    ::fcntl(fds[1], F_SETFD, 0);
    CommandOptions child_opts = opts;
    child_opts.ready_fd = fds[1];
    ::_exit(exec_daemon(child_opts));
  }
  ::close(fds[1]);
  // The daemon writes its report and closes the pipe once it is ready (or
  // has failed); EOF without a report means it died on the way.
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    msg.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  const auto nl = msg.find('\n');
  if (msg.empty() || nl == std::string::npos) {
    std::cerr << "rsagent: the daemon exited during start-up without a report; see the system "
                 "log (journalctl -t rsagent)\n";
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

int cmd_stop(const CommandOptions& opts) {
  if (!opts.now)
    if (auto code = via_systemctl(opts, "stop")) return *code;
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  // Nothing runs and nothing is recorded: say so before asking for
  // privileges, so that removing the package in a container without
  // CAP_NET_ADMIN does not fail on rsagent.
  if (::access(paths.runtime.c_str(), F_OK) != 0 ||
      (!lock_is_held(paths.lockfile()) && ::access(paths.journal().c_str(), F_OK) != 0 && errno == ENOENT)) {
    std::cout << "rsagent is not running; nothing to revert\n";
    return exit_code::kOk;
  }
  if (!has_net_admin()) {
    std::cerr << "rsagent: stop " << kNeedPrivilege << "\n";
    return exit_code::kNotPrivileged;
  }
  bool stopped_daemon = false;
  if (lock_is_held(paths.lockfile())) {
    const auto pid = read_pid(paths.pidfile());
    if (!pid) {
      std::cerr << "rsagent: a daemon holds " << paths.lockfile() << " but " << paths.pidfile()
                << " names no pid; stop it with your service manager\n";
      return exit_code::kFailure;
    }
    // --now goes through the control socket (skip the drain wait); a plain
    // stop is SIGTERM, exactly what systemd sends.
    bool asked = false;
    if (opts.now) asked = static_cast<bool>(control_call(paths.control_socket(), {"stop", "", true}));
    if (!asked && ::kill(*pid, SIGTERM) != 0 && errno != ESRCH) {
      std::cerr << "rsagent: signal pid " << *pid << ": " << std::strerror(errno) << "\n";
      return exit_code::kFailure;
    }
    // The daemon lets go of its lock once it has reverted and closed its
    // listeners, before its own teardown. Allow for the configured drain
    // wait on top of the revert itself; the configuration is read only when
    // the revert alone has run out of time.
    auto timeout = kStopTimeout;
    bool exited = wait_lock_released(paths.lockfile(), kStopTimeout);
    if (!exited && !opts.now) {
      if (auto cfg = config::load(opts.config); cfg.config && cfg.config->stop.drain.count() > 0) {
        const auto drain = std::chrono::ceil<std::chrono::seconds>(cfg.config->stop.drain);
        timeout += drain;
        exited = wait_lock_released(paths.lockfile(), drain);
      }
    }
    if (!exited) {
      std::cerr << "rsagent: pid " << *pid << " did not stop within " << timeout.count()
                << " s; it may be stuck in the kernel. Try again, or kill -9 it and run "
                   "`rsagent stop` to revert\n";
      return exit_code::kFailure;
    }
    stopped_daemon = true;
  }
  auto lock = InstanceLock::try_acquire(paths.lockfile());
  if (!lock) {
    std::cerr << "rsagent: " << lock.error().str()
              << (lock.error().err == EWOULDBLOCK ? " (a new daemon is starting; run stop again)" : "")
              << "\n";
    return exit_code::kFailure;
  }
  auto agent = Agent::open(paths);
  if (!agent) {
    std::cerr << "rsagent: " << agent.error().str() << "\n";
    return exit_code::kFailure;
  }
  auto j = (*agent)->journal();
  if (!j) {
    std::cerr << "rsagent: " << j.error().str() << "\n";
    return exit_code::kFailure;
  }
  if (!*j) {
    (void)fs::remove_if_exists(paths.pidfile());
    std::cout << (stopped_daemon ? "rsagent stopped; everything it changed was reverted\n"
                                 : "rsagent is not running; nothing to revert\n");
    return exit_code::kOk;
  }
  // A journal without a live daemon: it crashed, was killed, or could not
  // finish its own revert. The journal alone says what to undo.
  auto rev = (*agent)->revert_all();
  (void)fs::remove_if_exists(paths.pidfile());
  if (!rev) {
    std::cerr << "rsagent: " << rev.error().str() << "; what is left stays in " << paths.journal()
              << "\n";
    return exit_code::kFailure;
  }
  std::cout << "rsagent: reverted the changes recorded in " << paths.journal()
            << (stopped_daemon ? "" : " by a daemon that is no longer running") << "\n";
  return exit_code::kOk;
}

}  // namespace rsagent::daemon
