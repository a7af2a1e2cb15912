// Internal to the config module: the shared machinery of the validators
// (positions, unknown-key hints, type names). Each validator appends every
// error it finds to one list and never stops at the first.
#pragma once

#include "rsagent/config/config.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rsagent::config::detail {

[[nodiscard]] std::string did_you_mean(const std::string& key, const std::vector<std::string>& known);
[[nodiscard]] std::string type_name(const nlohmann::json& v);

class Validator {
 public:
  Validator(const std::string& file, const JsoncDoc& doc, std::vector<Diagnostic>& errors)
      : file_(file), doc_(doc), errors_(errors) {}

  void err_at(const std::string& ptr, std::string msg);
  void err_key(const std::string& ptr, std::string msg);
  [[nodiscard]] std::string origin(const std::string& ptr) const;  // "FILE:LINE:COL"
  [[nodiscard]] Origin where(const std::string& ptr) const;
  void check_keys(const std::string& ptr, const nlohmann::json& obj,
                  const std::vector<std::string>& known, const std::string& where);
  [[nodiscard]] std::size_t error_count() const { return errors_.size(); }

  // Typed getters: nullopt (with an error) when the value has the wrong type or range.
  std::optional<std::string> string_at(const nlohmann::json& v, const std::string& ptr,
                                       const std::string& what);
  std::optional<int> int_at(const nlohmann::json& v, const std::string& ptr,
                            const std::string& what, int lo, int hi);
  // "500ms", "2s", "1m", "1h" within [lo, hi].
  std::optional<std::chrono::milliseconds> duration_at(const nlohmann::json& v,
                                                       const std::string& ptr,
                                                       const std::string& what,
                                                       std::chrono::milliseconds lo,
                                                       std::chrono::milliseconds hi);

 private:
  const std::string& file_;
  const JsoncDoc& doc_;
  std::vector<Diagnostic>& errors_;
};

// Where each setting a file names came from, by dotted name (Config::origins).
using Origins = std::map<std::string, Origin>;

// Sections defined in their own files. Each fills the settings the file
// names into `out` (the rest keep their defaults) and records in `set` where
// each came from; checks are appended, each as "health.checks.NAME".
void parse_health(Validator& c, const nlohmann::json& v, Health& out, Origins& set);
void parse_stop(Validator& c, const nlohmann::json& v, Stop& out, Origins& set);
void parse_arp_guard(Validator& c, const nlohmann::json& v, ArpGuard& out, Origins& set);
void parse_attribution(Validator& c, const nlohmann::json& v, Attribution& out, Origins& set);
// Records "tunnel" (the section turns tunnel mode on) and each key.
void parse_tunnel(Validator& c, const nlohmann::json& v, std::optional<Tunnel>& out, Origins& set);
// After the merge: the IPv4 and IPv6 devices are two devices.
void check_tunnel(const Config& cfg, std::vector<Diagnostic>& errors);
void parse_fleet(Validator& c, const nlohmann::json& v, Fleet& out, Origins& set);

// Once every file is merged and vip_mode is known (vips.cpp): each VIP's
// mode and default label, what its prefix may be in that mode, and VIP
// ranges that overlap each other. Errors at the VIP's FILE:LINE:COL.
void settle_vips(Config& cfg, std::vector<Diagnostic>& errors);

}  // namespace rsagent::config::detail
