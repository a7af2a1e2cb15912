// The real Transport for the fleet: cpp-httplib's client, one per etcd
// endpoint, tried in the configured order starting with the last one that
// answered. Linked only into rsagentd (the daemon, and the `fleet`
// command's etcd calls, which `rsagent fleet` runs through rsagentd).
// Threads: one Transport per thread. Errors: the endpoint and httplib's
// error name; nothing throws.
#pragma once

#include "rsagent/fleet/etcd.hpp"

namespace rsagent::fleet {

[[nodiscard]] std::unique_ptr<Transport> make_http_transport(const config::Fleet& f);

}  // namespace rsagent::fleet
