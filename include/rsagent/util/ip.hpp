// IP address value type shared by config, planning and the kernel edge.
// Owns: parsing and printing of IPv4/IPv6 addresses and their classification
// (loopback, multicast, ...). Pure values, no threads, no I/O; parse() returns
// std::nullopt on malformed text.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rsagent::net {

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

}  // namespace rsagent::net
