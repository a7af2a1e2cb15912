#include "rsagent/config/config.hpp"

#include "rsagent/util/fs.hpp"
#include "rsagent/util/text.hpp"
#include "validator.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/stat.h>

namespace rsagent::config {

namespace {

using nlohmann::json;
using detail::did_you_mean;
using detail::type_name;

const std::vector<std::string> kTopKeys{"vips",      "vip_mode", "arp",         "routes", "health",
                                        "stop",      "arp_guard", "attribution", "tunnel", "fleet"};
const std::vector<std::string> kVipKeys{"address", "label", "mode"};
const std::vector<std::string> kArpKeys{"ignore", "announce", "interfaces"};

// Per-file result before merging: the file's settings over the defaults,
// and which settings it names (only those are merged).
struct Partial {
  Config cfg;
  detail::Origins set;
};

class FileValidator : public detail::Validator {
 public:
  using Validator::Validator;

  Partial run(const JsoncDoc& doc) {
    Partial out;
    const json& root = doc.root;
    if (!root.is_object()) {
      err_at("", "the configuration must be a JSON object ({ ... }), found " + type_name(root));
      return out;
    }
    check_keys("", root, kTopKeys, "top level");
    if (root.contains("vips")) out.cfg.vips = vips(root["vips"]);
    if (root.contains("vip_mode")) {
      out.set["vip_mode"] = where("/vip_mode");
      if (auto m = mode_at(root["vip_mode"], "/vip_mode", "\"vip_mode\"")) out.cfg.vip_mode = *m;
    }
    if (root.contains("arp")) arp(root["arp"], out.cfg.arp, out.set);
    if (root.contains("routes")) {
      out.set["routes"] = where("/routes");
      if (root["routes"].is_boolean()) {
        out.cfg.routes = root["routes"].get<bool>();
      } else {
        err_at("/routes", "\"routes\" must be true or false, found " + type_name(root["routes"]));
      }
    }
    if (root.contains("health")) detail::parse_health(*this, root["health"], out.cfg.health, out.set);
    if (root.contains("stop")) detail::parse_stop(*this, root["stop"], out.cfg.stop, out.set);
    if (root.contains("arp_guard"))
      detail::parse_arp_guard(*this, root["arp_guard"], out.cfg.arp_guard, out.set);
    if (root.contains("attribution"))
      detail::parse_attribution(*this, root["attribution"], out.cfg.attribution, out.set);
    if (root.contains("tunnel")) detail::parse_tunnel(*this, root["tunnel"], out.cfg.tunnel, out.set);
    if (root.contains("fleet")) detail::parse_fleet(*this, root["fleet"], out.cfg.fleet, out.set);
    return out;
  }

 private:
  std::vector<Vip> vips(const json& v) {
    std::vector<Vip> out;
    if (!v.is_array()) {
      err_at("/vips", "\"vips\" must be an array of addresses, found " + type_name(v));
      return out;
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
      const std::string ptr = pointer_child("/vips", i);
      if (auto vip = one_vip(v[i], ptr)) out.push_back(std::move(*vip));
    }
    return out;
  }

  // "address" or "route"; nullopt (with an error) for anything else.
  std::optional<VipMode> mode_at(const json& v, const std::string& ptr, const std::string& what) {
    if (v.is_string() && v.get<std::string>() == "address") return VipMode::kAddress;
    if (v.is_string() && v.get<std::string>() == "route") return VipMode::kRoute;
    err_at(ptr, what + " must be \"address\" (an address on lo) or \"route\" (a local route on lo), found " +
                    (v.is_string() ? "\"" + v.get<std::string>() + "\"" : type_name(v)));
    return std::nullopt;
  }

  std::optional<Vip> one_vip(const json& v, const std::string& ptr) {
    std::string addr_ptr = ptr;
    const json* addr = &v;
    std::optional<std::string> label;
    std::optional<VipMode> mode;
    bool ok = true;
    if (v.is_object()) {
      check_keys(ptr, v, kVipKeys, "a VIP");
      if (v.contains("mode")) {
        mode = mode_at(v["mode"], pointer_child(ptr, "mode"), "\"mode\"");
        ok = ok && mode.has_value();
      }
      if (!v.contains("address")) {
        err_at(ptr, "VIP object has no \"address\"; write {\"address\": \"198.51.100.100\"}");
        return std::nullopt;
      }
      addr_ptr = pointer_child(ptr, "address");
      addr = &v["address"];
      if (v.contains("label")) {
        const std::string lptr = pointer_child(ptr, "label");
        if (!v["label"].is_string()) {
          err_at(lptr, "\"label\" must be a string like \"lo:web\", found " + type_name(v["label"]));
          ok = false;
        } else {
          label = v["label"].get<std::string>();
        }
      }
    } else if (!v.is_string()) {
      err_at(ptr, "a VIP is an address string or {\"address\": ...}, found " + type_name(v));
      return std::nullopt;
    }
    if (!addr->is_string()) {
      err_at(addr_ptr, "\"address\" must be a string, found " + type_name(*addr));
      return std::nullopt;
    }
    const std::string text = addr->get<std::string>();
    int prefix = 0;
    auto parsed = parse_vip_text(text, addr_ptr, prefix);
    if (!parsed) return std::nullopt;
    Vip vip;
    vip.address = *parsed;
    vip.prefix = prefix;
    vip.origin = where(addr_ptr);
    vip.mode_written = mode;
    if (label) {
      const std::string lptr = pointer_child(ptr, "label");
      if (parsed->family == Family::kV6) {
        err_at(lptr, "label on IPv6 VIP " + parsed->str() +
                         ": Linux labels only IPv4 addresses; remove \"label\"");
        ok = false;
      } else if (label->rfind("lo:", 0) != 0 || label->size() < 4) {
        err_at(lptr, "label \"" + *label +
                         "\" must start with \"lo:\" and name an alias, e.g. \"lo:web\"");
        ok = false;
      } else if (label->size() > 15) {
        err_at(lptr, "label \"" + *label + "\" is " + std::to_string(label->size()) +
                         " bytes; Linux allows at most 15");
        ok = false;
      } else if (label->find_first_of(" \t\n/") != std::string::npos) {
        err_at(lptr, "label \"" + *label + "\" must not contain whitespace or '/'");
        ok = false;
      }
      vip.label = *label;
      vip.label_origin = where(lptr);
    }
    // The default label, the mode and what a prefix may be are settled once
    // vip_mode is known from every file (detail::settle_vips).
    if (!ok) return std::nullopt;
    return vip;
  }

  // The address and its prefix length (the host prefix when none is
  // written). Whether a shorter prefix is allowed depends on the VIP's mode,
  // decided after the merge.
  std::optional<IpAddress> parse_vip_text(const std::string& text, const std::string& ptr,
                                               int& prefix_out) {
    std::string host = text;
    std::optional<int> prefix;
    if (const auto slash = text.find('/'); slash != std::string::npos) {
      host = text.substr(0, slash);
      const std::string p = text.substr(slash + 1);
      if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos) {
        err_at(ptr, "\"" + text + "\" is not an IP address (bad prefix length)");
        return std::nullopt;
      }
      prefix = std::stoi(p);
    }
    auto a = IpAddress::parse(host);
    if (!a) {
      err_at(ptr, "\"" + text + "\" is not an IPv4 or IPv6 address");
      return std::nullopt;
    }
    if (prefix && *prefix > a->max_prefix()) {
      err_at(ptr, "\"" + text + "\" is not an IP address (prefix longer than /" +
                      std::to_string(a->max_prefix()) + ")");
      return std::nullopt;
    }
    prefix_out = prefix.value_or(a->max_prefix());
    if (prefix_out != a->max_prefix()) return a;  // a range: checked whole once its mode is known
    if (const std::string why = a->unusable_as_vip(); !why.empty()) {
      err_at(ptr, a->str() + " " + why + "; a VIP must be a unicast host address");
      return std::nullopt;
    }
    return a;
  }

  std::optional<int> small_int(const json& obj, const std::string& ptr, const char* key, int lo,
                               int hi, const std::string& meaning) {
    const std::string kptr = pointer_child(ptr, key);
    const json& v = obj[key];
    if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi) {
      err_at(kptr, std::string("arp.") + key + " must be an integer " + std::to_string(lo) + "-" +
                       std::to_string(hi) + " (" + meaning + "), found " +
                       (v.is_number() ? v.dump() : type_name(v)));
      return std::nullopt;
    }
    return static_cast<int>(v.get<std::int64_t>());
  }

  void arp(const json& v, Arp& out, detail::Origins& set) {
    if (!v.is_object()) {
      err_at("/arp", "\"arp\" must be an object like {\"ignore\": 1, \"announce\": 2}, found " +
                         type_name(v));
      return;
    }
    check_keys("/arp", v, kArpKeys, "\"arp\"");
    if (v.contains("ignore")) {
      set["arp.ignore"] = where("/arp/ignore");
      if (auto x = small_int(v, "/arp", "ignore", 0, 8, "1 is what DR needs")) {
        // 0 answers ARP for the VIPs on every interface (the flux this
        // setting exists to stop), 3 for every address not of host scope,
        // 4-7 are reserved: only 1, 2 and 8 keep the VIPs silent.
        if (*x == 1 || *x == 2 || *x == 8) {
          out.ignore = *x;
        } else {
          err_at("/arp/ignore", "arp.ignore " + std::to_string(*x) +
                                    " would let this server answer ARP for the VIPs and steal "
                                    "the director's traffic; use 1 (what DR needs), 2 or 8");
        }
      }
    }
    if (v.contains("announce")) {
      set["arp.announce"] = where("/arp/announce");
      if (auto x = small_int(v, "/arp", "announce", 0, 2, "2 is what DR needs")) {
        // Below 2 an ARP request may carry a VIP as its sender address.
        if (*x == 2) {
          out.announce = *x;
        } else {
          err_at("/arp/announce", "arp.announce " + std::to_string(*x) +
                                      " lets ARP requests carry a VIP as sender and teach the "
                                      "router to bypass the director; use 2");
        }
      }
    }
    if (v.contains("interfaces")) {
      const json& ifs = v["interfaces"];
      const std::string iptr = "/arp/interfaces";
      set["arp.interfaces"] = where(iptr);
      if (!ifs.is_array()) {
        err_at(iptr, "arp.interfaces must be an array of interface names, found " + type_name(ifs));
        return;
      }
      out.interfaces.clear();
      for (std::size_t i = 0; i < ifs.size(); ++i) {
        const std::string eptr = pointer_child(iptr, i);
        if (!ifs[i].is_string()) {
          err_at(eptr, "an interface name must be a string, found " + type_name(ifs[i]));
          continue;
        }
        const std::string name = ifs[i].get<std::string>();
        if (!valid_interface_name(name)) {
          err_at(eptr, "\"" + name +
                           "\" is not a valid interface name (1-15 bytes, no '/', ':' or "
                           "whitespace; \"all\" and \"default\" are allowed)");
          continue;
        }
        if (std::find(out.interfaces.begin(), out.interfaces.end(), name) != out.interfaces.end()) {
          err_at(eptr, "interface \"" + name + "\" is listed twice in arp.interfaces");
          continue;
        }
        out.interfaces.push_back(name);
      }
    }
  }
};

// The settings that merge by replacement: a later file that names one
// replaces the earlier value; the others it leaves alone. (vips and
// health.checks concatenate instead, above.)
struct Setting {
  const char* name;
  void (*take)(Config& to, const Config& from);
};
const Setting kSettings[] = {
    {"arp.ignore", [](Config& t, const Config& f) { t.arp.ignore = f.arp.ignore; }},
    {"arp.announce", [](Config& t, const Config& f) { t.arp.announce = f.arp.announce; }},
    {"arp.interfaces", [](Config& t, const Config& f) { t.arp.interfaces = f.arp.interfaces; }},
    {"vip_mode", [](Config& t, const Config& f) { t.vip_mode = f.vip_mode; }},
    {"routes", [](Config& t, const Config& f) { t.routes = f.routes; }},
    {"health.listen", [](Config& t, const Config& f) { t.health.listen = f.health.listen; }},
    {"health.allow", [](Config& t, const Config& f) { t.health.allow = f.health.allow; }},
    {"health.agent_check.listen",
     [](Config& t, const Config& f) { t.health.agent_check = f.health.agent_check; }},
    {"health.tcp_gate.listen", [](Config& t, const Config& f) { t.health.tcp_gate = f.health.tcp_gate; }},
    {"health.maintenance_file",
     [](Config& t, const Config& f) { t.health.maintenance_file = f.health.maintenance_file; }},
    {"health.http.header_timeout",
     [](Config& t, const Config& f) { t.health.http.header_timeout = f.health.http.header_timeout; }},
    {"health.http.keepalive_timeout",
     [](Config& t, const Config& f) { t.health.http.keepalive_timeout = f.health.http.keepalive_timeout; }},
    {"health.http.send_timeout",
     [](Config& t, const Config& f) { t.health.http.send_timeout = f.health.http.send_timeout; }},
    {"health.http.max_connections_per_source",
     [](Config& t, const Config& f) {
       t.health.http.max_connections_per_source = f.health.http.max_connections_per_source;
     }},
    {"stop.drain", [](Config& t, const Config& f) { t.stop.drain = f.stop.drain; }},
    {"arp_guard.probe", [](Config& t, const Config& f) { t.arp_guard.probe = f.arp_guard.probe; }},
    {"arp_guard.interval", [](Config& t, const Config& f) { t.arp_guard.interval = f.arp_guard.interval; }},
    {"arp_guard.probes_per_second",
     [](Config& t, const Config& f) { t.arp_guard.probes_per_second = f.arp_guard.probes_per_second; }},
    {"arp_guard.window", [](Config& t, const Config& f) { t.arp_guard.window = f.arp_guard.window; }},
    {"arp_guard.on_leak", [](Config& t, const Config& f) { t.arp_guard.on_leak = f.arp_guard.on_leak; }},
    {"attribution.enabled",
     [](Config& t, const Config& f) { t.attribution.enabled = f.attribution.enabled; }},
    // A "tunnel" section anywhere turns tunnel mode on; its keys merge one by one.
    {"tunnel", [](Config& t, const Config& /*f*/) { if (!t.tunnel) t.tunnel.emplace(); }},
    {"tunnel.device", [](Config& t, const Config& f) { t.tunnel->device = f.tunnel->device; }},
    {"tunnel.device6", [](Config& t, const Config& f) { t.tunnel->device6 = f.tunnel->device6; }},
    {"tunnel.type", [](Config& t, const Config& f) { t.tunnel->type = f.tunnel->type; }},
    {"tunnel.address", [](Config& t, const Config& f) { t.tunnel->address = f.tunnel->address; }},
    {"tunnel.mss", [](Config& t, const Config& f) { t.tunnel->mss = f.tunnel->mss; }},
    {"fleet.etcd", [](Config& t, const Config& f) {
       t.fleet.endpoints = f.fleet.endpoints;
       t.fleet.cert = f.fleet.cert;
       t.fleet.key = f.fleet.key;
       t.fleet.ca = f.fleet.ca;
     }},
    {"fleet.name", [](Config& t, const Config& f) { t.fleet.name = f.fleet.name; }},
    {"fleet.prefix", [](Config& t, const Config& f) { t.fleet.prefix = f.fleet.prefix; }},
    {"fleet.ttl", [](Config& t, const Config& f) { t.fleet.ttl = f.fleet.ttl; }},
    {"fleet.drain_budget", [](Config& t, const Config& f) {
       t.fleet.drain_budget = f.fleet.drain_budget;
       t.fleet.drain_budget_percent = f.fleet.drain_budget_percent;
     }},
};

// What only the merged configuration can tell: settings from different
// files (or a default) that clash. Two of rsagent's own listeners on one
// port with overlapping addresses would fail the start at bind(): say
// which, at the later listener, naming where the other came from.
void check_merged(const Config& cfg, std::vector<Diagnostic>& errors) {
  const Health& h = cfg.health;
  const auto any = [](const IpAddress& a) {
    return std::all_of(a.bytes.begin(), a.bytes.end(), [](std::uint8_t b) { return b == 0; });
  };
  const auto overlap = [&](const Endpoint& a, const Endpoint& b) {
    return a.port == b.port && a.address.family == b.address.family &&
           (a.address == b.address || any(a.address) || any(b.address));
  };
  const auto from = [&](const std::string& setting) {
    const auto it = cfg.origins.find(setting);
    return it == cfg.origins.end() ? std::string(" (the default)") : " (set at " + it->second.str() + ")";
  };
  const auto clash = [&](const std::string& setting, const std::string& what, const Endpoint& e,
                         const std::string& other_setting, const std::string& other, const Endpoint& o) {
    const auto at = cfg.origins.find(setting);
    if (at == cfg.origins.end()) return;  // two defaults never clash
    errors.push_back(Diagnostic{at->second.file, at->second.pos,
                                what + " " + e.str() + " collides with " + other + " " + o.str() +
                                    from(other_setting) + "; give each listener its own port"});
  };
  if (h.agent_check)
    for (const auto& l : h.listen)
      if (overlap(*h.agent_check, l))
        clash("health.agent_check.listen", "agent_check.listen", *h.agent_check, "health.listen",
              "health.listen", l);
  for (const auto& g : h.tcp_gate) {
    for (const auto& l : h.listen)
      if (overlap(g, l)) clash("health.tcp_gate.listen", "tcp_gate.listen", g, "health.listen", "health.listen", l);
    if (h.agent_check && overlap(g, *h.agent_check))
      clash("health.tcp_gate.listen", "tcp_gate.listen", g, "health.agent_check.listen",
            "agent_check.listen", *h.agent_check);
  }
}

// Messages quote what the files hold (keys, values, file names): made
// printable here, once, so that no byte of a broken file reaches a
// terminal, a log or a JSON dump as it is.
void make_printable(std::vector<Diagnostic>& errors) {
  for (auto& d : errors) {
    d.file = text::printable(d.file);
    d.message = text::printable(d.message);
  }
}

std::optional<std::string> read_file(const std::string& path, std::string& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    err = std::strerror(errno);
    return std::nullopt;
  }
  return ss.str();
}

}  // namespace

std::string Origin::str() const {
  return file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
}

std::string Diagnostic::str() const {
  return file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col) + ": " + message;
}


LoadResult parse_sources(const std::vector<Source>& sources) {
  LoadResult result;
  Config cfg;
  std::map<std::pair<IpAddress, int>, Origin> seen;  // address/prefix -> its first declaration
  std::vector<std::string> order;         // file names as messages show them
  for (const auto& src : sources) {
    const std::string name = text::printable(src.name);
    order.push_back(name);
    cfg.files.push_back(name);
    auto parsed = parse_jsonc(src.text);
    if (auto* e = std::get_if<JsoncError>(&parsed)) {
      result.errors.push_back(Diagnostic{name, e->pos, e->message});
      continue;
    }
    const auto& doc = std::get<JsoncDoc>(parsed);
    const Partial part = FileValidator(name, doc, result.errors).run(doc);
    for (const auto& vip : part.cfg.vips) {
      if (auto [it, fresh] = seen.emplace(std::make_pair(vip.address, vip.prefix), vip.origin); !fresh) {
        result.errors.push_back(Diagnostic{vip.origin.file, vip.origin.pos,
                                           "duplicate VIP " + vip.str() + " (first declared at " +
                                               it->second.str() + "); remove one"});
        continue;
      }
      cfg.vips.push_back(vip);
    }
    for (const auto& ck : part.cfg.health.checks) {
      const std::string key = "health.checks." + ck.name;
      const Origin& at = part.set.at(key);
      if (const auto first = cfg.origins.find(key); first != cfg.origins.end()) {
        result.errors.push_back(Diagnostic{at.file, at.pos, "duplicate check name \"" + ck.name +
                                                                "\" (first declared at " +
                                                                first->second.str() + "); rename one"});
        continue;
      }
      cfg.health.checks.push_back(ck);
      cfg.origins[key] = at;
    }
    for (const auto& s : kSettings) {
      if (const auto it = part.set.find(s.name); it != part.set.end()) {
        s.take(cfg, part.cfg);
        cfg.origins[s.name] = it->second;
      }
    }
  }
  detail::settle_vips(cfg, result.errors);
  check_merged(cfg, result.errors);
  detail::check_tunnel(cfg, result.errors);
  // A budget is kept in etcd: without an endpoint no node could count it.
  if (const auto b = cfg.origins.find("fleet.drain_budget"); b != cfg.origins.end() && !cfg.fleet.enabled())
    result.errors.push_back(Diagnostic{b->second.file, b->second.pos,
                                       "fleet.drain_budget needs fleet.etcd.endpoints: the budget is kept in etcd"});
  // Operators fix files top to bottom: list errors in file order, then by
  // position (validators find them in key order).
  const auto rank = [&](const Diagnostic& d) {
    return std::find(order.begin(), order.end(), d.file) - order.begin();
  };
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [&](const Diagnostic& a, const Diagnostic& b) {
                     if (rank(a) != rank(b)) return rank(a) < rank(b);
                     if (a.pos.line != b.pos.line) return a.pos.line < b.pos.line;
                     return a.pos.col < b.pos.col;
                   });
  make_printable(result.errors);
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

LoadResult load(const std::string& main_path) {
  std::vector<Source> sources;
  std::string err;
  const auto fail = [](std::string file, std::string message) {
    LoadResult r;
    r.errors.push_back(Diagnostic{std::move(file), Pos{}, std::move(message)});
    make_printable(r.errors);
    return r;
  };
  auto main_text = read_file(main_path, err);
  if (!main_text) return fail(main_path, "cannot read the configuration: " + err);
  sources.push_back(Source{main_path, std::move(*main_text)});

  const std::string dir = fs::parent_dir(main_path) + "/conf.d";
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* ent = readdir(d)) {
      const std::string n = ent->d_name;
      // Only *.json, and not hidden files: editors and dpkg leave .swp,
      // .dpkg-old and similar siblings that must never be loaded.
      if (n.size() > 5 && n[0] != '.' && n.compare(n.size() - 5, 5, ".json") == 0)
        names.push_back(n);
    }
    closedir(d);
  } else if (errno != ENOENT) {
    return fail(dir, std::string("cannot read the conf.d folder: ") + std::strerror(errno));
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    const std::string path = dir + "/" + n;
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) continue;
    auto text = read_file(path, err);
    if (!text) return fail(path, "cannot read: " + err);
    sources.push_back(Source{path, std::move(*text)});
  }
  return parse_sources(sources);
}

}  // namespace rsagent::config
