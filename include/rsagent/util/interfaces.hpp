// The host's Ethernet interfaces, as the ARP guard and the flow
// attribution watch them, and whether this process may open packet sockets.
// Owns: nothing but the getifaddrs() scan. Any thread; Results for what
// calls the kernel.
#pragma once

#include "rsagent/util/ip.hpp"
#include "rsagent/util/result.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rsagent::ifaces {

struct Interface {
  int ifindex = 0;
  std::string name;
  Mac mac{};
  struct V4 {
    IpAddress address;
    int prefix = 0;
  };
  std::vector<V4> v4;
  std::optional<IpAddress> link_local;  // fe80::/10, the NS source
  bool operator==(const Interface& o) const {
    return ifindex == o.ifindex && name == o.name && mac == o.mac;
  }
};

// Up, not loopback, Ethernet (ARP exists only there), from getifaddrs().
[[nodiscard]] Result<std::vector<Interface>> scan_interfaces();

// Whether this process may open packet sockets at all (CAP_NET_RAW, and
// AF_PACKET not refused by a seccomp filter such as RestrictAddressFamilies=).
[[nodiscard]] Status can_open_packet_socket();

}  // namespace rsagent::ifaces
