#include "rsagent/arp_guard/frames.hpp"

#include <cstdio>

namespace rsagent::arp_guard {

namespace {

constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr std::size_t kEthHeader = 14;
constexpr std::size_t kArpBody = 28;    // Ethernet/IPv4 ARP
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kNdBody = 24;     // type, code, checksum, flags/reserved, target
constexpr std::uint8_t kIcmpv6 = 58;
constexpr std::uint8_t kNs = 135;
constexpr std::uint8_t kNa = 136;
constexpr std::uint8_t kOptSourceLla = 1;
constexpr std::uint8_t kOptTargetLla = 2;

std::uint16_t be16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

template <typename Range>
void append(std::vector<std::uint8_t>& out, const Range& r) {
  out.insert(out.end(), r.begin(), r.end());
}

Mac mac_at(std::span<const std::uint8_t> b, std::size_t at) {
  Mac m{};
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = b[at + i];
  return m;
}

IpAddress v4_at(std::span<const std::uint8_t> b, std::size_t at) {
  IpAddress a;
  a.family = Family::kV4;
  for (std::size_t i = 0; i < 4; ++i) a.bytes[i] = b[at + i];
  return a;
}

IpAddress v6_at(std::span<const std::uint8_t> b, std::size_t at) {
  IpAddress a;
  a.family = Family::kV6;
  for (std::size_t i = 0; i < 16; ++i) a.bytes[i] = b[at + i];
  return a;
}

std::span<const std::uint8_t> v6_bytes(const IpAddress& a) { return {a.bytes.data(), 16}; }

std::optional<Frame> parse_arp(std::span<const std::uint8_t> p, Frame f) {
  if (p.size() < kArpBody) return std::nullopt;
  // Ethernet hardware, IPv4 protocol, 6- and 4-byte addresses: nothing else is ARP for a VIP.
  if (be16(p, 0) != 1 || be16(p, 2) != 0x0800 || p[4] != 6 || p[5] != 4) return std::nullopt;
  const std::uint16_t op = be16(p, 6);
  if (op != 1 && op != 2) return std::nullopt;
  f.sender_mac = mac_at(p, 8);
  f.sender_ip = v4_at(p, 14);
  f.target_ip = v4_at(p, 24);
  if (f.sender_ip == f.target_ip) {
    f.kind = FrameKind::kGratuitousArp;
  } else {
    f.kind = op == 1 ? FrameKind::kArpRequest : FrameKind::kArpReply;
  }
  return f;
}

std::optional<Frame> parse_nd(std::span<const std::uint8_t> p, Frame f) {
  if (p.size() < kIpv6Header || (p[0] >> 4) != 6) return std::nullopt;
  // A router or host forwarding ND would lower the hop limit: RFC 4861
  // makes receivers drop anything but 255, and so does this parser.
  if (p[6] != kIcmpv6 || p[7] != 255) return std::nullopt;
  const std::size_t payload = be16(p, 4);
  if (payload > p.size() - kIpv6Header) return std::nullopt;
  const auto icmp = p.subspan(kIpv6Header, payload);
  if (icmp.size() < kNdBody || icmp[1] != 0) return std::nullopt;
  // Only advertisements: solicitations never pass the socket's filter.
  if (icmp[0] != kNa) return std::nullopt;
  // The checksum is not verified: an outgoing frame seen on a packet socket
  // may still carry one the NIC is to finish.
  f.kind = FrameKind::kNeighborAdvert;
  f.sender_ip = v6_at(p, 8);
  f.target_ip = v6_at(icmp, 8);
  f.sender_mac = f.eth_src;
  for (std::size_t at = kNdBody; at + 2 <= icmp.size();) {
    const std::size_t len = static_cast<std::size_t>(icmp[at + 1]) * 8;
    if (len == 0 || len > icmp.size() - at) return std::nullopt;  // RFC 4861 4.6: length 0 is invalid
    if (icmp[at] == kOptTargetLla && len >= 8) f.sender_mac = mac_at(icmp, at + 2);
    at += len;
  }
  return f;
}

}  // namespace

const char* kind_name(FrameKind k) {
  switch (k) {
    case FrameKind::kArpRequest: return "ARP request";
    case FrameKind::kArpReply: return "ARP reply";
    case FrameKind::kGratuitousArp: return "gratuitous ARP";
    case FrameKind::kNeighborAdvert: return "neighbour advertisement";
  }
  return "?";
}

std::optional<Frame> parse_frame(std::span<const std::uint8_t> b) {
  if (b.size() < kEthHeader) return std::nullopt;
  Frame f;
  f.eth_dst = mac_at(b, 0);
  f.eth_src = mac_at(b, 6);
  // No VLAN tag to skip: packet sockets get frames with the tag taken off
  // (it is in the auxdata), and the filter passes nothing else.
  const std::uint16_t type = be16(b, 12);
  const auto payload = b.subspan(kEthHeader);
  if (type == kEtherArp) return parse_arp(payload, f);
  if (type == kEtherIpv6) return parse_nd(payload, f);
  return std::nullopt;
}

std::size_t VipSet::count(const IpAddress& a) const {
  if (singles_.count(a)) return 1;
  for (const auto& r : ranges_)
    if (a.family == r.network.family && a.with_host_bits(r.prefix, false) == r.network) return 1;
  return 0;
}

std::optional<Leak> classify_outgoing(const Frame& f, const VipSet& vips) {
  switch (f.kind) {
    case FrameKind::kArpRequest:
    case FrameKind::kArpReply:
    case FrameKind::kGratuitousArp:
      // Whatever the operation, a VIP as sender address teaches every
      // listener "VIP is at this node's MAC".
      if (vips.count(f.sender_ip)) return Leak{f.sender_ip, f.kind};
      return std::nullopt;
    case FrameKind::kNeighborAdvert:
      if (vips.count(f.target_ip)) return Leak{f.target_ip, f.kind};
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<Mac> responder_of(const Frame& f, const IpAddress& vip) {
  if (f.kind == FrameKind::kArpReply && f.sender_ip == vip) return f.sender_mac;
  // A gratuitous reply for the VIP answers the question too.
  if (f.kind == FrameKind::kGratuitousArp && f.sender_ip == vip) return f.sender_mac;
  if (f.kind == FrameKind::kNeighborAdvert && f.target_ip == vip) return f.sender_mac;
  return std::nullopt;
}

std::vector<std::uint8_t> build_arp_request(const Mac& src_mac, const IpAddress& sender_ip,
                                            const IpAddress& vip) {
  std::vector<std::uint8_t> out;
  out.reserve(kEthHeader + kArpBody);
  const Mac broadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  append(out, broadcast);
  append(out, src_mac);
  put16(out, kEtherArp);
  put16(out, 1);       // Ethernet
  put16(out, 0x0800);  // IPv4
  out.push_back(6);
  out.push_back(4);
  put16(out, 1);  // request
  append(out, src_mac);
  out.insert(out.end(), sender_ip.bytes.begin(), sender_ip.bytes.begin() + 4);
  append(out, Mac{});
  out.insert(out.end(), vip.bytes.begin(), vip.bytes.begin() + 4);
  return out;
}

std::uint16_t icmpv6_checksum(const IpAddress& src, const IpAddress& dst,
                              std::span<const std::uint8_t> icmp) {
  std::uint32_t sum = 0;
  const auto add = [&](std::span<const std::uint8_t> b, std::size_t skip_at) {
    for (std::size_t i = 0; i < b.size(); i += 2) {
      if (i == skip_at) continue;
      const std::uint32_t hi = b[i];
      const std::uint32_t lo = i + 1 < b.size() ? b[i + 1] : 0;
      sum += (hi << 8) | lo;
    }
  };
  constexpr std::size_t kNoSkip = ~std::size_t{0};
  add(v6_bytes(src), kNoSkip);
  add(v6_bytes(dst), kNoSkip);
  const auto len = static_cast<std::uint32_t>(icmp.size());
  sum += len >> 16;
  sum += len & 0xffff;
  sum += kIcmpv6;
  add(icmp, 2);  // the checksum field itself counts as zero
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

std::vector<std::uint8_t> build_neighbor_solicit(const Mac& src_mac, const IpAddress& source,
                                                 const IpAddress& vip) {
  // Solicited-node multicast group ff02::1:ffXX:XXXX and its MAC 33:33:ff:XX:XX:XX.
  IpAddress group;
  group.family = Family::kV6;
  group.bytes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, vip.bytes[13], vip.bytes[14], vip.bytes[15]};
  const Mac group_mac{0x33, 0x33, 0xff, vip.bytes[13], vip.bytes[14], vip.bytes[15]};

  std::vector<std::uint8_t> icmp;
  icmp.reserve(kNdBody + 8);
  icmp.push_back(kNs);
  icmp.push_back(0);
  put16(icmp, 0);  // checksum, below
  put16(icmp, 0);  // reserved
  put16(icmp, 0);
  append(icmp, v6_bytes(vip));
  icmp.push_back(kOptSourceLla);
  icmp.push_back(1);  // 8 bytes
  append(icmp, src_mac);
  const std::uint16_t sum = icmpv6_checksum(source, group, icmp);
  icmp[2] = static_cast<std::uint8_t>(sum >> 8);
  icmp[3] = static_cast<std::uint8_t>(sum & 0xff);

  std::vector<std::uint8_t> out;
  out.reserve(kEthHeader + kIpv6Header + icmp.size());
  append(out, group_mac);
  append(out, src_mac);
  put16(out, kEtherIpv6);
  out.push_back(0x60);  // version 6, traffic class 0, flow label 0
  out.push_back(0);
  put16(out, 0);
  put16(out, static_cast<std::uint16_t>(icmp.size()));
  out.push_back(kIcmpv6);
  out.push_back(255);  // RFC 4861: receivers drop ND with any other hop limit
  append(out, v6_bytes(source));
  append(out, v6_bytes(group));
  append(out, icmp);
  return out;
}

}  // namespace rsagent::arp_guard
