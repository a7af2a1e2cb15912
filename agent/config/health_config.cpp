// The "health" and "stop" sections of the configuration.
#include "validator.hpp"

#include <algorithm>
#include <set>

namespace rsagent::config {

std::string Endpoint::str() const {
  const std::string a = address.str();
  return (address.family == Family::kV6 ? "[" + a + "]" : a) + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto a = IpAddress::parse(host);
  if (!a || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const int p = std::stoi(port);
  if (p < 1 || p > 65535) return std::nullopt;
  return Endpoint{*a, static_cast<std::uint16_t>(p)};
}

std::string Cidr::str() const { return network.str() + "/" + std::to_string(prefix); }

std::optional<Cidr> parse_cidr(const std::string& text) {
  const auto slash = text.find('/');
  auto a = IpAddress::parse(text.substr(0, slash));
  if (!a) return std::nullopt;
  int prefix = a->max_prefix();
  if (slash != std::string::npos) {
    const std::string p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    prefix = std::stoi(p);
    if (prefix > a->max_prefix()) return std::nullopt;
  }
  return Cidr{*a, prefix};
}

bool Cidr::contains(const IpAddress& a) const {
  IpAddress x = a;
  // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d.
  if (network.family == Family::kV4 && a.family == Family::kV6) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!std::equal(kMapped, kMapped + 12, a.bytes.begin())) return false;
    x = IpAddress{};
    std::copy(a.bytes.begin() + 12, a.bytes.end(), x.bytes.begin());
  }
  if (x.family != network.family) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    const int byte = bit / 8;
    const int mask = 0x80 >> (bit % 8);
    if ((x.bytes[byte] & mask) != (network.bytes[byte] & mask)) return false;
  }
  return true;
}

namespace detail {

namespace {

using nlohmann::json;

const std::vector<std::string> kHealthKeys{"listen", "allow", "checks", "agent_check", "tcp_gate",
                                           "maintenance_file", "http"};
const std::vector<std::string> kCheckKeys{"name", "type", "interval", "timeout", "rise", "fall",
                                          "address", "url", "expect", "contains", "max_body",
                                          "host", "tls_verify", "command"};
const std::vector<std::string> kAgentKeys{"listen"};
const std::vector<std::string> kGateKeys{"listen"};
const std::vector<std::string> kHttpKeys{"header_timeout", "keepalive_timeout", "send_timeout",
                                         "max_connections_per_source"};
const std::vector<std::string> kStopKeys{"drain"};

constexpr std::chrono::milliseconds kMinInterval{100};
constexpr std::chrono::milliseconds kMaxInterval{3'600'000};

bool valid_check_name(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::optional<Endpoint> endpoint_at(Validator& c, const json& v, const std::string& ptr,
                                    const std::string& what) {
  auto s = c.string_at(v, ptr, what);
  if (!s) return std::nullopt;
  auto e = parse_endpoint(*s);
  if (!e) c.err_at(ptr, what + " \"" + *s + "\" is not ADDRESS:PORT (e.g. \"127.0.0.1:80\" or \"[::1]:80\")");
  return e;
}

// "http://HOST:PORT/PATH" or "https://..." with a literal IP host; checks
// talk to the local service, never to a name that needs DNS.
bool parse_url(Check& ck, const std::string& url) {
  ck.tls = url.rfind("https://", 0) == 0;
  const std::string scheme = ck.tls ? "https://" : "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  ck.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const bool has_port = hostport.find("]:") != std::string::npos ||
                        (hostport[0] != '[' && hostport.find(':') != std::string::npos);
  if (!has_port) hostport += ck.tls ? ":443" : ":80";
  auto e = parse_endpoint(hostport);
  if (!e) return false;
  ck.address = *e;
  return true;
}

// The name: unique, and usable in /health/NAME.
void check_name(Validator& c, const json& v, const std::string& ptr, std::set<std::string>& names,
                Check& ck) {
  if (!v.contains("name")) {
    c.err_at(ptr, "a check needs a \"name\" (used in /health/NAME and in messages)");
    return;
  }
  auto n = c.string_at(v["name"], pointer_child(ptr, "name"), "\"name\"");
  if (!n) return;
  if (!valid_check_name(*n)) {
    c.err_at(pointer_child(ptr, "name"), "check name \"" + *n +
                                             "\" must be 1-64 letters, digits, '-', '_' or '.'");
  } else if (!names.insert(*n).second) {
    c.err_at(pointer_child(ptr, "name"), "duplicate check name \"" + *n + "\"");
  }
  ck.name = *n;
}

// "tcp", "http" or "exec"; empty when missing or unknown (reported).
std::string check_type(Validator& c, const json& v, const std::string& ptr, Check& ck) {
  if (!v.contains("type")) {
    c.err_at(ptr, "a check needs a \"type\": \"tcp\", \"http\" or \"exec\"");
    return "";
  }
  auto t = c.string_at(v["type"], pointer_child(ptr, "type"), "\"type\"");
  if (!t) return "";
  if (*t == "tcp") {
    ck.type = Check::Type::kTcp;
  } else if (*t == "http") {
    ck.type = Check::Type::kHttp;
  } else if (*t == "exec") {
    ck.type = Check::Type::kExec;
  } else {
    c.err_at(pointer_child(ptr, "type"), "unknown check type \"" + *t + "\"; use \"tcp\", \"http\" or \"exec\"");
    return "";
  }
  return *t;
}

// interval, timeout (never above the interval), rise and fall.
void check_schedule(Validator& c, const json& v, const std::string& ptr, Check& ck) {
  if (v.contains("interval"))
    if (auto d = c.duration_at(v["interval"], pointer_child(ptr, "interval"), "interval",
                               kMinInterval, kMaxInterval))
      ck.interval = *d;
  if (v.contains("timeout")) {
    if (auto d = c.duration_at(v["timeout"], pointer_child(ptr, "timeout"), "timeout",
                               std::chrono::milliseconds(10), kMaxInterval))
      ck.timeout = *d;
  } else {
    // Default 1 s, but never above a shorter interval.
    ck.timeout = std::min(ck.timeout, ck.interval);
  }
  if (ck.timeout > ck.interval)
    c.err_at(v.contains("timeout") ? pointer_child(ptr, "timeout") : ptr,
             "timeout (" + std::to_string(ck.timeout.count()) + "ms) must not exceed interval (" +
                 std::to_string(ck.interval.count()) + "ms)");
  if (v.contains("rise"))
    if (auto x = c.int_at(v["rise"], pointer_child(ptr, "rise"), "rise", 1, 100)) ck.rise = *x;
  if (v.contains("fall"))
    if (auto x = c.int_at(v["fall"], pointer_child(ptr, "fall"), "fall", 1, 100)) ck.fall = *x;
}

void tcp_check(Validator& c, const json& v, const std::string& ptr, Check& ck) {
  if (!v.contains("address")) {
    c.err_at(ptr, "a tcp check needs \"address\": \"127.0.0.1:80\"");
  } else if (auto e = endpoint_at(c, v["address"], pointer_child(ptr, "address"), "address")) {
    ck.address = *e;
  }
}

void http_check(Validator& c, const json& v, const std::string& ptr, Check& ck) {
  if (!v.contains("url")) {
    c.err_at(ptr, "an http check needs \"url\": \"http://127.0.0.1:80/path\"");
  } else if (auto u = c.string_at(v["url"], pointer_child(ptr, "url"), "\"url\"")) {
    ck.url = *u;
    if (!parse_url(ck, *u))
      c.err_at(pointer_child(ptr, "url"),
               "url \"" + *u + "\" must be http://ADDRESS[:PORT]/PATH or https://ADDRESS[:PORT]/PATH "
               "with a literal IP address");
  }
  if (v.contains("expect")) {
    const std::string eptr = pointer_child(ptr, "expect");
    if (!v["expect"].is_array() || v["expect"].empty()) {
      c.err_at(eptr, "\"expect\" must be a non-empty array of status codes like [200, 204]");
    } else {
      for (std::size_t i = 0; i < v["expect"].size(); ++i)
        if (auto x = c.int_at(v["expect"][i], pointer_child(eptr, i), "a status code", 100, 599))
          ck.expect.push_back(*x);
    }
  }
  if (v.contains("max_body"))
    if (auto x = c.int_at(v["max_body"], pointer_child(ptr, "max_body"), "max_body (bytes)", 1,
                          static_cast<int>(kMaxMaxBody)))
      ck.max_body = static_cast<std::size_t>(*x);
  if (v.contains("contains")) {
    if (auto s = c.string_at(v["contains"], pointer_child(ptr, "contains"), "\"contains\"")) {
      ck.contains = *s;
      // Only the first max_body bytes are read, so a longer text never matches.
      if (s->size() > ck.max_body)
        c.err_at(pointer_child(ptr, "contains"),
                 "\"contains\" is " + std::to_string(s->size()) + " bytes, longer than max_body (" +
                     std::to_string(ck.max_body) + "); it could never match");
    }
  }
  if (v.contains("host"))
    if (auto s = c.string_at(v["host"], pointer_child(ptr, "host"), "\"host\"")) ck.host = *s;
  if (v.contains("tls_verify")) {
    const std::string tptr = pointer_child(ptr, "tls_verify");
    if (!v["tls_verify"].is_boolean()) {
      c.err_at(tptr, "\"tls_verify\" must be true or false");
    } else if (!ck.tls) {
      c.err_key(tptr, "\"tls_verify\" is for https:// URLs only");
    } else {
      ck.tls_verify = v["tls_verify"].get<bool>();
    }
  }
}

void exec_check(Validator& c, const json& v, const std::string& ptr, Check& ck) {
  const std::string cptr = pointer_child(ptr, "command");
  if (!v.contains("command")) {
    c.err_at(ptr, "an exec check needs \"command\": [\"/usr/local/bin/check\", \"arg\"]");
    return;
  }
  if (!v["command"].is_array() || v["command"].empty()) {
    c.err_at(cptr, "\"command\" must be a non-empty array: the program and its arguments (no shell)");
    return;
  }
  for (std::size_t i = 0; i < v["command"].size(); ++i)
    if (auto s = c.string_at(v["command"][i], pointer_child(cptr, i), "a command argument"))
      ck.command.push_back(*s);
  if (!ck.command.empty() && ck.command[0].rfind('/', 0) != 0)
    c.err_at(pointer_child(cptr, 0), "the program \"" + ck.command[0] +
                                         "\" must be an absolute path (no shell, no PATH search)");
}

std::optional<Check> parse_check(Validator& c, const json& v, const std::string& ptr,
                                 std::set<std::string>& names) {
  if (!v.is_object()) {
    c.err_at(ptr, "a check is an object like {\"name\": \"web\", \"type\": \"tcp\", \"address\": "
                  "\"127.0.0.1:80\"}, found " + type_name(v));
    return std::nullopt;
  }
  const std::size_t before = c.error_count();
  c.check_keys(ptr, v, kCheckKeys, "a check");
  Check ck;
  check_name(c, v, ptr, names, ck);
  const std::string type = check_type(c, v, ptr, ck);
  check_schedule(c, v, ptr, ck);
  // Keys that belong to one type only.
  const std::vector<std::pair<std::string, std::string>> owner{
      {"address", "tcp"}, {"url", "http"},  {"expect", "http"},
      {"contains", "http"}, {"max_body", "http"}, {"host", "http"}, {"tls_verify", "http"}, {"command", "exec"}};
  for (const auto& [key, t] : owner)
    if (!type.empty() && v.contains(key) && t != type)
      c.err_key(pointer_child(ptr, key), "\"" + key + "\" is for " + t + " checks, not " + type);
  if (type == "tcp") tcp_check(c, v, ptr, ck);
  if (type == "http") http_check(c, v, ptr, ck);
  if (type == "exec") exec_check(c, v, ptr, ck);
  if (c.error_count() != before) return std::nullopt;
  return ck;
}

}  // namespace

// health.tcp_gate: {"listen": ["0.0.0.0:9797", "[::]:9797"]} (or one string).
void parse_tcp_gate(Validator& c, const json& g, Health& h, Origins& set) {
  const std::string ptr = "/health/tcp_gate";
  if (!g.is_object()) {
    c.err_at(ptr, "health.tcp_gate must be an object like {\"listen\": [\"0.0.0.0:9797\"]}");
    return;
  }
  c.check_keys(ptr, g, kGateKeys, "health.tcp_gate");
  if (!g.contains("listen")) {
    c.err_at(ptr, "health.tcp_gate needs \"listen\": [\"0.0.0.0:9797\"]");
    return;
  }
  const json& l = g["listen"];
  const std::string lptr = ptr + "/listen";
  set["health.tcp_gate.listen"] = c.where(lptr);
  h.tcp_gate.clear();  // a later file's list replaces an earlier one's, as health.listen does
  if (l.is_string()) {
    if (auto e = endpoint_at(c, l, lptr, "tcp_gate.listen")) h.tcp_gate.push_back(*e);
    return;
  }
  if (!l.is_array() || l.empty()) {
    c.err_at(lptr, "health.tcp_gate.listen must be a non-empty array like [\"0.0.0.0:9797\"]");
    return;
  }
  for (std::size_t i = 0; i < l.size(); ++i)
    if (auto e = endpoint_at(c, l[i], pointer_child(lptr, i), "tcp_gate.listen entry")) h.tcp_gate.push_back(*e);
}

// health.http: {"header_timeout": "3s", "keepalive_timeout": "3s",
// "send_timeout": "10s", "max_connections_per_source": 64}.
void parse_http_limits(Validator& c, const json& v, HttpLimits& l, Origins& set) {
  const std::string ptr = "/health/http";
  if (!v.is_object()) {
    c.err_at(ptr, "health.http must be an object like {\"header_timeout\": \"3s\"}, found " +
                      type_name(v));
    return;
  }
  c.check_keys(ptr, v, kHttpKeys, "health.http");
  using std::chrono::milliseconds;
  const std::vector<std::pair<std::string, milliseconds*>> timeouts{
      {"header_timeout", &l.header_timeout},
      {"keepalive_timeout", &l.keepalive_timeout},
      {"send_timeout", &l.send_timeout}};
  for (const auto& [key, into] : timeouts) {
    if (!v.contains(key)) continue;
    const std::string kptr = pointer_child(ptr, key);
    set["health.http." + key] = c.where(kptr);
    // A director's checker waits a few seconds at most; a minute is plenty.
    if (auto d = c.duration_at(v[key], kptr, "health.http." + key, milliseconds(100),
                               milliseconds(60'000)))
      *into = *d;
  }
  if (v.contains("max_connections_per_source")) {
    const std::string kptr = pointer_child(ptr, "max_connections_per_source");
    set["health.http.max_connections_per_source"] = c.where(kptr);
    if (auto x = c.int_at(v["max_connections_per_source"], kptr,
                          "health.http.max_connections_per_source", 1, 4096))
      l.max_connections_per_source = *x;
  }
}

void parse_health(Validator& c, const json& v, Health& h, Origins& set) {
  if (!v.is_object()) {
    c.err_at("/health", "\"health\" must be an object, found " + type_name(v));
    return;
  }
  c.check_keys("/health", v, kHealthKeys, "\"health\"");
  if (v.contains("listen")) {
    const std::string lptr = "/health/listen";
    set["health.listen"] = c.where(lptr);
    if (!v["listen"].is_array() || v["listen"].empty()) {
      c.err_at(lptr, "health.listen must be a non-empty array like [\"0.0.0.0:9799\"]");
    } else {
      h.listen.clear();
      for (std::size_t i = 0; i < v["listen"].size(); ++i)
        if (auto e = endpoint_at(c, v["listen"][i], pointer_child(lptr, i), "health.listen entry"))
          h.listen.push_back(*e);
    }
  }
  if (v.contains("allow")) {
    const std::string aptr = "/health/allow";
    set["health.allow"] = c.where(aptr);
    if (!v["allow"].is_array()) {
      c.err_at(aptr, "health.allow must be an array of networks like [\"198.51.100.0/24\"]");
    } else {
      h.allow.clear();
      for (std::size_t i = 0; i < v["allow"].size(); ++i) {
        const std::string eptr = pointer_child(aptr, i);
        auto s = c.string_at(v["allow"][i], eptr, "a health.allow entry");
        if (!s) continue;
        if (auto cidr = parse_cidr(*s)) {
          h.allow.push_back(*cidr);
        } else {
          c.err_at(eptr, "\"" + *s + "\" is not a network like \"198.51.100.0/24\" or an address");
        }
      }
    }
  }
  if (v.contains("checks")) {
    if (!v["checks"].is_array()) {
      c.err_at("/health/checks", "health.checks must be an array of checks");
    } else {
      std::set<std::string> names;
      for (std::size_t i = 0; i < v["checks"].size(); ++i) {
        const std::string ptr = pointer_child("/health/checks", i);
        if (auto ck = parse_check(c, v["checks"][i], ptr, names)) {
          set["health.checks." + ck->name] = c.where(ptr);
          h.checks.push_back(std::move(*ck));
        }
      }
    }
  }
  if (v.contains("agent_check")) {
    const json& a = v["agent_check"];
    if (!a.is_object()) {
      c.err_at("/health/agent_check", "health.agent_check must be an object like {\"listen\": \"0.0.0.0:9798\"}");
    } else {
      c.check_keys("/health/agent_check", a, kAgentKeys, "health.agent_check");
      if (!a.contains("listen")) {
        c.err_at("/health/agent_check", "health.agent_check needs \"listen\": \"0.0.0.0:9798\"");
      } else {
        set["health.agent_check.listen"] = c.where("/health/agent_check/listen");
        h.agent_check = endpoint_at(c, a["listen"], "/health/agent_check/listen", "agent_check.listen");
      }
    }
  }
  if (v.contains("tcp_gate")) parse_tcp_gate(c, v["tcp_gate"], h, set);
  if (v.contains("http")) parse_http_limits(c, v["http"], h.http, set);
  if (v.contains("maintenance_file")) {
    set["health.maintenance_file"] = c.where("/health/maintenance_file");
    if (auto s = c.string_at(v["maintenance_file"], "/health/maintenance_file", "maintenance_file")) {
      if (s->rfind('/', 0) != 0) {
        c.err_at("/health/maintenance_file", "maintenance_file must be an absolute path");
      } else {
        h.maintenance_file = *s;
      }
    }
  }
}

void parse_stop(Validator& c, const json& v, Stop& s, Origins& set) {
  if (!v.is_object()) {
    c.err_at("/stop", "\"stop\" must be an object like {\"drain\": \"10s\"}, found " + type_name(v));
    return;
  }
  c.check_keys("/stop", v, kStopKeys, "\"stop\"");
  if (v.contains("drain")) {
    set["stop.drain"] = c.where("/stop/drain");
    auto d = c.duration_at(v["drain"], "/stop/drain", "stop.drain", std::chrono::milliseconds(0),
                           std::chrono::milliseconds(3'600'000));
    if (!d) return;
    // systemd kills the daemon at the unit's TimeoutStopSec: a longer drain
    // would end in SIGKILL before the revert, with the VIPs left behind.
    if (*d > kMaxStopDrain) {
      c.err_at("/stop/drain", "stop.drain is longer than the service allows: the unit stops rsagent after " +
                                  std::to_string(kUnitStopTimeout.count() / 60000) +
                                  " min (TimeoutStopSec) and the revert needs the last minute; use at most \"" +
                                  std::to_string(kMaxStopDrain.count() / 60000) +
                                  "m\"");
      return;
    }
    s.drain = *d;
  }
}

}  // namespace detail
}  // namespace rsagent::config
