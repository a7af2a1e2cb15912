// The network model: what rsagent wants (DesiredState), what the kernel has
// (ObservedState), and what rsagent owns (Journal). Plain values with
// defaulted comparison and str(); no threads, no I/O, nothing fails here.
#pragma once

#include "rsagent/util/ip.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rsagent::net {

// Our own route protocol number so `ip route` shows who installed a route
// (packaging/iproute2/rsagent.conf names it "rsagent" for iproute2).
inline constexpr std::uint8_t kRouteProtocol = 244;
inline constexpr std::uint32_t kMainTable = 254;
inline constexpr std::uint32_t kLocalTable = 255;  // RT_TABLE_LOCAL: what is this host's own
// Metric of rsagent's local routes. The kernel's own local route for an
// address has metric 0; another metric lets both exist at once, so a VIP
// moving between address and route mode is never without one, and neither
// delete can take the other's route.
inline constexpr std::uint32_t kLocalRouteMetric = 1024;
inline constexpr std::uint8_t kKernelProtocol = 2;  // RTPROT_KERNEL: made by the kernel itself
inline constexpr const char* kLoopback = "lo";

struct AddressSpec {
  IpAddress address;
  int prefix = 32;    // /32 or /128: a VIP is one host address
  std::string label;  // IPv4 only ("lo:0"); IPv6 addresses get IFA_F_NODAD instead
  // Empty: lo (every VIP). Otherwise the interface by name: the tunnel
  // device's own IPv4 address, which loose rp_filter needs.
  std::string dev;
  [[nodiscard]] const std::string& device() const;  // dev, or "lo"
  [[nodiscard]] std::string str() const;  // "198.51.100.100/32 dev lo label lo:0"
  bool operator==(const AddressSpec&) const = default;
};

// kUnicast: a host route in the main table (address mode). kLocal: a
// `local` route in the local table, which makes every address it covers
// local to this host (route mode, "AnyIP").
enum class RouteType : std::uint8_t { kUnicast, kLocal };

struct RouteSpec {
  IpAddress dst;
  int prefix = 32;
  std::uint32_t table = kMainTable;
  // IPv4 host routes conventionally sit at metric 0; IPv6 userspace routes
  // default to 1024 (the kernel's own prefix route for the address is 256).
  std::uint32_t metric = 0;
  RouteType type = RouteType::kUnicast;
  // "198.51.100.100/32 dev lo proto rsagent",
  // "local 198.51.100.0/24 dev lo table local metric 1024 proto rsagent"
  [[nodiscard]] std::string str() const;
  bool operator==(const RouteSpec&) const = default;
};

struct SysctlKey {
  std::string iface;  // "all", "default", "lo", "eth0.100"
  std::string name;   // "arp_ignore", "arp_announce"
  [[nodiscard]] std::string path() const;  // relative to /proc/sys: net/ipv4/conf/IF/NAME
  [[nodiscard]] std::string str() const;   // sysctl(8) spelling, '.' in IF as '/'
  auto operator<=>(const SysctlKey&) const = default;
};

struct SysctlSetting {
  SysctlKey key;
  int value = 0;
  bool operator==(const SysctlSetting&) const = default;
};

// A decapsulation device (tunnel mode): adopted as it is when a link of
// that name exists, whatever its type; otherwise created with this kind.
struct LinkSpec {
  std::string name;  // "tunl0"
  std::string kind;  // "ipip" or "ip6tnl": what rsagent creates when it is missing
  [[nodiscard]] std::string str() const;  // "tunl0 type ipip"
  bool operator==(const LinkSpec&) const = default;
};

// rsagent's own nftables table: the MSS clamp for SYN-ACKs from a VIP.
inline constexpr const char* kClampTable = "rsagent_tunnel";  // family inet

// Path-MTU discovery does not work back through the tunnel (the director,
// not this host, gets the ICMP), so SYN-ACKs sent from a VIP advertise at
// most `mss`: clients never send a segment that does not fit.
struct ClampSpec {
  int mss = 0;
  std::vector<std::pair<IpAddress, int>> sources;  // each VIP (route mode: its range)
  // The whole table as nft input, replacing any earlier one in one
  // transaction; its comment is tag().
  [[nodiscard]] std::string ruleset() const;
  [[nodiscard]] std::string tag() const;  // "rsagent mss 1440 vips 3 f00dfeed"
  bool operator==(const ClampSpec&) const = default;
};

// Tunnel mode's wishes; the sysctls and the device address are decided
// against the kernel at planning time (plan_tunnel).
struct TunnelWant {
  std::vector<LinkSpec> links;     // the IPv4 device first, then the IPv6 one
  std::string device;              // the IPv4 device (rp_filter, address); empty: none
  std::optional<AddressSpec> address;  // given to `device` when it has no IPv4 address
  std::optional<ClampSpec> clamp;      // the MSS clamp; absent: none
  bool operator==(const TunnelWant&) const = default;
};

struct DesiredState {
  std::vector<SysctlSetting> sysctls;  // applied first: ARP must be tame before a VIP exists
  std::vector<AddressSpec> addresses;
  std::vector<RouteSpec> routes;        // main-table host routes of address-mode VIPs
  std::vector<RouteSpec> local_routes;  // route-mode VIPs
  std::map<IpAddress, std::string> origins;  // VIP -> "FILE:LINE:COL", for refusals
  std::optional<TunnelWant> tunnel;           // tunnel mode; absent: direct routing only
  bool operator==(const DesiredState&) const = default;
};

struct Link {
  int ifindex = 0;
  std::string name;
  bool up = false;
  bool loopback = false;
  bool operator==(const Link&) const = default;
};

struct ObservedAddress {
  IpAddress address;
  int prefix = 0;
  int ifindex = 0;
  std::string label;
  bool operator==(const ObservedAddress&) const = default;
};

struct ObservedRoute {
  IpAddress dst;
  int prefix = 0;
  std::uint32_t table = kMainTable;
  std::uint32_t metric = 0;
  std::uint8_t protocol = 0;
  int oif = 0;  // 0 when the route has no single output interface
  RouteType type = RouteType::kUnicast;
  bool operator==(const ObservedRoute&) const = default;
};

struct ObservedState {
  std::vector<Link> links;
  std::vector<ObservedAddress> addresses;
  std::vector<ObservedRoute> routes;
  std::map<SysctlKey, int> sysctls;  // absent key: the /proc file does not exist
  // `nft list table inet rsagent_tunnel`, when tunnel mode may own it;
  // absent: no such table (or not looked at).
  std::optional<std::string> clamp_listing;

  [[nodiscard]] const Link* link_by_index(int ifindex) const;
  [[nodiscard]] const Link* link_by_name(const std::string& name) const;
  [[nodiscard]] std::string link_name(int ifindex) const;
};

// What rsagent did, recorded before doing it. `created` false means the object
// was there before rsagent (adopted): it is never removed.
struct AddressEntry {
  AddressSpec spec;
  bool created = false;
  bool operator==(const AddressEntry&) const = default;
};
struct RouteEntry {
  RouteSpec spec;
  bool created = false;
  bool operator==(const RouteEntry&) const = default;
};
struct SysctlEntry {
  SysctlKey key;
  int original = 0;  // value before rsagent first wrote it
  int wrote = 0;     // value rsagent wrote; restore only while it is still this
  // The interface's index when rsagent wrote it (0 for "all" and
  // "default"): a renamed interface keeps its index, so the revert follows
  // it to its new name.
  int ifindex = 0;
  bool operator==(const SysctlEntry&) const = default;
};
// A tunnel device: `created` rsagent made it (deleted on revert);
// `raised` rsagent brought an existing one up (taken down on revert).
struct LinkEntry {
  LinkSpec spec;
  bool created = false;
  bool raised = false;
  bool operator==(const LinkEntry&) const = default;
};
// rsagent's nftables table (kClampTable), always rsagent's own: deleted on revert.
struct ClampEntry {
  int mss = 0;
  bool operator==(const ClampEntry&) const = default;
};
using JournalEntry = std::variant<SysctlEntry, AddressEntry, RouteEntry, LinkEntry, ClampEntry>;

struct Journal {
  std::vector<JournalEntry> entries;  // in the order applied; revert walks it backwards
  bool operator==(const Journal&) const = default;
  [[nodiscard]] bool empty() const { return entries.empty(); }
};

}  // namespace rsagent::net
