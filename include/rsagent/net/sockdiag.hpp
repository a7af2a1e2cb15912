// Established TCP connections to the VIPs, read with NETLINK_SOCK_DIAG (the
// interface behind `ss`), for the drain's confirmation (`drain --wait`, the
// graceful stop). No threads of its own; each call opens, dumps and closes,
// so any thread may call it. Errors: Result with errno.
#pragma once

#include "rsagent/util/ip.hpp"
#include "rsagent/util/result.hpp"

#include <vector>

namespace rsagent::net {

// A VIP (the family's host prefix) or a route-mode range.
struct LocalPrefix {
  IpAddress network;
  int prefix = 32;
  [[nodiscard]] bool contains(const IpAddress& a) const;
  bool operator==(const LocalPrefix&) const = default;
};

[[nodiscard]] Result<std::size_t> count_established(const std::vector<IpAddress>& locals);
// Connections whose local address is in any of `locals`: a VIP's, or any
// address of a route-mode range (which has no address on an interface).
[[nodiscard]] Result<std::size_t> count_established_in(const std::vector<LocalPrefix>& locals);

}  // namespace rsagent::net
