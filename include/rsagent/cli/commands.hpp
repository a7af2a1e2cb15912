// The CLI commands behind agent/main.cpp, one file each by job:
// cmd_start.cpp (run, start), cmd_stop.cpp (stop), cmd_control.cpp (reload,
// restart, drain/maint/ready), cmd_drain_wait.cpp (drain/maint --wait),
// cmd_inspect.cpp (status, plan, check-config), cmd_fleet.cpp (fleet),
// cli_common.cpp (config errors, the hand-over to systemctl), table.cpp (the
// one table of commands that drives dispatch and usage). Owns: starting and
// stopping the daemon from a shell (readiness pipe, presence, pidfile).
// Threads: one; a command runs to completion. Errors: printed to
// stderr with what to do, and turned into an exit code; nothing throws.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/daemon/options.hpp"
#include "rsagent/fleet/etcd.hpp"
#include "rsagent/util/log.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace rsagent::cli {

// The daemon's options and exit codes are the CLI's too.
using daemon::CommandOptions;
namespace exit_code = daemon::exit_code;

// How long stop and restart wait for the daemon (beyond a configured drain).
inline constexpr auto kStopTimeout = std::chrono::seconds(60);

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
// drain --wait, maint --wait: set the state, then wait until the directors
// saw it and the traffic stopped (0), the timeout (1, with what is not
// done) or Ctrl-C (130; the node stays drained). Needs the running daemon.
[[nodiscard]] int cmd_operator_wait(const CommandOptions& opts, const std::string& cmd);
// "500ms", "20s", "10m", "1h" (the config's duration words); nullopt otherwise.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration_arg(std::string_view s);
// The shortest of those words for d: "10m", "20s", "1500ms".
[[nodiscard]] std::string duration_text(std::chrono::milliseconds d);
// reload: re-read the config in the running daemon; returns once applied (or
// refused: exit 6 with the errors). restart: replace the daemon with the
// binary now on disk, keeping every VIP, route and sysctl in place.
[[nodiscard]] int cmd_reload(const CommandOptions& opts);
// only_if_running: a package upgrade must not start a daemon that was stopped.
[[nodiscard]] int cmd_restart(const CommandOptions& opts, bool only_if_running);
// `fleet` in the CLI: becomes `rsagentd fleet` (exec), the binary with the
// etcd client. Returns only on failure.
[[nodiscard]] int cmd_fleet(const CommandOptions& opts);
// `rsagentd fleet`: every node's record from etcd, as a table (attention
// first) or JSON; --watch prints again on each change. Needs no daemon.
[[nodiscard]] int fleet_view(const CommandOptions& opts, fleet::TransportFactory transport);

}  // namespace rsagent::cli
