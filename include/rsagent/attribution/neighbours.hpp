// The kernel's neighbour table (IPv4 ARP and IPv6 ND), read to name the
// host behind a MAC. Owns: one short-lived NETLINK_ROUTE socket per dump, of
// its own (never the main thread's libnl socket, which is not
// thread-safe). At most kMaxNeighbours entries are kept per dump (counted
// past that). Threads: whichever calls it. Errors: a Result naming the step.
#pragma once

#include "rsagent/util/result.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace rsagent::attribution {

inline constexpr std::size_t kMaxNeighbours = 4096;

struct Neighbour {
  std::string address;  // as printed by IpAddress
  std::string mac;      // "aa:bb:cc:dd:ee:01"
  int ifindex = 0;
};

struct NeighbourDump {
  std::vector<Neighbour> entries;
  std::size_t dropped = 0;  // past kMaxNeighbours
};

// Every entry with an Ethernet address that is not failed or incomplete.
[[nodiscard]] Result<NeighbourDump> dump_neighbours();

}  // namespace rsagent::attribution
