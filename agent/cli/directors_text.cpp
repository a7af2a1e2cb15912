#include "rsagent/cli/directors_text.hpp"

#include "rsagent/util/text.hpp"

#include <cstdio>

namespace rsagent::cli {

namespace {

using nlohmann::json;

std::string str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return {};
  return text::printable(j[key].get<std::string>());
}

std::int64_t num(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return 0;
  return j[key].get<std::int64_t>();
}

bool flag(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
}

double real(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return 0;
  return j[key].get<double>();
}

std::string seconds(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms < 0 ? 0 : ms) / 1000.0);
  return buf;
}

}  // namespace

std::string directors_text(const json& st) {
  if (!st.is_object() || !st.contains("directors") || !st["directors"].is_array()) return {};
  const std::int64_t now = num(st, "now_unix_ms");
  std::string out;
  const json none = json::object();
  const json& a = st.contains("attribution") ? st["attribution"] : none;
  if (flag(a, "enabled")) {
    std::string ifs;
    if (a.contains("interfaces") && a["interfaces"].is_array())
      for (const auto& i : a["interfaces"])
        if (i.is_string()) ifs += (ifs.empty() ? "" : ", ") + text::printable(i.get<std::string>());
    out += "  directors (new connections attributed on " + (ifs.empty() ? std::string("no interface") : ifs) + "):\n";
  } else {
    out += "  directors (who polls; flow attribution off: " + str(a, "reason") + "):\n";
  }
  if (st["directors"].empty()) out += "    none seen yet\n";
  for (const auto& d : st["directors"]) {
    const std::string addr = str(d, "address"), mac = str(d, "mac");
    out += "    " + (addr.empty() ? "(address unknown)" : addr) + (mac.empty() ? "" : " (" + mac + ")") + "\n";
    const json& p = d.contains("polls") ? d["polls"] : json();
    if (p.is_object()) {
      const json& ans = p.contains("last_answer") ? p["last_answer"] : none;
      const std::int64_t interval = num(p, "interval_ms");
      out += "      polls: " + str(p, "method") + " " + str(p, "path") + " (" + str(p, "kind") + ")" +
             (interval > 0 ? ", every " + seconds(interval) : "") + ", " + std::to_string(num(p, "count")) +
             " in all, last " + seconds(now - num(p, "last_poll_unix_ms")) + " ago; told \"" + str(ans, "state") +
             "\"" + (num(ans, "status") > 0 ? " (" + std::to_string(num(ans, "status")) + ")" : "") + "\n";
    } else {
      out += "      polls: never (it sends without asking this node)\n";
    }
    const json& s = d.contains("sends") ? d["sends"] : json();
    if (s.is_object()) {
      std::string vips;
      if (s.contains("vips") && s["vips"].is_array())
        for (const auto& v : s["vips"])
          if (v.is_string()) vips += (vips.empty() ? "" : ", ") + text::printable(v.get<std::string>());
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.1f", real(s, "rate_10s"));
      out += "      sends: " + std::string(rate) + " new connections/s (last 10 s), " +
             std::to_string(num(s, "syns_total")) + " in all, last " + seconds(now - num(s, "last_syn_unix_ms")) +
             " ago, to " + vips + (flag(s, "tunnelled") ? " (in IPIP, from this address)" : "") + "\n";
    } else if (flag(a, "enabled")) {
      out += "      sends: nothing\n";
    }
    const json& v = d.contains("violation") ? d["violation"] : json();
    if (v.is_object())
      out += "      DRAIN VIOLATION: " + std::to_string(num(v, "count")) +
             " new connection(s) after its grace while this node is drained, first " +
             seconds(now - num(v, "since_unix_ms")) + " ago\n";
  }
  if (st.contains("directors_other") && num(st["directors_other"], "syns_total") > 0)
    out += "    other senders (past the table's 64): " + std::to_string(num(st["directors_other"], "syns_total")) +
           " new connections\n";
  return out;
}

}  // namespace rsagent::cli
