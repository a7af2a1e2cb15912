// `rsagent stop`: end the running daemon (it reverts), or revert from the
// journal a daemon left behind (killed, crashed, or its revert failed).
#include "rsagent/net/engine.hpp"
#include "rsagent/cli/commands.hpp"
#include "rsagent/daemon/control.hpp"
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/daemon/presence.hpp"
#include "rsagent/util/fs.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <optional>
#include <thread>
#include <unistd.h>

namespace rsagent::cli {

namespace {

// How long a stop waits for a `start` still on its way to exec the daemon.
constexpr auto kStartingWait = std::chrono::seconds(30);

// The running daemon's pid: its presence names it. A `start` that has not
// yet become the daemon, or a daemon between its lock and its presence, is
// waited for, so that a stop right after a start stops what that start
// brings up. A daemon of a version without a presence is found through its
// pid file.
std::optional<pid_t> find_daemon(const daemon::Paths& paths) {
  const auto deadline = std::chrono::steady_clock::now() + kStartingWait;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto holder = daemon::presence_holder(paths);
    if (holder && holder->daemon) return holder->pid;
    if (!holder) {
      if (!daemon::lock_is_held(paths.lockfile())) return std::nullopt;
      if (auto pid = daemon::read_pid(paths.pidfile()); pid && ::kill(*pid, 0) == 0) return pid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return daemon::read_pid(paths.pidfile());
}

// Waits until the daemon has let go of the state folder (its presence and
// its lock, released together once it has reverted).
bool wait_released(const daemon::Paths& paths, std::chrono::seconds timeout) {
  if (!daemon::wait_presence_released(paths, timeout)) return false;
  return daemon::wait_lock_released(paths.lockfile(), std::chrono::seconds(1));
}

// Asks the running daemon to stop (it drains, then reverts) and waits until
// it lets go of the state folder. kOk once it has.
int end_daemon(const daemon::Paths& paths, const CommandOptions& opts) {
  const auto pid = find_daemon(paths);
  if (!pid) {
    if (!daemon::daemon_running(paths)) return exit_code::kOk;  // it ended meanwhile
    std::cerr << "rsagent: a daemon holds state folder " << paths.runtime
              << " but names no pid; stop it with your service manager\n";
    return exit_code::kFailure;
  }
  // --now goes through the control socket (skip the drain wait); a plain
  // stop is SIGTERM, exactly what systemd sends.
  bool asked = false;
  if (opts.now) asked = static_cast<bool>(daemon::control_call(paths.control_socket(), {"stop", "", true}));
  if (!asked && ::kill(*pid, SIGTERM) != 0 && errno != ESRCH) {
    std::cerr << "rsagent: signal pid " << *pid << ": " << std::strerror(errno) << "\n";
    return exit_code::kFailure;
  }
  // The daemon lets go of its lock once it has reverted and closed its
  // listeners, before its own teardown. Allow for the configured drain
  // wait on top of the revert itself; the configuration is read only when
  // the revert alone has run out of time.
  auto timeout = kStopTimeout;
  bool exited = wait_released(paths, kStopTimeout);
  if (!exited && !opts.now) {
    if (auto cfg = config::load(opts.config); cfg.config && cfg.config->stop.drain.count() > 0) {
      const auto drain = std::chrono::ceil<std::chrono::seconds>(cfg.config->stop.drain);
      timeout += drain;
      exited = wait_released(paths, drain);
    }
  }
  if (!exited) {
    std::cerr << "rsagent: pid " << *pid << " did not stop within " << timeout.count()
              << " s; it may be stuck in the kernel. Try again, or kill -9 it and run "
                 "`rsagent stop` to revert\n";
    return exit_code::kFailure;
  }
  return exit_code::kOk;
}

}  // namespace

int cmd_stop(const CommandOptions& opts) {
  if (!opts.now)
    if (auto code = via_systemctl(opts, "stop")) return *code;
  const daemon::Paths paths = daemon::Paths::for_state_dir(opts.state_dir);
  // Nothing runs and nothing is recorded: say so before asking for
  // privileges, so that removing the package in a container without
  // CAP_NET_ADMIN does not fail on rsagent. A daemon is found by its
  // presence, which removing the state folder does not remove.
  const bool running = daemon::daemon_running(paths);
  if (!running && (::access(paths.runtime.c_str(), F_OK) != 0 ||
                   (::access(paths.journal().c_str(), F_OK) != 0 && errno == ENOENT))) {
    std::cout << "rsagent is not running; nothing to revert\n";
    return exit_code::kOk;
  }
  if (!daemon::has_net_admin()) {
    std::cerr << "rsagent: stop " << daemon::kNeedPrivilege << "\n";
    return exit_code::kNotPrivileged;
  }
  bool stopped_daemon = false;
  if (running) {
    if (const int code = end_daemon(paths, opts); code != exit_code::kOk) return code;
    stopped_daemon = true;
    // A daemon ended before it made its folder changed nothing; one that
    // reverted wrote what it could not undo to its journal, in its folder.
    if (::access(paths.runtime.c_str(), F_OK) != 0) {
      std::cout << "rsagent stopped; everything it changed was reverted\n";
      return exit_code::kOk;
    }
  }
  auto lock = daemon::InstanceLock::try_acquire(paths.lockfile());
  if (!lock) {
    std::cerr << "rsagent: " << lock.error().str()
              << (lock.error().err == EWOULDBLOCK ? " (a new daemon is starting; run stop again)" : "")
              << "\n";
    return exit_code::kFailure;
  }
  auto engine = net::Engine::open(paths.journal());
  if (!engine) {
    std::cerr << "rsagent: " << engine.error().str() << "\n";
    return exit_code::kFailure;
  }
  auto j = (*engine)->journal();
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
  auto rev = (*engine)->revert_all();
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

}  // namespace rsagent::cli
