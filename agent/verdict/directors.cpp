#include "rsagent/verdict/directors.hpp"

#include <algorithm>
#include <sstream>

namespace rsagent::verdict {

namespace {

using nlohmann::json;

bool is_v4(const std::string& a) { return a.find(':') == std::string::npos; }

// A sender's address: its IPv4 neighbour entry first (what an operator
// knows a director by), else any.
std::string address_of_mac(const AttributionView& v, const std::string& mac) {
  const auto it = v.addresses_of.find(mac);
  if (it == v.addresses_of.end() || it->second.empty()) return {};
  for (const auto& a : it->second)
    if (is_v4(a)) return a;
  return it->second.front();
}

json checker_json(const Checker& c) {
  return {{"count", c.count},
          {"method", c.method},
          {"path", c.path},
          {"kind", checker_kind_name(c.kind)},
          {"user_agent", c.user_agent},
          {"source", c.source},
          {"last_poll_unix_ms", c.last_unix_ms},
          {"interval_ms", c.interval_ms},
          {"last_answer",
           {{"state", c.last_answer.state}, {"status", c.last_answer.status}, {"at_unix_ms", c.last_answer.at_unix_ms}}}};
}

// Prometheus label values escape backslash, quote and newline.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::vector<DirectorRow> join_directors(const std::vector<Checker>& census, const AttributionView& view) {
  std::map<std::string, DirectorRow> by_key;
  for (const auto& c : census) {
    const auto m = view.mac_of.find(c.source);
    const std::string mac = m == view.mac_of.end() ? std::string() : m->second;
    DirectorRow& row = by_key[mac.empty() ? "ip " + c.source : mac];
    row.mac = mac;
    if (!row.polls || c.last_unix_ms > row.polls->last_unix_ms) {
      row.polls = c;
      row.address = c.source;
    }
    row.checkers.push_back(c);
  }
  for (const auto& s : view.senders) {
    std::string mac = s.mac;
    if (!s.tunnelled_from.empty()) {
      // Its address is the director's: the poller's row, under its MAC when
      // it is a neighbour too.
      const auto m = view.mac_of.find(s.tunnelled_from);
      mac = m == view.mac_of.end() ? std::string() : m->second;
    }
    DirectorRow& row = by_key[mac.empty() ? "ip " + s.tunnelled_from : mac];
    row.mac = mac;
    if (row.address.empty()) row.address = s.tunnelled_from.empty() ? address_of_mac(view, mac) : s.tunnelled_from;
    row.sends = s;
    if (const auto v = view.violations.find(s.key()); v != view.violations.end()) row.violation = v->second;
  }
  std::vector<DirectorRow> out;
  out.reserve(by_key.size());
  for (auto& [key, row] : by_key) out.push_back(std::move(row));
  std::sort(out.begin(), out.end(), [](const DirectorRow& a, const DirectorRow& b) {
    return std::tie(a.address, a.mac) < std::tie(b.address, b.mac);
  });
  return out;
}

json directors_json(const std::vector<DirectorRow>& rows, const AttributionView& view, std::int64_t now_unix_ms) {
  json list = json::array();
  for (const auto& r : rows) {
    json j{{"address", r.address}, {"mac", r.mac}};
    j["polls"] = r.polls ? checker_json(*r.polls) : json(nullptr);
    json all = json::array();
    for (const auto& c : r.checkers) all.push_back(checker_json(c));
    j["checkers"] = std::move(all);
    if (r.sends) {
      json vips = json::array();
      json by_vip = json::array();
      for (const auto& v : r.sends->vips) {
        vips.push_back(v.vip);
        by_vip.push_back({{"vip", v.vip}, {"syns", v.syns}});
      }
      j["sends"] = {{"syns_total", r.sends->syns_total},
                    {"rate_10s", r.sends->rate_10s},
                    {"first_syn_unix_ms", r.sends->first_syn_unix_ms},
                    {"last_syn_unix_ms", r.sends->last_syn_unix_ms},
                    {"interface", r.sends->interface},
                    {"tunnelled", !r.sends->tunnelled_from.empty()},
                    {"vips", std::move(vips)},
                    {"by_vip", std::move(by_vip)},
                    {"vips_other_syns", r.sends->vips_other}};
    } else {
      j["sends"] = nullptr;
    }
    j["violation"] = r.violation ? json{{"since_unix_ms", r.violation->since_unix_ms}, {"count", r.violation->count}}
                                 : json(nullptr);
    list.push_back(std::move(j));
  }
  json out;
  out["directors"] = std::move(list);
  out["directors_other"] = {{"syns_total", view.other_syns}};
  out["attribution"] = {{"enabled", view.enabled},
                        {"reason", view.reason},
                        {"interfaces", view.interfaces},
                        {"filter_exact", view.filter_exact},
                        {"frames_dropped", view.frames_dropped},
                        {"senders_evicted", view.evicted}};
  out["now_unix_ms"] = now_unix_ms;
  return out;
}

std::string directors_metrics(const std::vector<DirectorRow>& rows, const AttributionView& view,
                              std::int64_t now_unix_ms) {
  std::ostringstream m;
  m << "# HELP rsagent_attribution_enabled 1 when new connections to the VIPs are attributed to the "
       "directors that send them.\n# TYPE rsagent_attribution_enabled gauge\nrsagent_attribution_enabled "
    << (view.enabled ? 1 : 0) << "\n";
  m << "# HELP rsagent_director_new_connections_total New connections (TCP SYN) to a VIP, by the director "
       "that forwarded them.\n# TYPE rsagent_director_new_connections_total counter\n";
  for (const auto& r : rows) {
    if (!r.sends) continue;
    for (const auto& v : r.sends->vips)
      m << "rsagent_director_new_connections_total{director=\"" << label(r.label()) << "\",vip=\"" << label(v.vip)
        << "\"} " << v.syns << "\n";
    if (r.sends->vips_other > 0)
      m << "rsagent_director_new_connections_total{director=\"" << label(r.label()) << "\",vip=\"other\"} "
        << r.sends->vips_other << "\n";
  }
  m << "# HELP rsagent_director_other_new_connections_total New connections from senders past the "
       "table's 64.\n# TYPE rsagent_director_other_new_connections_total counter\n"
       "rsagent_director_other_new_connections_total "
    << view.other_syns << "\n";
  m << "# HELP rsagent_director_last_poll_seconds Seconds since the director last polled the health "
       "endpoint or the agent-check.\n# TYPE rsagent_director_last_poll_seconds gauge\n";
  for (const auto& r : rows)
    if (r.polls)
      m << "rsagent_director_last_poll_seconds{director=\"" << label(r.label()) << "\"} "
        << static_cast<double>(std::max<std::int64_t>(0, now_unix_ms - r.polls->last_unix_ms)) / 1000.0 << "\n";
  m << "# HELP rsagent_drain_violations_total New connections a director sent to this node while it was "
       "drained or in maintenance, after a grace of three of its poll intervals.\n"
       "# TYPE rsagent_drain_violations_total counter\n";
  for (const auto& [director, n] : view.violations_total)
    m << "rsagent_drain_violations_total{director=\"" << label(director) << "\"} " << n << "\n";
  return m.str();
}

}  // namespace rsagent::verdict
