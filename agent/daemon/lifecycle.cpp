// run, start and stop: the daemon's life from config to revert.
#include "rsagent/daemon/agent.hpp"
#include "rsagent/daemon/commands.hpp"
#include "rsagent/util/fs.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace rsagent::daemon {

namespace {

constexpr auto kStopTimeout = std::chrono::seconds(60);

const char* const kNeedPrivilege =
    "needs root or CAP_NET_ADMIN: it changes addresses and routes on lo and "
    "/proc/sys/net; run it as root (sudo)";

// Where a starting daemon reports its outcome: the `start` parent through a
// pipe, or stderr when run in the foreground.
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  int fail(int code, const std::string& msg) {
    if (fd_ < 0) {
      log::error(msg);
    } else {
      send(code, msg);
    }
    return code;
  }
  void ready(const std::string& summary) {
    if (fd_ < 0) {
      log::notice(summary);
      return;
    }
    send(exit_code::kOk, summary);
    // The terminal belongs to the operator again; from now on, syslog only.
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      ::close(null);
    }
    auto o = log::current();
    o.to_stderr = false;
    log::configure(o);
  }

 private:
  int fd_;
  void send(int code, const std::string& msg) {
    const std::string out = std::to_string(code) + "\n" + msg;
    (void)!::write(fd_, out.data(), out.size());
    ::close(fd_);
    fd_ = -1;
  }
};

std::string summary(const config::Config& cfg, const Converged& c, pid_t pid) {
  return "rsagent running (pid " + std::to_string(pid) + "): " + std::to_string(cfg.vips.size()) +
         " VIP(s) in place, " + std::to_string(c.report.changed) + " change(s) made, " +
         std::to_string(c.report.adopted) + " existing object(s) adopted";
}

// Waits until the daemon has exited and released its lock. A pidfd wakes us
// the moment it exits; polling the lock covers kernels without pidfd_open.
bool wait_for_exit(pid_t pid, const std::string& lockfile, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  while (lock_is_held(lockfile)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      if (pfd >= 0) ::close(pfd);
      return false;
    }
    if (pfd >= 0) {
      pollfd p{pfd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 1000))) > 0) {
        // Exited: the kernel releases its flock as the files close.
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (pfd >= 0) ::close(pfd);
  return true;
}

int print_config_errors(const config::LoadResult& r) {
  for (const auto& d : r.errors) std::cerr << d.str() << "\n";
  std::cerr << "rsagent: " << r.errors.size()
            << " configuration error(s); nothing was changed. Fix them, then run "
               "`rsagent check-config`.\n";
  return exit_code::kBadConfig;
}

void reload(Agent& agent, const CommandOptions& opts, config::Config& current) {
  auto r = config::load(opts.config);
  if (!r.config) {
    for (const auto& d : r.errors) log::error("reload: " + d.str());
    log::error("reload refused: keeping the running configuration unchanged");
    return;
  }
  auto c = agent.converge(*r.config);
  if (!c) {
    log::error("reload: " + c.error().str());
    return;
  }
  current = *r.config;
  log::notice("reloaded: " + std::to_string(c->report.changed) + " change(s)");
}

int run_daemon(const CommandOptions& opts, int ready_fd) {
  Reporter rep(ready_fd);
  auto loaded = config::load(opts.config);
  if (!loaded.config) {
    std::string all;
    for (const auto& d : loaded.errors) all += d.str() + "\n";
    all += std::to_string(loaded.errors.size()) + " configuration error(s); nothing was changed";
    return rep.fail(exit_code::kBadConfig, all);
  }
  config::Config cfg = *loaded.config;
  if (!has_net_admin()) return rep.fail(exit_code::kNotPrivileged, std::string("rsagent ") + kNeedPrivilege);

  const Paths paths = Paths::for_state_dir(opts.state_dir);
  if (auto s = fs::make_dirs(paths.runtime); !s) return rep.fail(exit_code::kFailure, s.error().str());
  auto lock = InstanceLock::try_acquire(paths.lockfile());
  if (!lock) {
    if (lock.error().err == EWOULDBLOCK) {
      const auto pid = read_pid(paths.pidfile());
      return rep.fail(ready_fd >= 0 ? exit_code::kOk : exit_code::kFailure,
                      "rsagent is already running" +
                          (pid ? " (pid " + std::to_string(*pid) + ")" : std::string()) +
                          " for state folder " + paths.runtime);
    }
    return rep.fail(exit_code::kFailure, lock.error().str());
  }

  // Signals arrive through a signalfd so the loop handles them in order,
  // never inside a half-finished netlink exchange.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  const int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) return rep.fail(exit_code::kFailure, std::string("signalfd: ") + std::strerror(errno));

  auto agent = Agent::open(paths);
  if (!agent) return rep.fail(exit_code::kFailure, agent.error().str());
  auto conv = (*agent)->converge(cfg);
  if (!conv) return rep.fail(exit_code::kFailure, conv.error().str());
  if (auto s = fs::write_atomic(paths.pidfile(), std::to_string(getpid()) + "\n", 0644, false); !s)
    log::warning("pidfile: " + s.error().str());
  rep.ready(summary(cfg, *conv, getpid()));

  while (true) {
    signalfd_siginfo si{};
    const ssize_t n = ::read(sfd, &si, sizeof si);
    if (n < 0 && errno == EINTR) continue;
    if (n != sizeof si) break;
    if (si.ssi_signo == SIGHUP) {
      log::notice("SIGHUP: reloading " + opts.config);
      reload(**agent, opts, cfg);
      continue;
    }
    log::notice(std::string("received ") + strsignal(static_cast<int>(si.ssi_signo)) +
                ": reverting and exiting");
    break;
  }
  ::close(sfd);
  auto rev = (*agent)->revert_all();
  (void)fs::remove_if_exists(paths.pidfile());
  if (!rev) {
    log::error(rev.error().str() + "; what could not be undone stays in " + paths.journal() +
               " for `rsagent stop`");
    return exit_code::kFailure;
  }
  log::notice("stopped; every change rsagent made was reverted");
  return exit_code::kOk;
}

}  // namespace

int cmd_run(const CommandOptions& opts) { return run_daemon(opts, -1); }

int cmd_start(const CommandOptions& opts) {
  auto loaded = config::load(opts.config);
  if (!loaded.config) return print_config_errors(loaded);
  if (!has_net_admin()) {
    std::cerr << "rsagent: start " << kNeedPrivilege << "\n";
    return exit_code::kNotPrivileged;
  }
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  if (lock_is_held(paths.lockfile())) {
    const auto pid = read_pid(paths.pidfile());
    std::cout << "rsagent is already running"
              << (pid ? " (pid " + std::to_string(*pid) + ")" : std::string()) << "\n";
    return exit_code::kOk;
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
  if (child == 0) {
    ::close(fds[0]);
    ::setsid();
    // Fork again so the daemon is not a session leader and can never
    // acquire a controlling terminal.
    if (::fork() != 0) ::_exit(0);
    (void)!::chdir("/");
    ::umask(022);
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
      ::dup2(null, STDOUT_FILENO);
      ::close(null);
    }
    auto o = log::current();
    o.to_syslog = true;
    // Until ready the operator sees warnings here; errors come back through
    // the readiness pipe (printed once, by the parent).
    o.stderr_max = log::Level::kWarning;
    o.stderr_min = log::Level::kWarning;
    log::configure(o);
    ::_exit(run_daemon(opts, fds[1]));
  }
  ::close(fds[1]);
  int st = 0;
  ::waitpid(child, &st, 0);
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
  if (code == exit_code::kOk) {
    std::cout << text << "\n";
  } else {
    std::cerr << (text.rfind("rsagent", 0) == 0 ? "" : "rsagent: ") << text << "\n";
  }
  return code;
}

int cmd_stop(const CommandOptions& opts) {
  if (!has_net_admin()) {
    std::cerr << "rsagent: stop " << kNeedPrivilege << "\n";
    return exit_code::kNotPrivileged;
  }
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  if (::access(paths.runtime.c_str(), F_OK) != 0) {
    std::cout << "rsagent is not running; nothing to revert\n";
    return exit_code::kOk;
  }
  bool stopped_daemon = false;
  if (lock_is_held(paths.lockfile())) {
    const auto pid = read_pid(paths.pidfile());
    if (!pid) {
      std::cerr << "rsagent: a daemon holds " << paths.lockfile() << " but " << paths.pidfile()
                << " names no pid; stop it with your service manager\n";
      return exit_code::kFailure;
    }
    if (::kill(*pid, SIGTERM) != 0 && errno != ESRCH) {
      std::cerr << "rsagent: signal pid " << *pid << ": " << std::strerror(errno) << "\n";
      return exit_code::kFailure;
    }
    if (!wait_for_exit(*pid, paths.lockfile(), kStopTimeout)) {
      std::cerr << "rsagent: pid " << *pid << " did not stop within 60 s; it may be stuck in "
                   "the kernel. Try again, or kill -9 it and run `rsagent stop` to revert\n";
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
