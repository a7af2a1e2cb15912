// The real Transport for the fleet: cpp-httplib's client, one per etcd
// endpoint, tried in the configured order starting with the last one that
// answered. Linked only into rsagentd (the daemon, and the `fleet`
// command's etcd calls, which `rsagent fleet` runs through rsagentd).
// The TLS files are checked before each call: one that cannot be read is
// named, and a changed one (a renewed certificate) makes the clients anew.
// Threads: one Transport per thread. Errors: the endpoint and what failed
// in words (no answer within the deadline, an untrusted certificate, a
// refused handshake, an unreadable file); nothing throws.
#pragma once

#include "rsagent/fleet/etcd.hpp"

namespace rsagent::fleet {

[[nodiscard]] std::unique_ptr<Transport> make_http_transport(const config::Fleet& f);

}  // namespace rsagent::fleet
