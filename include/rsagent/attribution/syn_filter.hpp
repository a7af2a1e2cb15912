// What the flow attribution counts: new connections (TCP SYN without ACK)
// to the VIPs and route-mode ranges, as a director forwards them: the frame
// as it is (direct routing), or an IPv4 packet in IPIP (tunnel mode: LVS-TUN,
// Katran, GLB), whose sender is the outer source address. Owns: the targets made from the config,
// the classic BPF program a packet socket runs in the kernel (per family,
// so that every other frame stays there), and the parse of a frame the
// filter passed (who sent it, to which target). Pure: no I/O, no threads;
// a frame that is not a SYN to a target parses to nullopt.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/util/ip.hpp"

#include <linux/filter.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace rsagent::attribution {

using Mac = std::array<std::uint8_t, 6>;
[[nodiscard]] std::string mac_text(const Mac& m);  // "02:00:5e:10:00:01"

struct Target {
  IpAddress network;  // host bits clear
  int prefix = 32;
  std::string name;  // "198.51.100.100", "198.51.100.0/24"
  bool operator==(const Target&) const = default;
};
[[nodiscard]] std::vector<Target> targets_of(const std::vector<config::Vip>& vips);

// Bytes of a frame the kernel hands over: Ethernet, the IP header and the
// TCP flags of an IPv6 SYN (14 + 40 + 14); also an IPIP frame's two IPv4
// headers (with 28 bytes of options between them). IPv4 options cost
// nothing in the filter.
inline constexpr std::uint32_t kSnapLen = 96;

struct Filter {
  std::vector<sock_filter> code;
  // false: the targets did not fit the kernel's instruction limit, so the
  // program passes every SYN of the family and parse_syn() matches them.
  bool exact = true;
};
// For a packet socket bound to ETH_P_IP (kV4) or ETH_P_IPV6 (kV6): passes
// kSnapLen bytes of a TCP SYN without ACK whose destination is in a target
// of that family, drops everything else. IPv4 also passes an IPIP packet
// (protocol 4) whose inner IPv4 packet is such a SYN. An IPv4 fragment past
// the first (outer or inner) and IPv6 with extension headers before TCP are
// dropped (a SYN carries neither). With no target of the family, it drops
// everything.
[[nodiscard]] Filter syn_filter(const std::vector<Target>& targets, Family family,
                                std::size_t max_instructions = BPF_MAXINSNS);

// For one packet socket bound to ETH_P_ALL: the ethertype chooses the IPv4
// or the IPv6 program above. If both exact ones together pass the limit,
// the larger family (then both) falls back to passing every SYN.
[[nodiscard]] Filter syn_filter_any(const std::vector<Target>& targets,
                                    std::size_t max_instructions = BPF_MAXINSNS);

// Matches addresses to targets: the single addresses by lookup, the ranges
// (a handful) in turn, longest prefix first.
class TargetSet {
 public:
  TargetSet() = default;
  explicit TargetSet(std::vector<Target> targets);
  [[nodiscard]] const Target* match(const IpAddress& a) const;
  [[nodiscard]] const std::vector<Target>& all() const { return targets_; }
  [[nodiscard]] bool has(Family f) const;

 private:
  std::vector<Target> targets_;
  std::vector<std::pair<IpAddress, std::size_t>> singles_;  // sorted
  std::vector<std::size_t> ranges_;                              // longest prefix first
};

struct Syn {
  Mac source{};  // the Ethernet source
  // Set for a SYN that came in IPIP: the outer source, the director that
  // encapsulated it (the Ethernet source is then only the last router's).
  std::optional<IpAddress> outer_source;
  const Target* target = nullptr;
};
// A frame from Ethernet on: a TCP SYN without ACK to a target, directly or
// in IPIP, or nullopt.
[[nodiscard]] std::optional<Syn> parse_syn(std::span<const std::uint8_t> frame, const TargetSet& targets);

}  // namespace rsagent::attribution
