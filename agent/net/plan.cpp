#include "rsagent/net/plan.hpp"

#include "rsagent/net/plan_phases.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace rsagent::net {

namespace {

std::string quote(const std::string& s) { return "\"" + s + "\""; }

// arp_ignore values under which a host does not answer ARP for an address
// held only on lo: 1 (target must be on the receiving interface), 2 (and in
// its subnet), 8 (never). 0, 3 and the reserved 4-7 all answer for a global VIP.
bool ignore_is_safe(int v) { return v == 1 || v == 2 || v == 8; }

// The kernel uses the larger of conf/all and conf/<if>: the fix is on
// whichever of the two decides.
std::string ignore_fix(const std::string& ifname, int all_v, int if_v) {
  if (if_v >= all_v)
    return "the larger value is " + ifname + "'s own (" + std::to_string(if_v) + "): add " +
           quote(ifname) + " to arp.interfaces with ignore 1, or lower it to 1";
  return "the larger value is all's (" + std::to_string(all_v) + "): add \"all\" to arp.interfaces with ignore 1";
}

}  // namespace

std::string Action::str() const {
  switch (kind) {
    case Kind::kWriteSysctl:
      return "set " + key.str() + " " + std::to_string(from) + " -> " + std::to_string(to);
    case Kind::kAddAddress: return "add address " + address.str();
    case Kind::kDelAddress: return "delete address " + address.str();
    case Kind::kAddRoute: return "add route " + route.str();
    case Kind::kDelRoute: return "delete route " + route.str();
    case Kind::kAddLink: return "add link " + link.str() + " up";
    case Kind::kDelLink: return "delete link " + link.name;
    case Kind::kLinkUp: return "set link " + link.name + " up";
    case Kind::kLinkDown: return "set link " + link.name + " down";
    case Kind::kSetClamp:
      return std::string("set nft table inet ") + kClampTable + " (SYN-ACK MSS at most " + std::to_string(clamp.mss) +
             " from " + std::to_string(clamp.sources.size()) + " VIP(s))";
    case Kind::kDelClamp: return std::string("delete nft table inet ") + kClampTable;
  }
  return "?";
}

Action Action::inverse() const {
  Action a = *this;
  switch (kind) {
    case Kind::kWriteSysctl: std::swap(a.from, a.to); break;
    case Kind::kAddAddress: a.kind = Kind::kDelAddress; break;
    case Kind::kDelAddress: a.kind = Kind::kAddAddress; break;
    case Kind::kAddRoute: a.kind = Kind::kDelRoute; break;
    case Kind::kDelRoute: a.kind = Kind::kAddRoute; break;
    case Kind::kAddLink: a.kind = Kind::kDelLink; break;
    case Kind::kDelLink: a.kind = Kind::kAddLink; break;
    case Kind::kLinkUp: a.kind = Kind::kLinkDown; break;
    case Kind::kLinkDown: a.kind = Kind::kLinkUp; break;
    case Kind::kSetClamp: a.kind = Kind::kDelClamp; break;
    // What a deleted table held is not known here: the next plan makes it again.
    case Kind::kDelClamp: break;
  }
  return a;
}

DesiredState desired_state(const config::Config& cfg) {
  DesiredState d;
  bool any_v4 = false;
  for (const auto& vip : cfg.vips) {
    const bool v4 = vip.address.family == Family::kV4;
    any_v4 = any_v4 || v4;
    d.origins.emplace(vip.address, vip.origin.str());
    if (vip.mode == config::VipMode::kRoute) {
      // The local route is all a route-mode VIP needs: no address, and no
      // main-table route (the local table is looked up first).
      RouteSpec r{vip.address, vip.prefix, kLocalTable, kLocalRouteMetric, RouteType::kLocal};
      d.local_routes.push_back(r);
      continue;
    }
    d.addresses.push_back(AddressSpec{vip.address, vip.address.max_prefix(), v4 ? vip.label : "", ""});
    if (cfg.routes)
      d.routes.push_back(RouteSpec{vip.address, vip.address.max_prefix(), kMainTable,
                                   v4 ? 0U : 1024U});
  }
  // ARP tuning exists only for IPv4 VIPs; IPv6 neighbour discovery already
  // answers only for addresses on the receiving interface. A local route
  // makes its addresses answer ARP exactly as addresses on lo do (the kernel
  // checks the route type, arp_ignore applies the same), so route mode needs
  // the same values.
  if (any_v4) {
    for (const auto& ifname : cfg.arp.interfaces) {
      d.sysctls.push_back(SysctlSetting{SysctlKey{ifname, "arp_ignore"}, cfg.arp.ignore});
      d.sysctls.push_back(SysctlSetting{SysctlKey{ifname, "arp_announce"}, cfg.arp.announce});
    }
  }
  if (cfg.tunnel) {
    // Tunnel mode: the VIPs stay on lo as in direct routing; packets for
    // them arrive encapsulated and come out of these devices.
    TunnelWant t;
    if (!cfg.tunnel->device.empty()) {
      t.links.push_back(LinkSpec{cfg.tunnel->device, cfg.tunnel->type});
      t.device = cfg.tunnel->device;
      if (cfg.tunnel->address)
        t.address = AddressSpec{cfg.tunnel->address->network, cfg.tunnel->address->prefix, "",
                                cfg.tunnel->device};
    }
    if (!cfg.tunnel->device6.empty()) t.links.push_back(LinkSpec{cfg.tunnel->device6, "ip6tnl"});
    if (cfg.tunnel->mss > 0 && !cfg.vips.empty()) {
      ClampSpec c;
      c.mss = cfg.tunnel->mss;
      for (const auto& vip : cfg.vips) c.sources.emplace_back(vip.address, vip.prefix);
      t.clamp = std::move(c);
    }
    d.tunnel = std::move(t);
  }
  return d;
}

std::vector<SysctlKey> keys_to_observe(const DesiredState& want, const Journal& prior,
                                       const std::vector<Link>& links) {
  std::set<SysctlKey> keys;
  for (const auto& s : want.sysctls) keys.insert(s.key);
  for (const auto& e : prior.entries)
    if (const auto* s = std::get_if<SysctlEntry>(&e)) keys.insert(s->key);
  for (const char* name : {"arp_ignore", "arp_announce"}) {
    keys.insert(SysctlKey{"all", name});
    for (const auto& l : links) keys.insert(SysctlKey{l.name, name});
  }
  if (want.tunnel && !want.tunnel->device.empty()) {
    // The effective rp_filter of the device, and what a new device gets.
    for (const char* iface : {"all", "default"}) keys.insert(SysctlKey{iface, "rp_filter"});
    keys.insert(SysctlKey{want.tunnel->device, "rp_filter"});
  }
  return {keys.begin(), keys.end()};
}

// Deletions are collected and swept in one pass (one erase per delete was
// quadratic for a reload that drops thousands of VIPs); an add of something
// pending deletion (a relabel) sweeps first, so the order still holds.
ObservedState after_plan(ObservedState have, const Plan& plan) {
  const Link* lo = have.link_by_name(kLoopback);
  const int lo_index = lo ? lo->ifindex : 0;
  auto& addrs = have.addresses;
  auto& routes = have.routes;
  using RouteKey = std::tuple<RouteType, std::uint32_t, IpAddress, int, std::uint32_t>;
  const auto key_of = [](const auto& r) { return RouteKey{r.type, r.table, r.dst, r.prefix, r.metric}; };
  std::set<IpAddress> gone_addrs;
  std::set<RouteKey> gone_routes;
  const auto sweep = [&] {
    if (!gone_addrs.empty())
      std::erase_if(addrs, [&](const ObservedAddress& o) {
        return o.ifindex == lo_index && gone_addrs.count(o.address);
      });
    if (!gone_routes.empty() || !gone_addrs.empty())
      std::erase_if(routes, [&](const ObservedRoute& o) {
        if (o.protocol == kKernelProtocol) return o.table == kLocalTable && gone_addrs.count(o.dst) > 0;
        return o.protocol == kRouteProtocol && gone_routes.count(key_of(o));
      });
    gone_addrs.clear();
    gone_routes.clear();
  };
  for (const auto& a : plan.actions) {
    switch (a.kind) {
      case Action::Kind::kWriteSysctl: have.sysctls[a.key] = a.to; break;
      case Action::Kind::kAddAddress:
        if (!a.address.dev.empty()) {
          // A tunnel device's address; the device may be new (index unknown).
          const Link* l = have.link_by_name(a.address.dev);
          addrs.push_back({a.address.address, a.address.prefix, l ? l->ifindex : 0, a.address.label});
          break;
        }
        if (gone_addrs.count(a.address.address)) sweep();
        addrs.push_back({a.address.address, a.address.prefix, lo_index, a.address.label});
        // The kernel's local route of the address comes with it (IPv6: a
        // moment later, from its address work).
        routes.push_back({a.address.address, a.address.address.max_prefix(), kLocalTable, 0,
                          kKernelProtocol, lo_index, RouteType::kLocal});
        break;
      case Action::Kind::kDelAddress:
        if (!a.address.dev.empty()) {
          const Link* l = have.link_by_name(a.address.dev);
          std::erase_if(addrs, [&](const ObservedAddress& o) {
            return l && o.ifindex == l->ifindex && o.address == a.address.address;
          });
          break;
        }
        gone_addrs.insert(a.address.address);
        break;
      case Action::Kind::kAddRoute:
        if (gone_routes.count(key_of(a.route))) sweep();
        routes.push_back({a.route.dst, a.route.prefix, a.route.table, a.route.metric, kRouteProtocol,
                          lo_index, a.route.type});
        break;
      case Action::Kind::kDelRoute: gone_routes.insert(key_of(a.route)); break;
      case Action::Kind::kAddLink: {
        int next = 1;
        for (const auto& l : have.links) next = std::max(next, l.ifindex + 1);
        have.links.push_back(Link{next, a.link.name, true, false});
        break;
      }
      case Action::Kind::kDelLink:
        std::erase_if(have.links, [&](const Link& l) { return l.name == a.link.name; });
        break;
      case Action::Kind::kLinkUp:
      case Action::Kind::kLinkDown:
        for (auto& l : have.links)
          if (l.name == a.link.name) l.up = a.kind == Action::Kind::kLinkUp;
        break;
      case Action::Kind::kSetClamp: have.clamp_listing = a.clamp.ruleset(); break;
      case Action::Kind::kDelClamp: have.clamp_listing.reset(); break;
    }
  }
  sweep();
  return have;
}

std::vector<std::string> arp_leaks(const ObservedState& have) {
  std::vector<std::string> out;
  const auto get = [&](const std::string& iface, const char* name) {
    auto it = have.sysctls.find(SysctlKey{iface, name});
    return it == have.sysctls.end() ? 0 : it->second;
  };
  for (const auto& l : have.links) {
    if (!l.up || l.loopback) continue;
    const int all_i = get("all", "arp_ignore");
    const int if_i = get(l.name, "arp_ignore");
    const int all_a = get("all", "arp_announce");
    const int if_a = get(l.name, "arp_announce");
    const int eff_i = std::max(all_i, if_i);
    const int eff_a = std::max(all_a, if_a);
    if (!ignore_is_safe(eff_i)) {
      out.push_back(l.name + ": effective arp_ignore is " + std::to_string(eff_i) + " (all=" +
                    std::to_string(all_i) + ", " + l.name + "=" + std::to_string(if_i) +
                    "): this host answers ARP for the VIPs on " + l.name +
                    " and steals the director's traffic; " + ignore_fix(l.name, all_i, if_i));
    }
    if (eff_a < 2) {
      out.push_back(l.name + ": effective arp_announce is " + std::to_string(eff_a) + " (all=" +
                    std::to_string(all_a) + ", " + l.name + "=" + std::to_string(if_a) +
                    "): ARP requests from " + l.name +
                    " may carry a VIP as sender and teach the router to bypass the director; "
                    "add \"all\" or " +
                    quote(l.name) + " to arp.interfaces with announce 2");
    }
  }
  return out;
}

Plan make_plan(const DesiredState& want, const ObservedState& have, const Journal& prior) {
  Plan p;
  const Link* lo = loopback_link(have);
  if (!lo) {
    p.errors.push_back("no loopback interface in this network namespace");
    return p;
  }
  if ((!want.addresses.empty() || !want.local_routes.empty()) && !lo->up) {
    p.errors.push_back(
        "lo is down, so VIPs on it would not be reachable and their routes cannot be added; "
        "bring it up with `ip link set lo up` (rsagent never changes lo's link state)");
  }
  // Tunnel mode decides its rp_filter values and device address against
  // the kernel; from here they are wanted like the configured ones, so the
  // ARP sysctls' healing and restoring serve them too.
  const TunnelPhase tunnel = plan_tunnel(want, have, prior);
  DesiredState with_tunnel;
  const DesiredState* wanted = &want;
  if (want.tunnel) {
    with_tunnel = want;
    with_tunnel.sysctls.insert(with_tunnel.sysctls.end(), tunnel.sysctls.begin(), tunnel.sysctls.end());
    if (tunnel.wanted_address) with_tunnel.addresses.push_back(*tunnel.wanted_address);
    for (const auto& e : tunnel.address.entries)
      if (const auto* s = std::get_if<SysctlEntry>(&e)) with_tunnel.sysctls.push_back({s->key, s->wrote});
    wanted = &with_tunnel;
  }
  DesiredState sysctl_want;  // plan_sysctls: only keys whose file exists now
  sysctl_want.sysctls = want.sysctls;
  sysctl_want.sysctls.insert(sysctl_want.sysctls.end(), tunnel.sysctls.begin(), tunnel.sysctls.end());
  const Phase sysctls = plan_sysctls(sysctl_want, have, prior);
  const Phase addresses = plan_addresses(want, have, prior, *lo);
  const Phase routes = plan_routes(want, have, prior, *lo);
  const Phase local_routes = plan_local_routes(want, have, prior, *lo);
  const Phase leaving = plan_leaving(*wanted, have, prior);
  const auto phases = {&tunnel.links, &sysctls,  &tunnel.address, &local_routes,
                       &addresses,    &routes,   &leaving,        &tunnel.leaving};
  for (const Phase* ph : phases) {
    p.errors.insert(p.errors.end(), ph->errors.begin(), ph->errors.end());
    p.warnings.insert(p.warnings.end(), ph->warnings.begin(), ph->warnings.end());
    p.notes.insert(p.notes.end(), ph->notes.begin(), ph->notes.end());
  }
  if (!p.errors.empty()) return p;

  // Tunnel devices first: their sysctls and address need them. ARP
  // sysctls next: no VIP may exist on lo while this host still answers
  // ARP for it. Everything new goes in before anything old goes out, so
  // a VIP moving between address and route mode is local throughout, and
  // stale ARP values are restored last, once no VIP that needed them is
  // left; a device rsagent made goes after everything on it.
  for (const Phase* ph : phases)
    p.actions.insert(p.actions.end(), ph->actions.begin(), ph->actions.end());
  for (const Phase* ph : {&tunnel.links, &sysctls, &tunnel.address, &local_routes, &addresses, &routes})
    p.journal.entries.insert(p.journal.entries.end(), ph->entries.begin(), ph->entries.end());
  // Objects being removed stay in the write-ahead record until they are gone.
  p.intent.entries = tunnel.leaving.leaving;
  p.intent.entries.insert(p.intent.entries.end(), leaving.leaving.begin(), leaving.leaving.end());
  p.intent.entries.insert(p.intent.entries.end(), p.journal.entries.begin(), p.journal.entries.end());

  const auto v4 = [](const IpAddress& a) { return a.family == Family::kV4; };
  if (std::any_of(want.addresses.begin(), want.addresses.end(), [&](const AddressSpec& a) { return v4(a.address); }) ||
      std::any_of(want.local_routes.begin(), want.local_routes.end(), [&](const RouteSpec& r) { return v4(r.dst); })) {
    // The leak check reads only links and sysctls, as they will be.
    ObservedState after;
    after.links = have.links;
    after.sysctls = have.sysctls;
    for (const auto& a : p.actions)
      if (a.kind == Action::Kind::kWriteSysctl) after.sysctls[a.key] = a.to;
    for (auto& w : arp_leaks(after)) p.warnings.push_back(std::move(w));
  }
  return p;
}

Journal follow_renamed_interfaces(const Journal& journal, const std::vector<Link>& links,
                                  std::vector<std::string>& notes) {
  Journal out;
  for (const auto& e : journal.entries) {
    const auto* s = std::get_if<SysctlEntry>(&e);
    if (s == nullptr || s->ifindex <= 0) {
      out.entries.push_back(e);
      continue;
    }
    const auto link = std::find_if(links.begin(), links.end(),
                                   [&](const Link& l) { return l.ifindex == s->ifindex; });
    if (link == links.end()) {
      notes.push_back(s->key.str() + ": interface " + s->key.iface + " (index " + std::to_string(s->ifindex) +
                      ") is gone, and its settings with it; nothing to restore");
      continue;
    }
    SysctlEntry moved = *s;
    if (link->name != s->key.iface) {
      notes.push_back("interface " + s->key.iface + " is now called " + link->name + ": restoring its " +
                      s->key.name + " there");
      moved.key.iface = link->name;
    }
    out.entries.push_back(moved);
  }
  return out;
}

Plan make_revert_plan(const Journal& journal, const ObservedState& have) {
  Plan p;
  p.intent = journal;
  for (auto it = journal.entries.rbegin(); it != journal.entries.rend(); ++it) {
    if (std::holds_alternative<ClampEntry>(*it)) {
      Action a;
      a.kind = Action::Kind::kDelClamp;  // gone already: success
      p.actions.push_back(a);
    } else if (const auto* l = std::get_if<LinkEntry>(&*it)) {
      const Link* now = have.link_by_name(l->spec.name);
      if (now == nullptr || !(l->created || (l->raised && now->up))) continue;
      Action a;
      a.kind = l->created ? Action::Kind::kDelLink : Action::Kind::kLinkDown;
      a.link = l->spec;
      p.actions.push_back(a);
    } else if (const auto* r = std::get_if<RouteEntry>(&*it)) {
      if (!r->created) continue;
      Action del;
      del.kind = Action::Kind::kDelRoute;
      del.route = r->spec;
      p.actions.push_back(del);
    } else if (const auto* a = std::get_if<AddressEntry>(&*it)) {
      // Never remove lo's own 127.0.0.0/8 or ::1, whatever a journal says
      // (a tunnel device's 127.0.0.42 is rsagent's to remove).
      if (!a->created || (a->spec.dev.empty() && a->spec.address.is_loopback())) continue;
      Action del;
      del.kind = Action::Kind::kDelAddress;
      del.address = a->spec;
      p.actions.push_back(del);
    } else if (const auto* s = std::get_if<SysctlEntry>(&*it)) {
      auto cur = have.sysctls.find(s->key);
      if (cur == have.sysctls.end()) {
        p.notes.push_back(s->key.str() + " no longer exists (interface removed); nothing to restore");
        continue;
      }
      if (cur->second != s->wrote) {
        p.warnings.push_back(s->key.str() + " is " + std::to_string(cur->second) + ", not the " +
                             std::to_string(s->wrote) +
                             " rsagent wrote: an admin changed it while rsagent ran; keeping the "
                             "admin's value (the original was " +
                             std::to_string(s->original) + ")");
        continue;
      }
      if (s->original == s->wrote) continue;
      Action w;
      w.kind = Action::Kind::kWriteSysctl;
      w.key = s->key;
      w.from = cur->second;
      w.to = s->original;
      p.actions.push_back(w);
    }
  }
  return p;
}

}  // namespace rsagent::net
