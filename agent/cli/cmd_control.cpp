// The commands that talk to a running daemon: reload, restart, and the
// operator's drain, maint and ready (recorded for the next start when none runs).
#include "rsagent/cli/commands.hpp"
#include "rsagent/daemon/control.hpp"
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/daemon/presence.hpp"
#include "rsagent/util/fs.hpp"

#include <iostream>
#include <thread>
#include <unistd.h>

namespace rsagent::cli {

int cmd_reload(const CommandOptions& opts) {
  if (::geteuid() != 0) {
    std::cerr << "rsagent: reload needs root: the control socket accepts only root\n";
    return exit_code::kNotPrivileged;
  }
  const daemon::Paths paths = daemon::Paths::for_state_dir(opts.state_dir);
  auto reply = daemon::control_call(paths.control_socket(), {"reload", "", false});
  if (!reply) {
    std::cerr << "rsagent: reload: no daemon answers on " << paths.control_socket() << " ("
              << reply.error().str() << "); start it with `rsagent start`\n";
    return exit_code::kFailure;
  }
  (reply->ok ? std::cout : std::cerr) << (reply->ok ? "rsagent: " : "") << reply->message << "\n";
  return reply->ok ? exit_code::kOk : (reply->code ? reply->code : exit_code::kFailure);
}

int cmd_restart(const CommandOptions& opts, bool only_if_running) {
  if (!daemon::has_net_admin()) {
    std::cerr << "rsagent: restart " << daemon::kNeedPrivilege << "\n";
    return exit_code::kNotPrivileged;
  }
  // Refuse a broken config before the running daemon is touched.
  auto loaded = config::load(opts.config);
  if (!loaded.config) return print_config_errors(loaded);
  const daemon::Paths paths = daemon::Paths::for_state_dir(opts.state_dir);
  if (!daemon::daemon_running(paths)) {
    if (!only_if_running) return cmd_start(opts);
    std::cout << "rsagent is not running; nothing to restart\n";
    return exit_code::kOk;
  }
  auto reply = daemon::control_call(paths.control_socket(), {"restart", "", false});
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
    auto ping = daemon::control_call(paths.control_socket(), {"ping", "", false});
    if (ping && ping->ok && ping->boot != old_boot) {
      std::cout << "rsagent restarted: " << ping->message
                << "; VIPs, routes and sysctls stayed in place\n";
      return exit_code::kOk;
    }
    // The lock is free for a moment while the new image starts; only a
    // lasting absence means it did not come back.
    if (daemon::daemon_running(paths) || ping) {
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
  const daemon::Paths paths = daemon::Paths::for_state_dir(opts.state_dir);
  auto reply = daemon::control_call(paths.control_socket(), {cmd, opts.reason, false, opts.force});
  if (reply) {
    (reply->ok ? std::cout : std::cerr) << "rsagent: " << reply->message << "\n";
    return reply->ok ? exit_code::kOk : exit_code::kFailure;
  }
  if (daemon::daemon_running(paths)) {
    std::cerr << "rsagent: the daemon is running but does not answer on " << paths.control_socket()
              << ": " << reply.error().str() << "\n";
    return exit_code::kFailure;
  }
  // No daemon: record the state so the next start comes up in it.
  verdict::OperatorState op;
  op.admin = cmd == "drain" ? verdict::Admin::kDrain
                            : (cmd == "maint" ? verdict::Admin::kMaint : verdict::Admin::kReady);
  op.reason = opts.reason;
  op.since_unix = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  if (auto s = fs::make_dirs(paths.persistent); !s) {
    std::cerr << "rsagent: " << s.error().str() << "\n";
    return exit_code::kFailure;
  }
  if (auto s = daemon::OperatorStore(paths.persistent + "/operator.json").save(op); !s) {
    std::cerr << "rsagent: " << s.error().str() << "\n";
    return exit_code::kFailure;
  }
  std::cout << "rsagent is not running; recorded \"" << cmd << "\": it applies when rsagent starts\n";
  return exit_code::kOk;
}

}  // namespace rsagent::cli
