// Configuration: load, merge conf.d, validate.
// Owns: the Config value and its loading from /etc/rsagent/rsagent.json plus
// conf.d/*.json beside it (lexical order). Files merge setting by setting:
// `vips` and `health.checks` concatenate, any other setting a later file
// names replaces the earlier value, and a setting no file names keeps its
// default (so a drop-in with only `health.checks` keeps the main file's
// `health.allow`). Validation is complete: every error of every file is
// returned, each with FILE:LINE:COL, and no Config is returned when there
// is any error. Every message is printable valid UTF-8 (text::printable):
// the bytes of a broken file show as \xff. No threads; nothing here throws.
#pragma once

#include "rsagent/config/jsonc.hpp"
#include "rsagent/util/ip.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rsagent::config {

inline constexpr const char* kDefaultConfigPath = "/etc/rsagent/rsagent.json";
inline constexpr const char* kDefaultLabel = "lo:0";

// Where a setting was written: "FILE:LINE:COL".
struct Origin {
  std::string file;
  Pos pos;
  [[nodiscard]] std::string str() const;
  bool operator==(const Origin&) const = default;
};

// How a VIP is made local. kAddress: an address on lo (`ip addr` shows
// it, with its label). kRoute: a `local` route in the local table on lo
// ("AnyIP"; `ip route show table local` shows it), which may cover a whole
// prefix and costs the kernel far less per VIP.
enum class VipMode : std::uint8_t { kAddress, kRoute };
[[nodiscard]] const char* mode_name(VipMode m);  // "address", "route"

struct Vip {
  IpAddress address;  // in route mode, the network of the range
  std::string label;       // IPv4 address mode only: "lo:0" unless the config names one
  Origin origin;           // where it was declared, for messages
  int prefix = 32;         // the family's host prefix unless a route-mode range
  VipMode mode = VipMode::kAddress;  // after the merge: its own "mode", else vip_mode
  // As written, for the checks that only the merged vip_mode can decide.
  std::optional<VipMode> mode_written{};
  std::optional<Origin> label_origin{};
  [[nodiscard]] std::string str() const;  // "198.51.100.1", "198.51.100.0/24"
  bool operator==(const Vip& o) const {
    return address == o.address && prefix == o.prefix && label == o.label && mode == o.mode;
  }
};

struct Arp {
  int ignore = 1;
  int announce = 2;
  std::vector<std::string> interfaces{"all", "lo"};
  bool operator==(const Arp&) const = default;
};

// A TCP endpoint: "0.0.0.0:9799", "[::1]:80".
struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;
  [[nodiscard]] std::string str() const;
  bool operator==(const Endpoint&) const = default;
};

// An http check reads at most this much of a body by default, and
// "max_body" may raise it no further than kMaxMaxBody: a check's memory is
// bounded whatever the service sends.
inline constexpr std::size_t kDefaultMaxBody = 64 * 1024;
inline constexpr std::size_t kMaxMaxBody = 1024 * 1024;

struct Check {
  enum class Type : std::uint8_t { kTcp, kHttp, kExec };
  std::string name;
  Type type = Type::kTcp;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{1000};
  int rise = 2;
  int fall = 2;
  Endpoint address;                  // tcp; http: where the URL points
  std::string url;                   // http, as written
  std::string path = "/";            // http: path and query
  std::vector<int> expect;           // http: empty means 200-399
  std::string contains;              // http: required in the body (within max_body)
  // http: body bytes read at most; the rest of a body is not read
  std::size_t max_body = kDefaultMaxBody;
  std::string host;                  // http: Host header and TLS SNI (default: the URL's host)
  bool tls = false;                  // http: an https:// URL
  bool tls_verify = true;            // https: check the certificate against the system CAs
  std::vector<std::string> command;  // exec: argv, no shell
  bool operator==(const Check&) const = default;
};

// health.http: the endpoint's deadlines and connection caps. Each deadline
// runs from the start of what it limits and is never re-armed by progress.
struct HttpLimits {
  std::chrono::milliseconds header_timeout{3000};     // first byte of a request to its end
  std::chrono::milliseconds keepalive_timeout{3000};  // an answered connection's wait for more
  std::chrono::milliseconds send_timeout{10000};      // an answer that waits for a slow reader
  int max_connections_per_source = 64;
  bool operator==(const HttpLimits&) const = default;
};

struct Health {
  std::vector<Endpoint> listen{Endpoint{IpAddress{}, 9799}};  // 0.0.0.0:9799
  std::vector<Cidr> allow;       // empty: everyone
  std::vector<Check> checks;
  std::optional<Endpoint> agent_check;
  std::vector<Endpoint> tcp_gate;  // open (listening) only while ready; empty: off
  std::string maintenance_file = "/etc/rsagent/maintenance";
  HttpLimits http;
  bool operator==(const Health&) const = default;
};

// units/rsagent.service's TimeoutStopSec, and the longest drain that still
// leaves the revert a minute before systemd's SIGKILL.
inline constexpr std::chrono::milliseconds kUnitStopTimeout{15 * 60 * 1000};
inline constexpr std::chrono::milliseconds kMaxStopDrain = kUnitStopTimeout - std::chrono::minutes(1);

struct Stop {
  std::chrono::milliseconds drain{0};  // wait for connections to VIPs to end before revert
  bool operator==(const Stop&) const = default;
};

// The ARP guard (arp_guard/guard.hpp): it always watches this
// node's own frames; `probe` asks the segment who answers for each VIP.
struct ArpGuard {
  enum class OnLeak : std::uint8_t { kWarn, kNotReady };
  bool probe = true;
  std::chrono::milliseconds interval{60'000};  // one sweep over all VIPs, from 1s
  int probes_per_second = 5;                   // across all VIPs
  std::chrono::milliseconds window{1000};      // how long answers to a probe are collected
  OnLeak on_leak = OnLeak::kWarn;
  bool operator==(const ArpGuard&) const = default;
};
[[nodiscard]] const char* on_leak_name(ArpGuard::OnLeak o);  // "warn", "not-ready"

// The flow attribution (attribution/watcher.hpp): which director sends new
// connections. On by default; it needs CAP_NET_RAW, and says so without.
struct Attribution {
  bool enabled = true;
  bool operator==(const Attribution&) const = default;
};

// Tunnel mode: the director forwards by encapsulation (LVS-TUN, Katran,
// GLB): IPv4-in-IPv4 arrives on `device`, IPv6 on `device6` (ip6tnl).
// A device of that name is adopted as it is; a missing one is created.
struct Tunnel {
  std::string device = "tunl0";
  std::string device6;        // empty: no IPv6 tunnel device
  std::string type = "ipip";  // what rsagent creates for `device`
  // SYN-ACKs from a VIP advertise at most this MSS (rsagent's nftables
  // table); 0: no clamp.
  int mss = 0;
  // Given to `device` when it has no IPv4 address, so loose rp_filter can
  // pass decapsulated packets; nullopt ("address": false): never, and
  // rp_filter goes off instead.
  std::optional<Cidr> address = Cidr{IpAddress{Family::kV4, {127, 0, 0, 42}}, 32};
  bool operator==(const Tunnel&) const = default;
};

// The fleet (fleet/publisher.hpp): off while `etcd.endpoints` is empty.
// Each node keeps its record under PREFIX + "nodes/" + NAME in etcd, on a
// lease of `ttl` that it keeps alive. https endpoints use the client
// certificate, key and CA named here.
struct Fleet {
  std::vector<std::string> endpoints;  // "http://203.0.113.5:2379", "https://..."
  std::string cert;                    // client certificate (PEM), for https
  std::string key;                     // its private key (PEM)
  std::string ca;                      // CA bundle that signed etcd's certificate
  std::string name;                    // empty: the host name
  std::string prefix = "/rsagent/";
  std::chrono::milliseconds ttl{10'000};
  // The drain budget: how many of the nodes that share a VIP with this one
  // may be out (drained, in maintenance, stopping, or down on their own) at
  // once. A count, or a percentage of those nodes (rounded down, at least
  // 1); both 0: no budget, and a drain never asks etcd.
  int drain_budget = 0;
  int drain_budget_percent = 0;
  [[nodiscard]] bool enabled() const { return !endpoints.empty(); }
  [[nodiscard]] bool budgeted() const { return enabled() && (drain_budget > 0 || drain_budget_percent > 0); }
  bool operator==(const Fleet&) const = default;
};

struct Config {
  std::vector<Vip> vips;
  VipMode vip_mode = VipMode::kAddress;  // for VIPs that do not say
  Arp arp;
  bool routes = true;
  Health health;
  Stop stop;
  ArpGuard arp_guard;
  Attribution attribution;
  std::optional<Tunnel> tunnel;  // off unless a file has a "tunnel" section
  Fleet fleet;
  std::vector<std::string> files;  // what was read, in merge order
  // Where each setting that a file names came from, by its dotted name
  // ("arp.ignore", "health.allow", "health.checks.NAME"); a setting not
  // here has its default. VIPs carry their own origin.
  std::map<std::string, Origin> origins;
  bool operator==(const Config& o) const {
    return vips == o.vips && vip_mode == o.vip_mode && arp == o.arp && routes == o.routes &&
           health == o.health && stop == o.stop && arp_guard == o.arp_guard &&
           attribution == o.attribution && tunnel == o.tunnel && fleet == o.fleet;
  }
};

[[nodiscard]] std::optional<Endpoint> parse_endpoint(const std::string& text);

struct Diagnostic {
  std::string file;
  Pos pos;
  std::string message;
  [[nodiscard]] std::string str() const;  // "FILE:LINE:COL: message"
};

struct Source {
  std::string name;  // path as shown in messages
  std::string text;
};

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  std::vector<Diagnostic> errors;
};

// Pure: validates and merges already-read sources (main file first).
[[nodiscard]] LoadResult parse_sources(const std::vector<Source>& sources);

// Reads `main_path` and the *.json files of the conf.d folder beside it.
// A missing main file is an error; a missing conf.d is not.
[[nodiscard]] LoadResult load(const std::string& main_path);

// The merged configuration as `rsagent check-config --print` shows it:
// JSON with comments that rsagent reads back as the same configuration,
// every setting spelled out, each followed by the file it came from
// (FILE:LINE:COL) or "default".
[[nodiscard]] std::string render(const Config& cfg);


}  // namespace rsagent::config
