// ARP and IPv6 neighbour-discovery frames as the ARP guard sees and
// sends them. Owns: building the probes (an ARP request "who has VIP", an
// IPv6 neighbour solicitation), parsing Ethernet frames from a packet
// socket, and the two decisions made on a parsed frame: is an outgoing
// frame a leak (this node speaking for a VIP), and is an incoming one a
// VIP's responder. Pure functions of bytes; no threads, no I/O. Bytes from
// the wire are untrusted: parse_frame() checks every length and returns
// std::nullopt for anything it does not fully understand; nothing throws.
#pragma once

#include "rsagent/util/ip.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <initializer_list>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace rsagent::arp_guard {


enum class FrameKind : std::uint8_t {
  kArpRequest,
  kArpReply,
  kGratuitousArp,  // sender address == target address, request or reply form
  kNeighborAdvert,
};
[[nodiscard]] const char* kind_name(FrameKind k);  // "ARP reply", "gratuitous ARP", ...

struct Frame {
  FrameKind kind = FrameKind::kArpRequest;
  Mac eth_src{};
  Mac eth_dst{};
  // ARP: the sender's MAC and IPv4 address. ND: the link-layer option's
  // MAC (the Ethernet source when there is none) and the IPv6 source.
  Mac sender_mac{};
  IpAddress sender_ip;
  // ARP: the target address. ND: the target address of the NS or NA.
  IpAddress target_ip;
};

// Ethernet II with ARP (Ethernet/IPv4 only) or IPv6 + ICMPv6 NS/NA (no
// extension headers, hop limit 255 as RFC 4861 requires). One 802.1Q tag
// is skipped. Anything else, or anything truncated: std::nullopt.
[[nodiscard]] std::optional<Frame> parse_frame(std::span<const std::uint8_t> bytes);

// The VIPs as the ARP guard matches them: single addresses, and route-mode
// ranges (a local route for a whole prefix makes every address in it local,
// so each one can leak).
class VipSet {
 public:
  VipSet() = default;
  VipSet(std::set<IpAddress> singles) : singles_(std::move(singles)) {}  // NOLINT: a set of VIPs is one
  VipSet(std::initializer_list<IpAddress> singles) : singles_(singles) {}
  void add_range(const IpAddress& network, int prefix) { ranges_.push_back({network, prefix}); }
  // 1 when `a` is a VIP or inside a range, as std::set::count.
  [[nodiscard]] std::size_t count(const IpAddress& a) const;

 private:
  struct Range {
    IpAddress network;
    int prefix = 0;
  };
  std::set<IpAddress> singles_;
  std::vector<Range> ranges_;
};

// A frame this node sent that speaks for a VIP: ARP with a VIP as sender
// address, or a neighbour advertisement for a VIP.
struct Leak {
  IpAddress vip;
  FrameKind kind;
};
[[nodiscard]] std::optional<Leak> classify_outgoing(const Frame& f, const VipSet& vips);

// A frame received that answers "who has vip": an ARP reply from the VIP
// or a neighbour advertisement for it. Returns the responder's MAC.
[[nodiscard]] std::optional<Mac> responder_of(const Frame& f, const IpAddress& vip);

// "who has VIP, tell sender_ip": broadcast, from the interface's own MAC and
// IPv4 address (never a VIP: that is the leak the ARP guard looks for).
[[nodiscard]] std::vector<std::uint8_t> build_arp_request(const Mac& src_mac, const IpAddress& sender_ip,
                                                          const IpAddress& vip);
// A neighbour solicitation for `vip` to its solicited-node multicast group,
// from `source` (the interface's link-local address), hop limit 255, with a
// source link-layer option and a correct ICMPv6 checksum.
[[nodiscard]] std::vector<std::uint8_t> build_neighbor_solicit(const Mac& src_mac, const IpAddress& source,
                                                               const IpAddress& vip);

// The ICMPv6 checksum of `icmp` (its checksum field taken as zero) between
// src and dst (RFC 4443 2.3, pseudo-header of RFC 8200 8.1).
[[nodiscard]] std::uint16_t icmpv6_checksum(const IpAddress& src, const IpAddress& dst,
                                            std::span<const std::uint8_t> icmp);

}  // namespace rsagent::arp_guard
