#include "rsagent/util/ip.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace rsagent {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  // inet_pton reads up to a NUL: "198.51.100.1\0junk" (a JSON "\u0000") is not an address.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = Family::kV4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = Family::kV6;
    return a;
  }
  return std::nullopt;
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::kV4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

bool IpAddress::is_loopback() const {
  if (family == Family::kV4) return bytes[0] == 127;
  static constexpr std::array<std::uint8_t, 16> kLoop6{0, 0, 0, 0, 0, 0, 0, 0,
                                                        0, 0, 0, 0, 0, 0, 0, 1};
  return bytes == kLoop6;
}

IpAddress IpAddress::with_host_bits(int prefix, bool set) const {
  IpAddress a = *this;
  for (int i = std::max(prefix, 0); i < max_prefix(); ++i) {
    const auto mask = static_cast<std::uint8_t>(0x80U >> (i % 8));
    auto& byte = a.bytes[static_cast<std::size_t>(i / 8)];
    byte = set ? static_cast<std::uint8_t>(byte | mask) : static_cast<std::uint8_t>(byte & ~mask);
  }
  return a;
}

std::string IpAddress::unusable_as_vip() const {
  const auto& b = bytes;
  if (family == Family::kV4) {
    if (b[0] == 0) return "is in 0.0.0.0/8 (unspecified, \"this network\")";
    if (b[0] == 127) return "is a loopback address";
    if (b[0] == 169 && b[1] == 254) return "is link-local (169.254.0.0/16)";
    if (b[0] >= 224 && b[0] <= 239) return "is multicast";
    if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255)
      return "is the limited broadcast address";
    if (b[0] >= 240) return "is in the reserved range 240.0.0.0/4";
    return {};
  }
  bool all_zero = true;
  for (int i = 0; i < 15; ++i) all_zero = all_zero && b[i] == 0;
  if (all_zero && b[15] == 0) return "is the unspecified address";
  if (all_zero && b[15] == 1) return "is a loopback address";
  if (b[0] == 0xff) return "is multicast";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "is link-local (fe80::/10)";
  bool mapped = b[10] == 0xff && b[11] == 0xff;
  for (int i = 0; i < 10; ++i) mapped = mapped && b[i] == 0;
  if (mapped) return "is an IPv4-mapped address; write the IPv4 address instead";
  return {};
}

std::string Cidr::str() const { return network.str() + "/" + std::to_string(prefix); }

std::optional<Cidr> parse_cidr(const std::string& text) {
  const auto slash = text.find('/');
  auto a = IpAddress::parse(text.substr(0, slash));
  if (!a) return std::nullopt;
  int prefix = a->max_prefix();
  if (slash != std::string::npos) {
    const std::string p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    prefix = std::stoi(p);
    if (prefix > a->max_prefix()) return std::nullopt;
  }
  return Cidr{*a, prefix};
}

bool Cidr::contains(const IpAddress& a) const {
  IpAddress x = a;
  // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
  if (network.family == Family::kV4 && a.family == Family::kV6) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!std::equal(kMapped, kMapped + 12, a.bytes.begin())) return false;
    x = IpAddress{};
    std::copy(a.bytes.begin() + 12, a.bytes.end(), x.bytes.begin());
  }
  if (x.family != network.family) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    const int byte = bit / 8;
    const int mask = 0x80 >> (bit % 8);
    if ((x.bytes[byte] & mask) != (network.bytes[byte] & mask)) return false;
  }
  return true;
}

bool valid_interface_name(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
           c == '\v' || c == '\f' || c == '\0';
  });
}

std::string mac_str(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

}  // namespace rsagent
