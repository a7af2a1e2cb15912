// The daemon itself: start-up (config, lock, listeners bound before any
// change, converge), the main loop (signals, a 1 s tick that re-observes the
// network for the health verdict, control requests), graceful stop and
// revert. Threads: the main thread owns the netlink socket (Agent); the
// monitor, HTTP, agent-check and control threads only touch the Board and
// an eventfd. Errors: reported through the readiness pipe (start) or
// stderr (run), as an exit code.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/daemon/commands.hpp"
#include "rsagent/health/prober.hpp"
#include "rsagent/health/state.hpp"
#include "rsagent/net/model.hpp"

namespace rsagent::daemon {

inline constexpr const char* kNeedPrivilege =
    "needs root or CAP_NET_ADMIN: it changes addresses and routes on lo and "
    "/proc/sys/net; run it as root (sudo)";

// The daemon binary's (rsagentd's) whole life. opts.ready_fd: the `start`
// parent's pipe, or -1 in the foreground. http_probe: the http check, which
// only rsagentd links.
[[nodiscard]] int run_daemon(const CommandOptions& opts, health::HttpProbe http_probe);

}  // namespace rsagent::daemon
