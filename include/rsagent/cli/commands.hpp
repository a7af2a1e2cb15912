// The CLI commands behind agent/main.cpp, one file each by job:
// cmd_start.cpp (run, start), cmd_stop.cpp (stop), cmd_control.cpp (reload,
// restart, drain/maint/ready), cmd_inspect.cpp (status, plan, check-config),
// cli_common.cpp (config errors, the hand-over to systemctl). Owns: process
// lifecycle (daemonizing, readiness pipe, pidfile) and the exit-code contract. Threads: the daemon's main
// thread runs the loop; commands are single-threaded. Errors: printed to
// stderr with what to do, and turned into an exit code; nothing throws.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/util/log.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace rsagent::cli {

namespace exit_code {
inline constexpr int kOk = 0;
inline constexpr int kFailure = 1;
inline constexpr int kUsage = 2;
inline constexpr int kNotPrivileged = 4;
inline constexpr int kBadConfig = 6;
// LSB status codes, for `status` only.
inline constexpr int kStatusRunning = 0;
inline constexpr int kStatusDeadStateLeft = 1;
inline constexpr int kStatusNotRunning = 3;
// Between rsagentd and the `start` that ran it only: another daemon holds
// the lock, so this start waits for that one's outcome.
inline constexpr int kAnotherStart = 75;
}  // namespace exit_code

// How long stop and restart wait for the daemon (beyond a configured drain).
inline constexpr auto kStopTimeout = std::chrono::seconds(60);

struct CommandOptions {
  std::string config = config::kDefaultConfigPath;
  std::optional<std::string> state_dir;
  bool json = false;
  bool now = false;    // stop --now
  bool print = false;  // check-config --print
  std::string reason;  // drain/maint --reason
  std::string log_level = "info";
  int ready_fd = -1;   // rsagentd started by `start`: where it reports its outcome
  int presence_fd = -1;  // rsagentd started by `start`: the presence it claimed (presence.hpp)
};

// Prints every error of a refused config and what to do; returns exit 6.
int print_config_errors(const config::LoadResult& r);

// `run` in the CLI: becomes the daemon binary rsagentd (exec, same pid, so
// systemd's ExecStart=rsagent run tracks it). Returns only on failure.
[[nodiscard]] int cmd_run(const CommandOptions& opts);
// rsagentd: beside the running rsagent, as packages install both in sbin.
[[nodiscard]] std::string daemon_binary();
// Replaces this process with rsagentd running `opts`; returns only on failure.
[[nodiscard]] int exec_daemon(const CommandOptions& opts);
// When systemd is PID 1, the unit is installed and the default files are
// used, start/stop/status hand over to systemctl (so systemd tracks the
// daemon); nullopt means act directly.
[[nodiscard]] std::optional<int> via_systemctl(const CommandOptions& opts, const std::string& verb);
[[nodiscard]] int cmd_start(const CommandOptions& opts);
[[nodiscard]] int cmd_stop(const CommandOptions& opts);
[[nodiscard]] int cmd_status(const CommandOptions& opts);
[[nodiscard]] int cmd_plan(const CommandOptions& opts);
[[nodiscard]] int cmd_check_config(const CommandOptions& opts);
// drain, maint, ready: through the control socket, or recorded for the next
// start when no daemon runs.
[[nodiscard]] int cmd_operator(const CommandOptions& opts, const std::string& cmd);
// reload: re-read the config in the running daemon; returns once applied (or
// refused: exit 6 with the errors). restart: replace the daemon with the
// binary now on disk, keeping every VIP, route and sysctl in place.
[[nodiscard]] int cmd_reload(const CommandOptions& opts);
// only_if_running: a package upgrade must not start a daemon that was stopped.
[[nodiscard]] int cmd_restart(const CommandOptions& opts, bool only_if_running);

}  // namespace rsagent::cli
