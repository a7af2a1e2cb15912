// libFuzzer target: the ARP guard's frame parser, which reads bytes
// straight from the wire (any host on the segment chooses them). Nothing
// may read out of bounds or throw; what parses is classified without
// trouble, and a parsed ARP frame's addresses survive a rebuild and a parse.
#include "fuzz_support.hpp"
#include "rsagent/arp_guard/frames.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

using namespace rsagent;
using namespace rsagent::arp_guard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto f = parse_frame(std::span<const std::uint8_t>(data, size));
  if (!f) return 0;
  const std::set<IpAddress> vips{f->sender_ip, f->target_ip};
  const auto leak = classify_outgoing(*f, vips);
  FUZZ_CHECK(!leak || vips.count(leak->vip), "a leak names an address that is not a VIP");
  (void)responder_of(*f, f->sender_ip);
  (void)responder_of(*f, f->target_ip);
  (void)kind_name(f->kind);
  (void)mac_str(f->sender_mac);
  if (f->sender_ip.family == Family::kV4) {
    const auto again = parse_frame(build_arp_request(f->sender_mac, f->sender_ip, f->target_ip));
    FUZZ_CHECK(again && again->sender_ip == f->sender_ip && again->target_ip == f->target_ip &&
                   again->sender_mac == f->sender_mac,
               "an ARP request built from a parsed frame does not parse back the same");
  } else {
    const auto again = parse_frame(build_neighbor_solicit(f->eth_src, f->sender_ip, f->target_ip));
    FUZZ_CHECK(again && again->kind == FrameKind::kNeighborSolicit && again->target_ip == f->target_ip,
               "a neighbour solicitation built from a parsed frame does not parse back");
  }
  return 0;
}
