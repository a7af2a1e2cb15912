// Address vocabulary every floor uses (config, net, util's sockets, the
// endpoint): IP addresses, address ranges (Cidr) and interface names.
// Owns: parsing and printing of IPv4/IPv6 addresses and ranges and their
// classification (loopback, multicast, ...). Pure values, no threads, no I/O; parse() returns
// std::nullopt on malformed text.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rsagent {

enum class Family : std::uint8_t { kV4, kV6 };

struct IpAddress {
  Family family = Family::kV4;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4 bytes, rest zero

  static std::optional<IpAddress> parse(std::string_view text);
  [[nodiscard]] std::string str() const;  // canonical form (RFC 5952 for v6)
  [[nodiscard]] int max_prefix() const { return family == Family::kV4 ? 32 : 128; }
  [[nodiscard]] std::size_t size() const { return family == Family::kV4 ? 4 : 16; }

  // Why an address can't be a VIP, or empty when it can: a VIP must be a
  // routable unicast host address.
  [[nodiscard]] std::string unusable_as_vip() const;
  [[nodiscard]] bool is_loopback() const;
  // This address with every bit after the first `prefix` cleared (the
  // network of a range) or set (its last address).
  [[nodiscard]] IpAddress with_host_bits(int prefix, bool set) const;

  auto operator<=>(const IpAddress&) const = default;
  bool operator==(const IpAddress&) const = default;
};

// An address range: a network and its prefix length.
struct Cidr {
  IpAddress network;
  int prefix = 0;
  [[nodiscard]] bool contains(const IpAddress& a) const;
  [[nodiscard]] std::string str() const;  // "198.51.100.0/24"
  bool operator==(const Cidr&) const = default;
};

[[nodiscard]] std::optional<Cidr> parse_cidr(const std::string& text);

// An Ethernet (link-layer) address.
using Mac = std::array<std::uint8_t, 6>;
[[nodiscard]] std::string mac_str(const Mac& m);  // "02:00:5e:10:00:01"

// Linux's rules for an interface name (dev_valid_name): 1-15 bytes, not
// "." or "..", no '/', ':', whitespace or NUL. "all" and "default", the
// sysctl pseudo-interfaces, pass. Also what keeps SysctlKey::path() inside
// net/ipv4/conf/.
[[nodiscard]] bool valid_interface_name(std::string_view name);

}  // namespace rsagent
