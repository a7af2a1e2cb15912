// Configuration: load, merge conf.d, validate.
// Owns: the Config value and its loading from /etc/rsagent/rsagent.json plus
// conf.d/*.json beside it (lexical order; `vips` lists concatenate, any other
// top-level key: the later file wins). Validation is complete: every error of
// every file is returned, each with FILE:LINE:COL, and no Config is returned
// when there is any error. No threads; nothing here throws.
#pragma once

#include "rsagent/config/jsonc.hpp"
#include "rsagent/net/ip.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rsagent::config {

inline constexpr const char* kDefaultConfigPath = "/etc/rsagent/rsagent.json";
inline constexpr const char* kDefaultLabel = "lo:0";

struct Vip {
  net::IpAddress address;
  std::string label;   // IPv4 only: "lo:0" unless the config names one
  std::string origin;  // FILE:LINE:COL where it was declared, for messages
  bool operator==(const Vip& o) const { return address == o.address && label == o.label; }
};

struct Arp {
  int ignore = 1;
  int announce = 2;
  std::vector<std::string> interfaces{"all", "lo"};
  bool operator==(const Arp&) const = default;
};

// A TCP endpoint: "0.0.0.0:9799", "[::1]:80".
struct Endpoint {
  net::IpAddress address;
  std::uint16_t port = 0;
  [[nodiscard]] std::string str() const;
  bool operator==(const Endpoint&) const = default;
};

struct Cidr {
  net::IpAddress network;
  int prefix = 0;
  [[nodiscard]] bool contains(const net::IpAddress& a) const;
  bool operator==(const Cidr&) const = default;
};

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
  std::string contains;              // http: required in the body
  std::string host;                  // http: Host header and TLS SNI (default: the URL's host)
  bool tls = false;                  // http: an https:// URL
  bool tls_verify = true;            // https: check the certificate against the system CAs
  std::vector<std::string> command;  // exec: argv, no shell
  bool operator==(const Check&) const = default;
};

struct Health {
  std::vector<Endpoint> listen{Endpoint{net::IpAddress{}, 9799}};  // 0.0.0.0:9799
  std::vector<Cidr> allow;       // empty: everyone
  std::vector<Check> checks;
  std::optional<Endpoint> agent_check;
  std::vector<Endpoint> tcp_gate;  // open (listening) only while ready; empty: off
  std::string maintenance_file = "/etc/rsagent/maintenance";
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

struct Config {
  std::vector<Vip> vips;
  Arp arp;
  bool routes = true;
  Health health;
  Stop stop;
  std::vector<std::string> files;  // what was read, in merge order
  bool operator==(const Config& o) const {
    return vips == o.vips && arp == o.arp && routes == o.routes && health == o.health &&
           stop == o.stop;
  }
};

[[nodiscard]] std::optional<Endpoint> parse_endpoint(const std::string& text);
[[nodiscard]] std::optional<Cidr> parse_cidr(const std::string& text);

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

// Linux interface-name rules (dev_valid_name): 1-15 bytes, not "." or "..",
// no '/', ':' or whitespace. "all" and "default" are the sysctl pseudo-interfaces.
[[nodiscard]] bool valid_interface_name(const std::string& name);

}  // namespace rsagent::config
