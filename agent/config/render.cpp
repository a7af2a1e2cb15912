// `rsagent check-config --print`: the merged configuration, every setting
// spelled out, each with the file it came from. The output is itself a
// configuration rsagent reads back as the same one (the config fuzz target
// checks that), so an operator can start a new file from it.
#include "rsagent/config/config.hpp"
#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

namespace rsagent::config {

namespace {

using nlohmann::json;

std::string quoted(const std::string& s) {
  // Valid UTF-8 by construction (the parser checks it); `replace` keeps the
  // dump from throwing whatever happens. A string with a control character
  // the dump would leave raw (C1, U+0080-U+009F, which a terminal may act
  // on) is written all in \u escapes.
  const bool plain = text::printable(s) == s;
  return json(s).dump(-1, ' ', /*ensure_ascii=*/!plain, json::error_handler_t::replace);
}

std::string duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

template <typename T, typename F>
std::string list(const std::vector<T>& items, F show) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + show(items[i]);
  return out + "]";
}

std::string check_text(const Check& c) {
  static constexpr const char* kTypes[] = {"tcp", "http", "exec"};
  std::string out =
      "{\"name\": " + quoted(c.name) + ", \"type\": \"" + kTypes[static_cast<int>(c.type)] +
      "\", \"interval\": \"" + duration(c.interval) + "\", \"timeout\": \"" + duration(c.timeout) +
      "\", \"rise\": " + std::to_string(c.rise) + ", \"fall\": " + std::to_string(c.fall);
  switch (c.type) {
    case Check::Type::kTcp:
      out += ", \"address\": " + quoted(c.address.str());
      break;
    case Check::Type::kHttp:
      out += ", \"url\": " + quoted(c.url);
      if (!c.expect.empty())
        out += ", \"expect\": " + list(c.expect, [](int x) { return std::to_string(x); });
      if (!c.contains.empty()) out += ", \"contains\": " + quoted(c.contains);
      if (c.max_body != kDefaultMaxBody) out += ", \"max_body\": " + std::to_string(c.max_body);
      if (!c.host.empty()) out += ", \"host\": " + quoted(c.host);
      if (!c.tls_verify) out += ", \"tls_verify\": false";
      break;
    case Check::Type::kExec:
      out += ", \"command\": " + list(c.command, quoted);
      break;
  }
  return out + "}";
}

// One member of an object or element of an array: its text (may span
// lines) and the comment after it. A member with empty text is a comment
// line of its own.
struct Member {
  std::string text;
  std::string comment;
};

class Writer {
 public:
  explicit Writer(const Config& cfg) : cfg_(cfg) {}

  [[nodiscard]] std::string from(const std::string& setting) const {
    const auto it = cfg_.origins.find(setting);
    return it == cfg_.origins.end() ? "default" : it->second.str();
  }

  // The members at `indent`, with a comma after each but the last value
  // (before its comment, so the comment stays a comment).
  static std::string block(const std::vector<Member>& members, const std::string& indent) {
    std::size_t last = members.size();
    for (std::size_t i = 0; i < members.size(); ++i)
      if (!members[i].text.empty()) last = i;
    std::string out;
    for (std::size_t i = 0; i < members.size(); ++i) {
      const Member& m = members[i];
      out += indent + m.text;
      if (!m.text.empty() && i != last) out += ",";
      // Origins hold file names: printable, and a line comment ends at a newline.
      if (!m.comment.empty())
        out += (m.text.empty() ? "// " : "  // ") + text::printable(m.comment);
      out += "\n";
    }
    return out;
  }

  static std::string object(const std::string& key, const std::vector<Member>& members,
                            const std::string& indent) {
    return quoted(key) + ": {\n" + block(members, indent + "  ") + indent + "}";
  }

  [[nodiscard]] Member setting(const std::string& key, const std::string& value,
                               const std::string& name) const {
    return {quoted(key) + ": " + value, from(name)};
  }

  [[nodiscard]] std::string render() const {
    std::string out = "// The configuration rsagent runs with, merged from:\n";
    for (const auto& f : cfg_.files) out += "//   " + text::printable(f) + "\n";
    out += "// After each setting: the file, line and column it came from, or \"default\".\n";

    std::vector<Member> vips;
    for (const auto& v : cfg_.vips) {
      // A label only where address mode gives one, a mode only where it is
      // not vip_mode's: what reads back as this VIP.
      const bool own_label = v.mode == VipMode::kAddress && v.address.family == Family::kV4 &&
                             v.label != kDefaultLabel;
      const bool own_mode = v.mode != cfg_.vip_mode;
      std::string text = quoted(v.str());
      if (own_label || own_mode) {
        text = "{\"address\": " + text;
        if (own_label) text += ", \"label\": " + quoted(v.label);
        if (own_mode) text += std::string(", \"mode\": \"") + mode_name(v.mode) + "\"";
        text += "}";
      }
      vips.push_back({text, v.origin.str()});
    }
    const Member vip_member = vips.empty()
                                  ? Member{"\"vips\": []", "default: none"}
                                  : Member{"\"vips\": [\n" + block(vips, "    ") + "  ]", ""};

    const Arp& a = cfg_.arp;
    const std::vector<Member> arp{
        setting("ignore", std::to_string(a.ignore), "arp.ignore"),
        setting("announce", std::to_string(a.announce), "arp.announce"),
        setting("interfaces", list(a.interfaces, quoted), "arp.interfaces")};

    const Health& h = cfg_.health;
    std::vector<Member> checks;
    for (const auto& c : h.checks)
      checks.push_back({check_text(c), from("health.checks." + c.name)});
    std::vector<Member> health{
        setting("listen", list(h.listen, [](const Endpoint& e) { return quoted(e.str()); }),
                "health.listen"),
        {"\"allow\": " + list(h.allow, [](const Cidr& c) { return quoted(c.str()); }),
         h.allow.empty() ? from("health.allow") + " (empty: every source)" : from("health.allow")},
        checks.empty() ? Member{"\"checks\": []", "default: none"}
                       : Member{"\"checks\": [\n" + block(checks, "      ") + "    ]", ""}};
    if (h.agent_check) {
      health.push_back({"\"agent_check\": {\"listen\": " + quoted(h.agent_check->str()) + "}",
                        from("health.agent_check.listen")});
    } else {
      health.push_back({"", "\"agent_check\" is off (default)"});
    }
    if (!h.tcp_gate.empty()) {
      health.push_back({"\"tcp_gate\": {\"listen\": " +
                            list(h.tcp_gate, [](const Endpoint& e) { return quoted(e.str()); }) +
                            "}",
                        from("health.tcp_gate.listen")});
    } else {
      health.push_back({"", "\"tcp_gate\" is off (default)"});
    }
    health.push_back(
        setting("maintenance_file", quoted(h.maintenance_file), "health.maintenance_file"));
    health.push_back({object("http", http_limits(), "    "), ""});

    const std::vector<Member> top{
        vip_member,
        setting("vip_mode", std::string("\"") + mode_name(cfg_.vip_mode) + "\"", "vip_mode"),
        {object("arp", arp, "  "), ""},
        setting("routes", cfg_.routes ? "true" : "false", "routes"),
        {object("health", health, "  "), ""},
        {object("stop", {setting("drain", quoted(duration(cfg_.stop.drain)), "stop.drain")}, "  "),
         ""},
        {object("arp_guard", arp_guard(), "  "), ""},
        {object("attribution",
                {setting("enabled", cfg_.attribution.enabled ? "true" : "false", "attribution.enabled")}, "  "),
         ""},
        tunnel(),
        fleet_member()};
    return out + "{\n" + block(top, "  ") + "}\n";
  }

 private:
  [[nodiscard]] std::vector<Member> http_limits() const {
    const HttpLimits& l = cfg_.health.http;
    return {setting("header_timeout", quoted(duration(l.header_timeout)), "health.http.header_timeout"),
            setting("keepalive_timeout", quoted(duration(l.keepalive_timeout)),
                    "health.http.keepalive_timeout"),
            setting("send_timeout", quoted(duration(l.send_timeout)), "health.http.send_timeout"),
            setting("max_connections_per_source", std::to_string(l.max_connections_per_source),
                    "health.http.max_connections_per_source")};
  }

  [[nodiscard]] std::vector<Member> arp_guard() const {
    const ArpGuard& g = cfg_.arp_guard;
    return {setting("probe", g.probe ? "true" : "false", "arp_guard.probe"),
            setting("interval", quoted(duration(g.interval)), "arp_guard.interval"),
            setting("probes_per_second", std::to_string(g.probes_per_second), "arp_guard.probes_per_second"),
            setting("window", quoted(duration(g.window)), "arp_guard.window"),
            setting("on_leak", quoted(on_leak_name(g.on_leak)), "arp_guard.on_leak")};
  }

  [[nodiscard]] Member tunnel() const {
    if (!cfg_.tunnel) return {"", "\"tunnel\" is off (default): direct routing only"};
    const Tunnel& t = *cfg_.tunnel;
    return {object("tunnel",
                   {setting("device", quoted(t.device), "tunnel.device"),
                    t.device6.empty() ? Member{"", "\"device6\" is unset (default): no IPv6 tunnel device"}
                                      : setting("device6", quoted(t.device6), "tunnel.device6"),
                    setting("type", quoted(t.type), "tunnel.type"),
                    t.mss == 0 ? Member{"", "\"mss\" is unset (default): no MSS clamp"}
                               : setting("mss", std::to_string(t.mss), "tunnel.mss"),
                    setting("address", t.address ? quoted(t.address->str()) : std::string("false"),
                            "tunnel.address")},
                   "  "),
            from("tunnel")};
  }

  // Off (no endpoints) and named nowhere: one comment line. An object
  // without "etcd" reads back as the same configuration.
  [[nodiscard]] Member fleet_member() const {
    const Fleet& f = cfg_.fleet;
    if (!f.enabled() && f == Fleet{}) return {"", "\"fleet\" is off (default): no fleet.etcd.endpoints"};
    return {object("fleet", fleet(), "  "), ""};
  }

  [[nodiscard]] std::vector<Member> fleet() const {
    const Fleet& f = cfg_.fleet;
    const auto q = [](const std::string& s) { return quoted(s); };
    std::vector<Member> out;
    if (f.enabled()) {
      std::vector<Member> etcd{{"\"endpoints\": " + list(f.endpoints, q), from("fleet.etcd")}};
      if (!f.cert.empty()) etcd.push_back({"\"cert\": " + quoted(f.cert), from("fleet.etcd")});
      if (!f.key.empty()) etcd.push_back({"\"key\": " + quoted(f.key), from("fleet.etcd")});
      if (!f.ca.empty()) etcd.push_back({"\"ca\": " + quoted(f.ca), from("fleet.etcd")});
      out.push_back({object("etcd", etcd, "    "), ""});
    } else {
      out.push_back({"", "\"etcd\" names no endpoints: the fleet is off"});
    }
    if (f.name.empty()) {
      out.push_back({"", "\"name\" is the host name (default)"});
    } else {
      out.push_back(setting("name", quoted(f.name), "fleet.name"));
    }
    out.push_back(setting("prefix", quoted(f.prefix), "fleet.prefix"));
    out.push_back(setting("ttl", quoted(duration(f.ttl)), "fleet.ttl"));
    if (f.drain_budget > 0) {
      out.push_back(setting("drain_budget", std::to_string(f.drain_budget), "fleet.drain_budget"));
    } else if (f.drain_budget_percent > 0) {
      out.push_back(
          setting("drain_budget", quoted(std::to_string(f.drain_budget_percent) + "%"), "fleet.drain_budget"));
    } else {
      out.push_back({"", "\"drain_budget\" is off (default): a drain never asks etcd"});
    }
    return out;
  }

  const Config& cfg_;
};

}  // namespace

std::string render(const Config& cfg) { return Writer(cfg).render(); }

}  // namespace rsagent::config
