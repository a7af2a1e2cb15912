#include "rsagent/verdict/net_health.hpp"

#include "rsagent/net/plan.hpp"
#include "rsagent/net/plan_phases.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace rsagent::verdict {

namespace {

// The names ip-route(8) prints for the protocols a local route usually has.
std::string protocol_name(std::uint8_t p) {
  switch (p) {
    case 2: return "kernel";
    case 3: return "boot";
    case 4: return "static";
    case net::kRouteProtocol: return "rsagent";
    default: return std::to_string(p);
  }
}

// An adopted local route as the kernel has it, not as rsagent would have
// made it: its metric and protocol are the owner's.
std::string observed_str(const net::RouteSpec& spec, const net::ObservedRoute& o) {
  std::string s = "local " + spec.dst.str() + "/" + std::to_string(spec.prefix) + " dev lo table local";
  if (o.metric != 0) s += " metric " + std::to_string(o.metric);
  return s + " proto " + protocol_name(o.protocol);
}

}  // namespace

std::string tunnel_rp_filter_problem(const net::ObservedState& have, const std::string& device) {
  const net::Link* dev = have.link_by_name(device);
  if (dev == nullptr) return "tunnel device " + device + " is missing";
  const auto get = [&](const std::string& iface) {
    const auto it = have.sysctls.find(net::SysctlKey{iface, "rp_filter"});
    return it == have.sysctls.end() ? 0 : it->second;
  };
  const bool has_v4 = std::any_of(have.addresses.begin(), have.addresses.end(), [&](const net::ObservedAddress& o) {
    return o.ifindex == dev->ifindex && o.address.family == Family::kV4;
  });
  const int all = get("all");
  const int mine = get(device);
  if (net::rp_filter_passes(all, mine, has_v4)) return "";
  return "effective rp_filter on " + device + " is " + std::to_string(std::max(all, mine)) + " (all=" +
         std::to_string(all) + ", " + device + "=" + std::to_string(mine) + ")" +
         (has_v4 ? std::string() : " and it has no IPv4 address") +
         ": the kernel drops every decapsulated packet";
}

NetDetail describe_state(const net::Journal& j, const net::ObservedState& have) {
  NetDetail d;
  const net::Link* lo = nullptr;
  for (const auto& l : have.links)
    if (l.loopback) lo = &l;
  const int lo_index = lo ? lo->ifindex : -1;
  // Indexed: this runs every few seconds, with up to tens of thousands of VIPs.
  std::set<IpAddress> on_lo;
  for (const auto& o : have.addresses)
    if (o.ifindex == lo_index) on_lo.insert(o.address);
  std::set<std::tuple<IpAddress, std::uint32_t, std::uint32_t>> lo_routes;
  // Local routes on lo not made for an address.
  std::map<std::pair<IpAddress, int>, const net::ObservedRoute*> lo_local;
  for (const auto& o : have.routes) {
    if (o.oif != lo_index) continue;
    lo_routes.emplace(o.dst, o.table, o.metric);
    if (o.type == net::RouteType::kLocal && o.protocol != net::kKernelProtocol)
      lo_local.emplace(std::make_pair(o.dst, o.prefix), &o);
  }
  for (const auto& e : j.entries) {
    if (const auto* l = std::get_if<net::LinkEntry>(&e)) {
      const net::Link* now = have.link_by_name(l->spec.name);
      const bool up = now != nullptr && now->up;
      d.tunnel.push_back({l->spec.name + " up", l->created, up});
      if (now == nullptr) {
        d.drift.push_back("tunnel device " + l->spec.name + " is missing");
      } else if (!up) {
        d.drift.push_back("tunnel device " + l->spec.name + " is down");
      }
      continue;
    }
    if (const auto* c = std::get_if<net::ClampEntry>(&e)) {
      const std::string set = "maxseg size set " + std::to_string(c->mss);
      const bool present = have.clamp_listing && have.clamp_listing->find(set) != std::string::npos;
      d.tunnel.push_back({"mss clamp " + std::to_string(c->mss), true, present});
      if (!present)
        d.drift.push_back(std::string("the MSS clamp (nft table inet ") + net::kClampTable + ") is missing");
      continue;
    }
    if (const auto* a = std::get_if<net::AddressEntry>(&e); a && !a->spec.dev.empty()) {
      const net::Link* dev = have.link_by_name(a->spec.dev);
      const bool present = dev != nullptr && std::any_of(have.addresses.begin(), have.addresses.end(),
                                                         [&](const net::ObservedAddress& o) {
                                                           return o.ifindex == dev->ifindex &&
                                                                  o.address == a->spec.address;
                                                         });
      d.tunnel.push_back({a->spec.str(), a->created, present});
      if (!present) d.drift.push_back("tunnel address " + a->spec.str() + " is missing");
      continue;
    }
    if (const auto* a = std::get_if<net::AddressEntry>(&e)) {
      const bool present = on_lo.count(a->spec.address) > 0;
      d.vips.push_back({a->spec.address.str(), a->spec.prefix, a->spec.label, a->created, present});
      if (!present) d.drift.push_back("VIP " + a->spec.address.str() + " is missing from lo");
    } else if (const auto* r = std::get_if<net::RouteEntry>(&e); r && r->spec.type == net::RouteType::kLocal) {
      // A route-mode VIP: listed with the VIPs (and its route with the
      // routes); present when a local route for exactly it is on lo, rsagent's
      // or the adopted one.
      const auto found = lo_local.find({r->spec.dst, r->spec.prefix});
      const bool present = found != lo_local.end();
      d.vips.push_back({r->spec.dst.str(), r->spec.prefix, "", r->created, present, "route"});
      d.routes.push_back({present && !r->created ? observed_str(r->spec, *found->second) : r->spec.str(),
                          r->created, present});
      if (!present)
        d.drift.push_back("VIP " + r->spec.dst.str() + "/" + std::to_string(r->spec.prefix) +
                          " (route mode) is not local: its local route is missing from the local table");
    } else if (const auto* r = std::get_if<net::RouteEntry>(&e)) {
      const bool present = lo_routes.count(std::make_tuple(r->spec.dst, r->spec.table, r->spec.metric)) > 0;
      d.routes.push_back({r->spec.str(), r->created, present});
      if (!present) d.drift.push_back("route " + r->spec.str() + " is missing");
    } else if (const auto* s = std::get_if<net::SysctlEntry>(&e)) {
      // A renamed interface keeps its index: its settings are read under
      // its new name, as the revert restores them.
      auto it = have.sysctls.find(s->key);
      if (it == have.sysctls.end() && s->ifindex > 0)
        if (const net::Link* l = have.link_by_index(s->ifindex))
          it = have.sysctls.find(net::SysctlKey{l->name, s->key.name});
      const bool exists = it != have.sysctls.end();
      d.sysctls.push_back({s->key.str(), s->wrote, s->original, exists, exists ? it->second : 0});
      if (!exists) {
        d.drift.push_back(s->key.str() + " no longer exists");
      } else if (it->second != s->wrote) {
        d.drift.push_back(s->key.str() + " is " + std::to_string(it->second) + ", wanted " +
                          std::to_string(s->wrote));
      }
    }
  }
  return d;
}

NetPolicy net_policy(const config::Config& cfg) {
  const bool wants_all = std::any_of(cfg.arp.interfaces.begin(), cfg.arp.interfaces.end(),
                                     [](const std::string& i) { return i == "all"; });
  const bool any_v4 = std::any_of(cfg.vips.begin(), cfg.vips.end(), [](const config::Vip& v) {
    return v.address.family == Family::kV4;
  });
  NetPolicy p;
  p.check_arp_leaks = wants_all && any_v4;
  if (cfg.tunnel) p.tunnel_device = cfg.tunnel->device;
  return p;
}

NetHealth judge_network(const NetDetail& detail, const net::ObservedState& have,
                        const NetPolicy& policy, const std::string& repair_error) {
  if (!detail.drift.empty()) return {true, false, detail.drift.front()};
  if (!repair_error.empty()) return {true, false, repair_error};
  if (policy.check_arp_leaks)
    if (auto leaks = net::arp_leaks(have); !leaks.empty()) return {true, false, leaks.front()};
  if (!policy.tunnel_device.empty())
    if (auto why = tunnel_rp_filter_problem(have, policy.tunnel_device); !why.empty()) return {true, false, why};
  return {true, true, ""};
}

}  // namespace rsagent::verdict
