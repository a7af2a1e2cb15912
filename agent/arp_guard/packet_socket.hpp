// Internal to arp_guard: the kernel side of the ARP guard. Owns: packet
// sockets (AF_PACKET, SOCK_RAW, one per interface, with the BPF filter that
// passes only ARP and ICMPv6 neighbour advertisements); the interfaces to
// watch come from util/interfaces. Results for everything that calls the kernel; no
// threads of its own.
#pragma once

#include "rsagent/arp_guard/frames.hpp"
#include "rsagent/util/fd.hpp"
#include "rsagent/util/interfaces.hpp"
#include "rsagent/util/result.hpp"

#include <cstdint>
#include <linux/filter.h>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rsagent::arp_guard::detail {

// A packet socket on one interface, non-blocking, filtered, seeing this
// node's own outgoing frames too (PACKET_OUTGOING).
[[nodiscard]] Result<UniqueFd> open_packet_socket(int ifindex);

struct Received {
  std::size_t size = 0;
  bool outgoing = false;  // sent by this node
};
// One frame into buf, or nullopt when none is waiting (or on an error).
[[nodiscard]] std::optional<Received> receive(int fd, std::span<std::uint8_t> buf);

[[nodiscard]] Status send_frame(int fd, int ifindex, std::span<const std::uint8_t> frame);

// The kernel's IPv4 neighbour table (/proc/net/arp): the IP a MAC has on an
// interface, to name the host behind a responder. Empty when unknown.
[[nodiscard]] std::string neighbour_ip(const std::string& interface, const Mac& mac);

}  // namespace rsagent::arp_guard::detail
