// The "tunnel" section: tunnel mode's devices and the device address.
#include "validator.hpp"

namespace rsagent::config::detail {

namespace {
using nlohmann::json;
const std::vector<std::string> kTunnelKeys{"device", "device6", "type", "address", "mss"};

// A device rsagent may adopt or create: a valid name that is not lo (never
// touched) nor a sysctl pseudo-interface.
std::optional<std::string> device_at(Validator& c, const json& v, const std::string& ptr,
                                     const std::string& what) {
  auto s = c.string_at(v, ptr, what);
  if (!s) return std::nullopt;
  if (!valid_interface_name(*s) || *s == "all" || *s == "default" || *s == "lo") {
    c.err_at(ptr, what + " \"" + *s +
                      "\" is not a tunnel device name: 1-15 characters, no '/', ':' or spaces, and not "
                      "lo, all or default (write \"tunl0\" for the ipip module's own device)");
    return std::nullopt;
  }
  return s;
}
}  // namespace

void parse_tunnel(Validator& c, const json& v, std::optional<Tunnel>& out, Origins& set) {
  set["tunnel"] = c.where("/tunnel");
  if (!v.is_object()) {
    c.err_at("/tunnel", "\"tunnel\" must be an object like {\"device\": \"tunl0\", \"type\": \"ipip\"}, found " +
                            type_name(v));
    return;
  }
  if (!out) out.emplace();
  Tunnel& t = *out;
  c.check_keys("/tunnel", v, kTunnelKeys, "\"tunnel\"");
  if (v.contains("device")) {
    set["tunnel.device"] = c.where("/tunnel/device");
    if (auto d = device_at(c, v["device"], "/tunnel/device", "tunnel.device")) t.device = *d;
  }
  if (v.contains("device6")) {
    set["tunnel.device6"] = c.where("/tunnel/device6");
    if (auto d = device_at(c, v["device6"], "/tunnel/device6", "tunnel.device6")) t.device6 = *d;
  }
  if (v.contains("type")) {
    set["tunnel.type"] = c.where("/tunnel/type");
    if (auto s = c.string_at(v["type"], "/tunnel/type", "tunnel.type")) {
      if (*s == "ipip") {
        t.type = *s;
      } else {
        c.err_at("/tunnel/type", "tunnel.type \"" + *s +
                                     "\" is not supported: \"ipip\" (IPv4 in IPv4, what LVS-TUN, Katran and "
                                     "GLB send) is the only type; IPv6 arrives on device6 (ip6tnl)");
      }
    }
  }
  if (v.contains("mss")) {
    set["tunnel.mss"] = c.where("/tunnel/mss");
    // IPv4's minimum MSS to the largest that fits a 64 KiB IPv6 packet.
    if (auto m = c.int_at(v["mss"], "/tunnel/mss", "tunnel.mss", 536, 65495)) t.mss = *m;
  }
  if (v.contains("address")) {
    set["tunnel.address"] = c.where("/tunnel/address");
    const json& a = v["address"];
    if (a.is_boolean() && !a.get<bool>()) {
      t.address.reset();
    } else if (a.is_string()) {
      const auto cidr = parse_cidr(a.get<std::string>());
      if (!cidr || cidr->network.family != Family::kV4 || cidr->prefix != 32) {
        c.err_at("/tunnel/address", "tunnel.address \"" + a.get<std::string>() +
                                        "\" must be one IPv4 address with /32, like \"127.0.0.42/32\" "
                                        "(Katran's choice), or false for none");
      } else {
        t.address = *cidr;
      }
    } else {
      c.err_at("/tunnel/address", "tunnel.address must be an IPv4 /32 like \"127.0.0.42/32\", or false, found " +
                                      type_name(a));
    }
  }
}

// What only the merged file set can tell.
void check_tunnel(const Config& cfg, std::vector<Diagnostic>& errors) {
  if (!cfg.tunnel) return;
  const auto at = [&](const char* key) {
    const auto it = cfg.origins.find(key);
    return it != cfg.origins.end() ? it->second : cfg.origins.at("tunnel");
  };
  if (!cfg.tunnel->device6.empty() && cfg.tunnel->device6 == cfg.tunnel->device) {
    const Origin o = at("tunnel.device6");
    errors.push_back(Diagnostic{o.file, o.pos,
                                "tunnel.device6 names " + cfg.tunnel->device +
                                    ", the IPv4 device too; IPv6 needs its own ip6tnl device (\"ip6tnl0\")"});
  }
}

}  // namespace rsagent::config::detail
