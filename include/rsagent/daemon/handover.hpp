// The hand-over between configurations and processes: what a reload may
// change in place, and the re-exec that restarts the daemon without a gap
// (same pid, VIPs, routes and sysctls left in place for the new image).
// Threads: the main thread. Errors: exec_self returns only on failure,
// with an exit code, after logging why.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/cli/commands.hpp"

#include <string>

namespace rsagent::daemon {

struct ReloadPlan {
  config::Config next;   // what the daemon runs after the reload
  std::string note;      // "; ..." for the reply: what waits for a restart
  bool checks_changed = false;  // the monitor must restart with next's checks
};

// Pure. Listeners (health.listen, agent_check, tcp_gate) and who may reach
// them are bound at start: a reload keeps the running ones and says so in
// the note; checks and everything of the network change.
[[nodiscard]] ReloadPlan plan_reload(const config::Config& running, config::Config next);

// Replaces this process with `self_exe` running the same daemon (`run`),
// with every signal unblocked; descriptors close on exec (CLOEXEC), so the
// new image takes the lock again and adopts the journal with an empty plan.
[[nodiscard]] int exec_self(const std::string& self_exe, const CommandOptions& opts);

}  // namespace rsagent::daemon
