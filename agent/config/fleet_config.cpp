// The "fleet" section: where this node's record goes in etcd (endpoints,
// TLS files), under which name and prefix, and its lease's TTL. Off while
// it names no endpoint; the drain budget (a count or "N%"). Pure; every
// error at its FILE:LINE:COL.
#include "validator.hpp"

namespace rsagent::config {
namespace detail {

namespace {
using nlohmann::json;
const std::vector<std::string> kFleetKeys{"etcd", "name", "prefix", "ttl", "drain_budget"};
const std::vector<std::string> kEtcdKeys{"endpoints", "cert", "key", "ca"};

bool url_ok(const std::string& u) {
  const auto scheme_end = u.find("://");
  if (scheme_end == std::string::npos) return false;
  const std::string scheme = u.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return false;
  const std::string rest = u.substr(scheme_end + 3);
  // host[:port], nothing after: the client posts to /v3/... under it.
  return !rest.empty() && rest.find('/') == std::string::npos && rest.find('@') == std::string::npos &&
         rest.find_first_of(" \t?#") == std::string::npos;
}

// A node name becomes one path segment of an etcd key and a table cell.
bool name_ok(const std::string& n) {
  if (n.empty() || n.size() > 253) return false;
  for (const char ch : n) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '-' || ch == '_' || ch == '.';
    if (!ok) return false;
  }
  return true;
}

void parse_etcd(Validator& c, const json& v, Fleet& out, Origins& set) {
  set["fleet.etcd"] = c.where("/fleet/etcd");
  if (!v.is_object()) {
    c.err_at("/fleet/etcd", "fleet.etcd must be an object like {\"endpoints\": [\"http://203.0.113.5:2379\"]}, "
                            "found " + type_name(v));
    return;
  }
  c.check_keys("/fleet/etcd", v, kEtcdKeys, "fleet.etcd");
  if (!v.contains("endpoints")) {
    c.err_at("/fleet/etcd", "fleet.etcd has no \"endpoints\"; write {\"endpoints\": [\"http://203.0.113.5:2379\"]}");
  } else if (!v["endpoints"].is_array() || v["endpoints"].empty()) {
    c.err_at("/fleet/etcd/endpoints", "fleet.etcd.endpoints must be a non-empty array of URLs like "
                                      "\"http://203.0.113.5:2379\", found " + type_name(v["endpoints"]));
  } else {
    const json& eps = v["endpoints"];
    for (std::size_t i = 0; i < eps.size(); ++i) {
      const std::string ptr = "/fleet/etcd/endpoints/" + std::to_string(i);
      auto s = c.string_at(eps[i], ptr, "fleet.etcd.endpoints[" + std::to_string(i) + "]");
      if (!s) continue;
      if (!url_ok(*s)) {
        c.err_at(ptr, "fleet.etcd endpoint \"" + *s + "\" is not http://HOST:PORT or https://HOST:PORT");
        continue;
      }
      if (i >= 16) {
        c.err_at(ptr, "fleet.etcd.endpoints holds at most 16 endpoints");
        break;
      }
      out.endpoints.push_back(*s);
    }
  }
  for (const char* k : {"cert", "key", "ca"}) {
    if (!v.contains(k)) continue;
    const std::string ptr = std::string("/fleet/etcd/") + k;
    auto s = c.string_at(v[k], ptr, std::string("fleet.etcd.") + k);
    if (!s) continue;
    if (s->empty() || (*s)[0] != '/') {
      c.err_at(ptr, std::string("fleet.etcd.") + k + " must be an absolute path to a PEM file");
      continue;
    }
    (k[0] == 'c' ? (k[1] == 'e' ? out.cert : out.ca) : out.key) = *s;
  }
  if (out.cert.empty() != out.key.empty())
    c.err_at("/fleet/etcd", "fleet.etcd needs both \"cert\" and \"key\" (a client certificate and its key), or neither");
  bool https = false;
  for (const auto& e : out.endpoints) https = https || e.rfind("https://", 0) == 0;
  if (!https && (!out.cert.empty() || !out.ca.empty()))
    c.err_at("/fleet/etcd", "fleet.etcd names TLS files but no https:// endpoint");
}
// 1 to 10000 nodes, or "1%" to "100%": a budget of 0 would forbid every
// drain, which is what not draining is for.
void parse_budget(Validator& c, const json& v, Fleet& out, Origins& set) {
  set["fleet.drain_budget"] = c.where("/fleet/drain_budget");
  const std::string bad = "fleet.drain_budget must be a count of nodes like 1, or a percentage of the nodes "
                          "that share a VIP like \"25%\"";
  if (v.is_number_integer()) {
    if (auto n = c.int_at(v, "/fleet/drain_budget", "fleet.drain_budget", 1, 10000)) {
      out.drain_budget = *n;
      out.drain_budget_percent = 0;
    }
    return;
  }
  if (!v.is_string()) {
    c.err_at("/fleet/drain_budget", bad + ", found " + type_name(v));
    return;
  }
  const std::string s = v.get<std::string>();
  const std::size_t digits = s.find_first_not_of("0123456789");
  int pct = 0;
  if (digits != 0 && digits != std::string::npos && digits <= 3 && s.substr(digits) == "%") pct = std::stoi(s.substr(0, digits));
  if (pct < 1 || pct > 100) {
    c.err_at("/fleet/drain_budget", bad + " (1% to 100%), found \"" + s + "\"");
    return;
  }
  out.drain_budget = 0;
  out.drain_budget_percent = pct;
}
}  // namespace

void parse_fleet(Validator& c, const json& v, Fleet& out, Origins& set) {
  if (!v.is_object()) {
    c.err_at("/fleet", "\"fleet\" must be an object like {\"etcd\": {\"endpoints\": [\"http://203.0.113.5:2379\"]}}, "
                       "found " + type_name(v));
    return;
  }
  c.check_keys("/fleet", v, kFleetKeys, "\"fleet\"");
  if (v.contains("etcd")) parse_etcd(c, v["etcd"], out, set);
  if (v.contains("name")) {
    set["fleet.name"] = c.where("/fleet/name");
    if (auto s = c.string_at(v["name"], "/fleet/name", "fleet.name")) {
      if (name_ok(*s)) {
        out.name = *s;
      } else {
        c.err_at("/fleet/name", "fleet.name \"" + *s + "\" must be 1-253 letters, digits, '-', '_' or '.'");
      }
    }
  }
  if (v.contains("prefix")) {
    set["fleet.prefix"] = c.where("/fleet/prefix");
    if (auto s = c.string_at(v["prefix"], "/fleet/prefix", "fleet.prefix")) {
      if (s->size() < 2 || s->front() != '/' || s->back() != '/' || s->size() > 200) {
        c.err_at("/fleet/prefix", "fleet.prefix \"" + *s + "\" must start and end with '/', like \"/rsagent/\"");
      } else {
        out.prefix = *s;
      }
    }
  }
  if (v.contains("drain_budget")) parse_budget(c, v["drain_budget"], out, set);
  if (v.contains("ttl")) {
    set["fleet.ttl"] = c.where("/fleet/ttl");
    // etcd grants whole seconds; under 2 s a keep-alive every third of it
    // would race the network's own delays.
    if (auto d = c.duration_at(v["ttl"], "/fleet/ttl", "fleet.ttl", std::chrono::seconds(2), std::chrono::hours(1))) {
      if (d->count() % 1000 != 0) {
        c.err_at("/fleet/ttl", "fleet.ttl must be whole seconds (etcd's leases count seconds)");
      } else {
        out.ttl = *d;
      }
    }
  }
}

}  // namespace detail
}  // namespace rsagent::config
