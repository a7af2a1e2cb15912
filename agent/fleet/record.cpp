#include "rsagent/fleet/record.hpp"

#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <tuple>
#include <sstream>

#ifndef RSAGENT_VERSION
#define RSAGENT_VERSION "0.0.0"
#endif

namespace rsagent::fleet {

namespace {

using nlohmann::json;

const std::vector<std::string> kVerdicts{"ready", "drain", "maint", "down"};

std::vector<std::string> capped(std::vector<std::string> v) {
  if (v.size() > kMaxListed) {
    const std::size_t more = v.size() - (kMaxListed - 1);
    v.resize(kMaxListed - 1);
    v.push_back("+" + std::to_string(more) + " more");
  }
  return v;
}

Result<std::string> string_of(const json& j, const char* key, bool required) {
  if (!j.contains(key)) {
    if (required) return make_error(std::string("no \"") + key + "\"");
    return std::string();
  }
  if (!j[key].is_string()) return make_error(std::string("\"") + key + "\" is not a string");
  // Cleaned where it enters: a record is text another host wrote.
  return text::one_line(j[key].get<std::string>(), 512);
}

Result<std::vector<std::string>> list_of(const json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.contains(key)) return out;
  if (!j[key].is_array()) return make_error(std::string("\"") + key + "\" is not an array");
  for (const json& x : j[key]) {
    if (!x.is_string()) return make_error(std::string("\"") + key + "\" holds a non-string");
    if (out.size() == kMaxListed) break;
    out.push_back(text::one_line(x.get<std::string>(), 256));
  }
  return out;
}

int rank(const std::string& verdict) {
  if (verdict == "down") return 0;
  if (verdict == "maint") return 1;
  if (verdict == "drain") return 2;
  if (verdict == "ready") return 3;
  return 0;
}

std::string age_text(std::int64_t s) {
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 2 * 3600) return std::to_string(s / 60) + "m";
  if (s < 2 * 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string joined(const std::vector<std::string>& v) {
  if (v.empty()) return "-";
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
  return out;
}

}  // namespace

std::string encode(const NodeRecord& r) {
  const json j{{"name", r.name},
               {"version", r.version},
               {"addresses", capped(r.addresses)},
               {"vips", capped(r.vips)},
               {"verdict", r.verdict},
               {"reason", r.reason},
               {"state", r.state},
               {"state_reason", r.state_reason},
               {"checks", {{"up", r.checks_up}, {"total", r.checks_total}, {"down", capped(r.checks_down)}}},
               {"directors", capped(r.directors)},
               {"last_change", r.last_change}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<NodeRecord> decode(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error("a node record must be a JSON object");
  NodeRecord r;
  const auto take = [&](const char* key, bool required, std::string& to) -> Result<void> {
    auto s = string_of(j, key, required);
    if (!s) return s.error();
    to = std::move(*s);
    return {};
  };
  for (auto [key, required, to] : {std::tuple{"name", true, &r.name}, std::tuple{"version", false, &r.version},
                                   std::tuple{"verdict", true, &r.verdict}, std::tuple{"reason", false, &r.reason},
                                   std::tuple{"state", false, &r.state},
                                   std::tuple{"state_reason", false, &r.state_reason}}) {
    if (auto t = take(key, required, *to); !t) return t.error();
  }
  if (std::find(kVerdicts.begin(), kVerdicts.end(), r.verdict) == kVerdicts.end())
    return make_error("verdict \"" + r.verdict + "\" is not ready, drain, maint or down");
  if (r.state.empty()) r.state = "ready";
  for (auto [key, to] : {std::pair{"addresses", &r.addresses}, std::pair{"vips", &r.vips},
                         std::pair{"directors", &r.directors}}) {
    auto l = list_of(j, key);
    if (!l) return l.error();
    *to = std::move(*l);
  }
  if (j.contains("checks")) {
    const json& c = j["checks"];
    if (!c.is_object()) return make_error("\"checks\" is not an object");
    if (c.contains("up") && c["up"].is_number_integer()) r.checks_up = int(std::clamp<std::int64_t>(c["up"].get<std::int64_t>(), 0, 1 << 20));
    if (c.contains("total") && c["total"].is_number_integer())
      r.checks_total = int(std::clamp<std::int64_t>(c["total"].get<std::int64_t>(), 0, 1 << 20));
    auto down = list_of(c, "down");
    if (!down) return down.error();
    r.checks_down = std::move(*down);
  }
  if (j.contains("last_change")) {
    if (!j["last_change"].is_number_integer()) return make_error("\"last_change\" is not a number");
    r.last_change = j["last_change"].get<std::int64_t>();
  }
  return r;
}

NodeRecord make_record(const std::string& name, const verdict::Snapshot& snap,
                       const std::vector<verdict::DirectorRow>& directors,
                       std::vector<std::string> addresses) {
  NodeRecord r;
  r.name = name;
  r.version = RSAGENT_VERSION;
  r.addresses = std::move(addresses);
  for (const auto& v : snap.net_detail->vips) {
    r.vips.push_back(v.address + ((v.prefix == 32 || v.prefix == 128) ? "" : "/" + std::to_string(v.prefix)));
  }
  r.verdict = verdict::mode_name(snap.verdict.mode);
  r.reason = snap.verdict.reason;
  r.state = verdict::admin_name(snap.op.admin);
  r.state_reason = snap.op.reason;
  r.checks_total = int(snap.checks.size());
  for (const auto& c : snap.checks) {
    if (c.up) {
      ++r.checks_up;
    } else {
      r.checks_down.push_back(c.name);
    }
  }
  // The census counts a source once per User-Agent; the fleet names hosts.
  for (const auto& d : directors)
    if (std::find(r.directors.begin(), r.directors.end(), d.label()) == r.directors.end())
      r.directors.push_back(d.label());
  return r;
}

std::string nodes_prefix(const std::string& prefix) { return prefix + "nodes/"; }

void sort_by_attention(std::vector<NodeRecord>& nodes) {
  std::sort(nodes.begin(), nodes.end(), [](const NodeRecord& a, const NodeRecord& b) {
    const int ra = rank(a.verdict);
    const int rb = rank(b.verdict);
    return ra != rb ? ra < rb : a.name < b.name;
  });
}

std::string render_table(const std::vector<NodeRecord>& nodes, std::int64_t now) {
  std::vector<std::array<std::string, 7>> rows{{"NAME", "VERDICT", "STATE", "REASON", "VIPS", "DIRECTORS", "AGE"}};
  for (const auto& n : nodes) {
    std::string reason = n.reason.empty() ? n.state_reason : n.reason;
    rows.push_back({n.name, n.verdict, n.state, reason.empty() ? "-" : text::one_line(reason, 60), joined(n.vips),
                    joined(n.directors), age_text(now - n.last_change)});
  }
  std::array<std::size_t, 7> width{};
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::ostringstream out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
  return out.str();
}

}  // namespace rsagent::fleet
