// What the daemon is started with, and the exit codes of both binaries.
// Owns: CommandOptions (parsed by main.cpp, handed by `start` to rsagentd)
// and the exit-code contract the CLI and the daemon share. Plain values; no
// threads, no errors.
#pragma once

#include "rsagent/config/config.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace rsagent::daemon {

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
// Between the daemon and the CLI only (a control reply's code): the drain
// budget has no free slot; `drain --wait` waits in line, a plain drain
// exits kFailure.
inline constexpr int kNoSlot = 76;
}  // namespace exit_code

struct CommandOptions {
  std::string config = config::kDefaultConfigPath;
  std::optional<std::string> state_dir;
  bool json = false;
  bool now = false;    // stop --now
  bool print = false;  // check-config --print
  bool watch = false;  // fleet --watch
  std::string reason;  // drain/maint --reason
  bool force = false;  // drain/maint --force: without the drain budget's consent
  // drain/maint --wait: confirm the drain (drain/confirm.hpp) before returning.
  bool wait = false;
  std::chrono::milliseconds wait_timeout{std::chrono::minutes(10)};  // --timeout
  std::chrono::milliseconds wait_quiet{std::chrono::seconds(5)};     // --quiet
  std::size_t wait_connections = 0;                                  // --connections
  std::string log_level = "info";
  int ready_fd = -1;   // rsagentd started by `start`: where it reports its outcome
  int presence_fd = -1;  // rsagentd started by `start`: the presence it claimed (presence.hpp)
};

}  // namespace rsagent::daemon
