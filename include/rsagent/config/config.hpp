// Configuration: load, merge conf.d, validate.
// Owns: the Config value and its loading from /etc/rsagent/rsagent.json plus
// conf.d/*.json beside it (lexical order; `vips` lists concatenate, any other
// top-level key: the later file wins). Validation is complete: every error of
// every file is returned, each with FILE:LINE:COL, and no Config is returned
// when there is any error. No threads; nothing here throws.
#pragma once

#include "rsagent/config/jsonc.hpp"
#include "rsagent/net/ip.hpp"

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

struct Config {
  std::vector<Vip> vips;
  Arp arp;
  bool routes = true;
  std::vector<std::string> files;  // what was read, in merge order
  bool operator==(const Config& o) const {
    return vips == o.vips && arp == o.arp && routes == o.routes;
  }
};

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
