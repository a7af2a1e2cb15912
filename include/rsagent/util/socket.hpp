// Socket helpers shared by every listener (the health endpoint, the
// agent-check, the TCP gate). No threads; errors as Result with errno and
// the config key that names the address.
#pragma once

#include "rsagent/util/ip.hpp"
#include "rsagent/util/fd.hpp"
#include "rsagent/util/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <sys/socket.h>

namespace rsagent {

inline constexpr int kListenBacklog = 1024;  // Debian's cpp-httplib hard-codes 5

// A non-blocking listening TCP socket on address:port (backlog
// kListenBacklog, SO_REUSEADDR only, IPv6 sockets v6-only); `what` names
// the config key in errors, with the fix.
[[nodiscard]] Result<UniqueFd> listen_tcp(const IpAddress& address, std::uint16_t port,
                                          const std::string& what);

// The peer's address of an accepted connection, as accept4() or
// getpeername() filled `ss`; nullopt for a family other than IPv4 and IPv6.
// An IPv4 client of a [::] listener stays ::ffff:a.b.c.d (Cidr matches it
// against IPv4 networks too).
[[nodiscard]] std::optional<IpAddress> peer_address(const sockaddr_storage& ss);

}  // namespace rsagent
