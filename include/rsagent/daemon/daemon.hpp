// The daemon itself, rsagentd's whole life: start-up in order (config,
// lock, listeners bound before any change, converge, threads, ready), the
// main loop's dispatch, the tick, and the way out (drain and revert,
// re-exec, or hand-over to systemd's next process). Its parts are beside
// it: event_loop, network_keeper, control_desk, handover, state_keeper,
// start_report (agent/README.md maps them). Threads: the main thread owns
// the netlink socket; the monitor, HTTP, agent-check and control threads
// only touch the Board and the event loop's wake-up. Errors: reported
// through the readiness pipe (start) or the log (run), as an exit code.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/daemon/options.hpp"
#include "rsagent/checks/prober.hpp"
#include "rsagent/fleet/etcd.hpp"
#include "rsagent/verdict/state.hpp"
#include "rsagent/net/model.hpp"

namespace rsagent::daemon {

inline constexpr const char* kNeedPrivilege =
    "needs root or CAP_NET_ADMIN: it changes addresses and routes on lo and "
    "/proc/sys/net; run it as root (sudo)";

// The daemon binary's (rsagentd's) whole life. opts.ready_fd: the `start`
// parent's pipe, or -1 in the foreground. http_probe: the http check, and
// fleet_transport: the fleet's etcd client, which only rsagentd links.
[[nodiscard]] int run_daemon(const CommandOptions& opts, checks::HttpProbe http_probe,
                             fleet::TransportFactory fleet_transport);

}  // namespace rsagent::daemon
