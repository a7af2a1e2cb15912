#include "rsagent/net/plan.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace rsagent::net {

namespace {

const Link* loopback_link(const ObservedState& have) {
  for (const auto& l : have.links)
    if (l.loopback || l.name == kLoopback) return &l;
  return nullptr;
}

template <typename Entry, typename Pred>
const Entry* find_entry(const Journal& j, Pred pred) {
  for (const auto& e : j.entries)
    if (const auto* x = std::get_if<Entry>(&e); x && pred(*x)) return x;
  return nullptr;
}

std::string quote(const std::string& s) { return "\"" + s + "\""; }

// arp_ignore values under which a host does not answer ARP for an address
// held only on lo: 1 (target must be on the receiving interface), 2 (and in
// its subnet), 8 (never). 0, 3 and the reserved 4-7 all answer for a global VIP.
bool ignore_is_safe(int v) { return v == 1 || v == 2 || v == 8; }

}  // namespace

std::string Action::str() const {
  switch (kind) {
    case Kind::kWriteSysctl:
      return "set " + key.str() + " " + std::to_string(from) + " -> " + std::to_string(to);
    case Kind::kAddAddress: return "add address " + address.str();
    case Kind::kDelAddress: return "delete address " + address.str();
    case Kind::kAddRoute: return "add route " + route.str();
    case Kind::kDelRoute: return "delete route " + route.str();
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
  }
  return a;
}

DesiredState desired_state(const config::Config& cfg) {
  DesiredState d;
  bool any_v4 = false;
  for (const auto& vip : cfg.vips) {
    const bool v4 = vip.address.family == Family::kV4;
    any_v4 = any_v4 || v4;
    d.addresses.push_back(AddressSpec{vip.address, vip.address.max_prefix(), v4 ? vip.label : ""});
    if (cfg.routes)
      d.routes.push_back(RouteSpec{vip.address, vip.address.max_prefix(), kMainTable,
                                   v4 ? 0U : 1024U});
  }
  // ARP tuning exists only for IPv4 VIPs; IPv6 neighbour discovery already
  // answers only for addresses on the receiving interface.
  if (any_v4) {
    for (const auto& ifname : cfg.arp.interfaces) {
      d.sysctls.push_back(SysctlSetting{SysctlKey{ifname, "arp_ignore"}, cfg.arp.ignore});
      d.sysctls.push_back(SysctlSetting{SysctlKey{ifname, "arp_announce"}, cfg.arp.announce});
    }
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
  return {keys.begin(), keys.end()};
}

ObservedState after_plan(ObservedState have, const Plan& plan) {
  const Link* lo = have.link_by_name(kLoopback);
  const int lo_index = lo ? lo->ifindex : 0;
  auto& addrs = have.addresses;
  auto& routes = have.routes;
  for (const auto& a : plan.actions) {
    switch (a.kind) {
      case Action::Kind::kWriteSysctl: have.sysctls[a.key] = a.to; break;
      case Action::Kind::kAddAddress:
        addrs.push_back({a.address.address, a.address.prefix, lo_index, a.address.label});
        break;
      case Action::Kind::kDelAddress:
        std::erase_if(addrs, [&](const ObservedAddress& o) {
          return o.address == a.address.address && o.ifindex == lo_index;
        });
        break;
      case Action::Kind::kAddRoute:
        routes.push_back({a.route.dst, a.route.prefix, a.route.table, a.route.metric, kRouteProtocol, lo_index});
        break;
      case Action::Kind::kDelRoute:
        std::erase_if(routes, [&](const ObservedRoute& o) {
          return o.dst == a.route.dst && o.table == a.route.table && o.metric == a.route.metric &&
                 o.protocol == kRouteProtocol;
        });
        break;
    }
  }
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
                    " and steals the director's traffic; add \"all\" or " + quote(l.name) +
                    " to arp.interfaces with ignore 1");
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
  std::vector<Action> sysctl_writes;
  std::vector<Action> stale_routes;
  std::vector<Action> stale_addresses;
  std::vector<Action> stale_sysctls;
  std::vector<Action> address_adds;
  std::vector<Action> route_adds;
  std::vector<JournalEntry> sys_entries;
  std::vector<JournalEntry> addr_entries;
  std::vector<JournalEntry> route_entries;
  ObservedState after = have;  // sysctls as they will be, for the leak check

  const Link* lo = loopback_link(have);
  if (!lo) {
    p.errors.push_back("no loopback interface in this network namespace");
    return p;
  }
  if (!want.addresses.empty() && !lo->up) {
    p.errors.push_back(
        "lo is down, so VIPs on it would not be reachable and their routes cannot be added; "
        "bring it up with `ip link set lo up` (rsagent never changes lo's link state)");
  }

  // 1. ARP sysctls first: no VIP may exist on lo while this host still
  // answers ARP for it.
  for (const auto& s : want.sysctls) {
    auto it = have.sysctls.find(s.key);
    if (it == have.sysctls.end()) {
      p.errors.push_back("arp.interfaces names " + quote(s.key.iface) +
                         ", but this host has no such interface (/proc/sys/" + s.key.path() +
                         " is missing); create the interface first or remove it from "
                         "arp.interfaces");
      continue;
    }
    const int cur = it->second;
    const auto* pe = find_entry<SysctlEntry>(prior, [&](const SysctlEntry& e) { return e.key == s.key; });
    // Keep the first original while the kernel still holds our own write;
    // a value someone else set since then is theirs and becomes the original.
    const int original = (pe && cur == pe->wrote) ? pe->original : cur;
    if (cur != s.value) {
      Action a;
      a.kind = Action::Kind::kWriteSysctl;
      a.key = s.key;
      a.from = cur;
      a.to = s.value;
      sysctl_writes.push_back(a);
    }
    after.sysctls[s.key] = s.value;
    int ifindex = 0;
    for (const auto& l : have.links)
      if (l.name == s.key.iface) ifindex = l.ifindex;
    sys_entries.emplace_back(SysctlEntry{s.key, original, s.value, ifindex});
  }

  // Indexes, so a plan for 10000 VIPs is not 10000 x 10000 comparisons.
  std::multimap<IpAddress, const ObservedAddress*> addrs_by_ip;
  for (const auto& o : have.addresses) addrs_by_ip.emplace(o.address, &o);
  std::map<IpAddress, const AddressEntry*> prior_addrs;
  std::map<IpAddress, const RouteEntry*> prior_routes;
  for (const auto& e : prior.entries) {
    if (const auto* a = std::get_if<AddressEntry>(&e)) prior_addrs.emplace(a->spec.address, a);
    if (const auto* r = std::get_if<RouteEntry>(&e)) prior_routes.emplace(r->spec.dst, r);
  }
  std::map<std::tuple<std::uint32_t, IpAddress, int, std::uint32_t>, const ObservedRoute*> routes_by_key;
  for (const auto& o : have.routes) routes_by_key.emplace(std::make_tuple(o.table, o.dst, o.prefix, o.metric), &o);

  // 2. Addresses on lo.
  std::set<IpAddress> wanted_addrs;
  for (const auto& a : want.addresses) {
    wanted_addrs.insert(a.address);
    const ObservedAddress* on_lo = nullptr;
    const auto [first, last] = addrs_by_ip.equal_range(a.address);
    for (auto it = first; it != last; ++it) {
      const ObservedAddress& o = *it->second;
      if (o.ifindex == lo->ifindex) {
        on_lo = &o;
      } else {
        p.errors.push_back(a.address.str() + " is already on " + have.link_name(o.ifindex) +
                           "; a real server must hold the VIP only on lo (is this the "
                           "director?). Remove it from " +
                           have.link_name(o.ifindex) + " or from the config");
      }
    }
    const auto pa = prior_addrs.find(a.address);
    const AddressEntry* pe = pa == prior_addrs.end() ? nullptr : pa->second;
    if (on_lo) {
      const bool created = pe && pe->created;
      const bool relabel = created && a.address.family == Family::kV4 && on_lo->label != a.label;
      if (relabel) {
        // A label is part of the address; changing it means re-adding.
        Action del;
        del.kind = Action::Kind::kDelAddress;
        del.address = pe->spec;
        address_adds.push_back(del);
        Action add;
        add.kind = Action::Kind::kAddAddress;
        add.address = a;
        address_adds.push_back(add);
      }
      if (!pe) {
        p.notes.push_back("adopting " + a.address.str() + " already on lo" +
                          (on_lo->label.empty() || on_lo->label == "lo"
                               ? std::string()
                               : " (label " + on_lo->label + ")") +
                          ": rsagent did not create it and will leave it in place on stop");
      }
      addr_entries.emplace_back(AddressEntry{a, created});
    } else {
      Action add;
      add.kind = Action::Kind::kAddAddress;
      add.address = a;
      address_adds.push_back(add);
      addr_entries.emplace_back(AddressEntry{a, true});
    }
  }

  // 3. Host routes in the main table.
  std::set<IpAddress> wanted_routes;
  for (const auto& r : want.routes) {
    wanted_routes.insert(r.dst);
    const auto sr = routes_by_key.find(std::make_tuple(r.table, r.dst, r.prefix, r.metric));
    const ObservedRoute* same = sr == routes_by_key.end() ? nullptr : sr->second;
    const auto pr = prior_routes.find(r.dst);
    const RouteEntry* pe = pr == prior_routes.end() ? nullptr : pr->second;
    if (same && same->oif != lo->ifindex) {
      p.errors.push_back("the main table already routes " + r.dst.str() + "/" +
                         std::to_string(r.prefix) + " via " +
                         (same->oif ? have.link_name(same->oif) : std::string("a gateway")) +
                         " (proto " + std::to_string(same->protocol) +
                         "); remove that route, or set \"routes\": false");
      continue;
    }
    if (same) {
      const bool created = pe && pe->created;
      if (!pe)
        p.notes.push_back("adopting the existing route " + r.dst.str() + "/" +
                          std::to_string(r.prefix) +
                          " dev lo: rsagent did not create it and will leave it in place on stop");
      route_entries.emplace_back(RouteEntry{r, created});
    } else {
      Action add;
      add.kind = Action::Kind::kAddRoute;
      add.route = r;
      route_adds.push_back(add);
      route_entries.emplace_back(RouteEntry{r, true});
    }
  }

  // 4. What the prior journal owns but the config no longer wants, newest first.
  std::vector<JournalEntry> leaving;
  for (auto it = prior.entries.rbegin(); it != prior.entries.rend(); ++it) {
    if (const auto* r = std::get_if<RouteEntry>(&*it)) {
      if (wanted_routes.count(r->spec.dst)) continue;
      if (r->created) {
        Action del;
        del.kind = Action::Kind::kDelRoute;
        del.route = r->spec;
        stale_routes.push_back(del);
        leaving.push_back(*r);
      }
    } else if (const auto* a = std::get_if<AddressEntry>(&*it)) {
      if (wanted_addrs.count(a->spec.address)) continue;
      if (a->created && !a->spec.address.is_loopback()) {
        Action del;
        del.kind = Action::Kind::kDelAddress;
        del.address = a->spec;
        stale_addresses.push_back(del);
        leaving.push_back(*a);
      }
    } else if (const auto* s = std::get_if<SysctlEntry>(&*it)) {
      const bool still_wanted = std::any_of(want.sysctls.begin(), want.sysctls.end(),
                                            [&](const SysctlSetting& w) { return w.key == s->key; });
      if (still_wanted) continue;
      auto cur = have.sysctls.find(s->key);
      if (cur == have.sysctls.end()) continue;  // interface gone: nothing to restore
      if (cur->second != s->wrote) {
        p.warnings.push_back(s->key.str() + " is " + std::to_string(cur->second) + ", not the " +
                             std::to_string(s->wrote) +
                             " rsagent wrote: someone changed it since; leaving it (original " +
                             std::to_string(s->original) + ")");
        continue;
      }
      if (s->original != s->wrote) {
        Action w;
        w.kind = Action::Kind::kWriteSysctl;
        w.key = s->key;
        w.from = cur->second;
        w.to = s->original;
        stale_sysctls.push_back(w);
        after.sysctls[s->key] = s->original;
        leaving.push_back(*s);
      }
    }
  }

  if (!p.errors.empty()) return p;

  // New ARP values go in before stale ones are restored, so the effective
  // value never dips while VIPs are on lo.
  for (auto* group : {&sysctl_writes, &stale_routes, &stale_addresses, &stale_sysctls,
                      &address_adds, &route_adds})
    p.actions.insert(p.actions.end(), group->begin(), group->end());
  for (auto* group : {&sys_entries, &addr_entries, &route_entries})
    p.journal.entries.insert(p.journal.entries.end(), group->begin(), group->end());
  p.intent = p.journal;
  // Objects being removed stay in the write-ahead record until they are gone.
  std::reverse(leaving.begin(), leaving.end());
  p.intent.entries.insert(p.intent.entries.begin(), leaving.begin(), leaving.end());

  if (std::any_of(want.addresses.begin(), want.addresses.end(),
                  [](const AddressSpec& a) { return a.address.family == Family::kV4; })) {
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
    if (const auto* r = std::get_if<RouteEntry>(&*it)) {
      if (!r->created) continue;
      Action del;
      del.kind = Action::Kind::kDelRoute;
      del.route = r->spec;
      p.actions.push_back(del);
    } else if (const auto* a = std::get_if<AddressEntry>(&*it)) {
      // Never remove 127.0.0.1 or ::1, whatever a journal says.
      if (!a->created || a->spec.address.is_loopback()) continue;
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
