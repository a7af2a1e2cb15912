// Established TCP connections to the VIPs, read with NETLINK_SOCK_DIAG (the
// interface behind `ss`), for the graceful stop's drain wait. No threads of
// its own; each call opens, dumps and closes. Errors: Result with errno.
#pragma once

#include "rsagent/util/ip.hpp"
#include "rsagent/util/result.hpp"

#include <vector>

namespace rsagent::net {

[[nodiscard]] Result<std::size_t> count_established(const std::vector<IpAddress>& locals);

}  // namespace rsagent::net
