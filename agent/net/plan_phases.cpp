#include "rsagent/net/plan_phases.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace rsagent::net {

namespace {

template <typename Entry, typename Pred>
const Entry* find_entry(const Journal& j, Pred pred) {
  for (const auto& e : j.entries)
    if (const auto* x = std::get_if<Entry>(&e); x && pred(*x)) return x;
  return nullptr;
}

std::string quote(const std::string& s) { return "\"" + s + "\""; }

Action address_action(Action::Kind kind, const AddressSpec& spec) {
  Action a;
  a.kind = kind;
  a.address = spec;
  return a;
}

Action route_action(Action::Kind kind, const RouteSpec& spec) {
  Action a;
  a.kind = kind;
  a.route = spec;
  return a;
}

Action sysctl_action(const SysctlKey& key, int from, int to) {
  Action a;
  a.kind = Action::Kind::kWriteSysctl;
  a.key = key;
  a.from = from;
  a.to = to;
  return a;
}

}  // namespace

const Link* loopback_link(const ObservedState& have) {
  for (const auto& l : have.links)
    if (l.loopback || l.name == kLoopback) return &l;
  return nullptr;
}

Phase plan_sysctls(const DesiredState& want, const ObservedState& have, const Journal& prior) {
  Phase p;
  for (const auto& s : want.sysctls) {
    const auto* pe = find_entry<SysctlEntry>(prior, [&](const SysctlEntry& e) { return e.key == s.key; });
    // Where the kernel has it: an interface renamed since rsagent wrote its
    // settings keeps its index, and rsagent follows it there (as the revert
    // does); the journal keeps the configured name and the index.
    SysctlKey at = s.key;
    auto it = have.sysctls.find(at);
    if (it == have.sysctls.end() && pe && pe->ifindex > 0) {
      if (const Link* l = have.link_by_index(pe->ifindex); l && l->name != at.iface) {
        at.iface = l->name;
        it = have.sysctls.find(at);
        if (it != have.sysctls.end())
          p.notes.push_back("interface " + s.key.iface + " is now called " + l->name + ": its " + s.key.name +
                            " is kept there");
      }
    }
    if (it == have.sysctls.end()) {
      p.errors.push_back("arp.interfaces names " + quote(s.key.iface) +
                         ", but this host has no such interface (/proc/sys/" + s.key.path() +
                         " is missing); create the interface first or remove it from "
                         "arp.interfaces");
      continue;
    }
    const int cur = it->second;
    int ifindex = 0;
    for (const auto& l : have.links)
      if (l.name == at.iface) ifindex = l.ifindex;
    // The original is the value before rsagent's first write, recorded once.
    // A value found while running (someone wrote it since) is healed, never
    // adopted as the original: stop would otherwise put back a passing
    // write, such as an arp_ignore that answers no ARP at all. Only an
    // interface of the same name but another index (deleted and made
    // again) starts afresh: its settings are new. Index 0 is "all",
    // "default", or an entry written before indexes were recorded.
    const bool same_iface = pe && (pe->ifindex == 0 || ifindex == 0 || pe->ifindex == ifindex);
    const int original = same_iface ? pe->original : cur;
    if (cur != s.value) p.actions.push_back(sysctl_action(at, cur, s.value));
    p.entries.emplace_back(SysctlEntry{s.key, original, s.value, ifindex});
  }
  return p;
}

Phase plan_addresses(const DesiredState& want, const ObservedState& have, const Journal& prior,
                     const Link& lo) {
  Phase p;
  // Indexes, so a plan for 10000 VIPs is not 10000 x 10000 comparisons.
  std::multimap<IpAddress, const ObservedAddress*> addrs_by_ip;
  for (const auto& o : have.addresses) addrs_by_ip.emplace(o.address, &o);
  std::map<IpAddress, const AddressEntry*> prior_addrs;
  for (const auto& e : prior.entries)
    if (const auto* a = std::get_if<AddressEntry>(&e)) prior_addrs.emplace(a->spec.address, a);

  for (const auto& a : want.addresses) {
    const ObservedAddress* on_lo = nullptr;
    const auto [first, last] = addrs_by_ip.equal_range(a.address);
    for (auto it = first; it != last; ++it) {
      const ObservedAddress& o = *it->second;
      if (o.ifindex == lo.ifindex) {
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
    if (!on_lo) {
      p.actions.push_back(address_action(Action::Kind::kAddAddress, a));
      p.entries.emplace_back(AddressEntry{a, true});
      continue;
    }
    const bool created = pe && pe->created;
    if (created && a.address.family == Family::kV4 && on_lo->label != a.label) {
      // A label is part of the address; changing it means re-adding.
      p.actions.push_back(address_action(Action::Kind::kDelAddress, pe->spec));
      p.actions.push_back(address_action(Action::Kind::kAddAddress, a));
    }
    if (!pe) {
      p.notes.push_back("adopting " + a.address.str() + " already on lo" +
                        (on_lo->label.empty() || on_lo->label == "lo"
                             ? std::string()
                             : " (label " + on_lo->label + ")") +
                        ": rsagent did not create it and will leave it in place on stop");
    }
    p.entries.emplace_back(AddressEntry{a, created});
  }
  return p;
}

Phase plan_routes(const DesiredState& want, const ObservedState& have, const Journal& prior,
                  const Link& lo) {
  Phase p;
  std::map<IpAddress, const RouteEntry*> prior_routes;
  for (const auto& e : prior.entries)
    if (const auto* r = std::get_if<RouteEntry>(&e); r && r->spec.type == RouteType::kUnicast)
      prior_routes.emplace(r->spec.dst, r);
  std::map<std::tuple<std::uint32_t, IpAddress, int, std::uint32_t>, const ObservedRoute*> routes_by_key;
  for (const auto& o : have.routes) routes_by_key.emplace(std::make_tuple(o.table, o.dst, o.prefix, o.metric), &o);

  for (const auto& r : want.routes) {
    const auto sr = routes_by_key.find(std::make_tuple(r.table, r.dst, r.prefix, r.metric));
    const ObservedRoute* same = sr == routes_by_key.end() ? nullptr : sr->second;
    const auto pr = prior_routes.find(r.dst);
    const RouteEntry* pe = pr == prior_routes.end() ? nullptr : pr->second;
    if (same && same->oif != lo.ifindex) {
      p.errors.push_back("the main table already routes " + r.dst.str() + "/" +
                         std::to_string(r.prefix) + " via " +
                         (same->oif ? have.link_name(same->oif) : std::string("a gateway")) +
                         " (proto " + std::to_string(same->protocol) +
                         "); remove that route, or set \"routes\": false");
      continue;
    }
    if (!same) {
      p.actions.push_back(route_action(Action::Kind::kAddRoute, r));
      p.entries.emplace_back(RouteEntry{r, true});
      continue;
    }
    if (!pe)
      p.notes.push_back("adopting the existing route " + r.dst.str() + "/" + std::to_string(r.prefix) +
                        " dev lo: rsagent did not create it and will leave it in place on stop");
    p.entries.emplace_back(RouteEntry{r, pe && pe->created});
  }
  return p;
}

Phase plan_leaving(const DesiredState& want, const ObservedState& have, const Journal& prior) {
  Phase p;
  std::set<IpAddress> wanted_addrs;
  for (const auto& a : want.addresses) wanted_addrs.insert(a.address);
  std::set<IpAddress> wanted_routes;
  for (const auto& r : want.routes) wanted_routes.insert(r.dst);
  std::set<std::pair<IpAddress, int>> wanted_local = kept_for_addresses(want, have, prior);
  for (const auto& r : want.local_routes) wanted_local.emplace(r.dst, r.prefix);
  std::set<SysctlKey> wanted_keys;
  for (const auto& s : want.sysctls) wanted_keys.insert(s.key);

  std::vector<Action> routes;
  std::vector<Action> addresses;
  std::vector<Action> local_routes;
  std::vector<Action> sysctls;
  for (auto it = prior.entries.rbegin(); it != prior.entries.rend(); ++it) {
    if (const auto* r = std::get_if<RouteEntry>(&*it)) {
      const bool local = r->spec.type == RouteType::kLocal;
      const bool wanted = local ? wanted_local.count({r->spec.dst, r->spec.prefix}) > 0
                                : wanted_routes.count(r->spec.dst) > 0;
      if (wanted || !r->created) continue;
      (local ? local_routes : routes).push_back(route_action(Action::Kind::kDelRoute, r->spec));
      p.leaving.push_back(*r);
    } else if (const auto* a = std::get_if<AddressEntry>(&*it)) {
      if (wanted_addrs.count(a->spec.address) || !a->created ||
          (a->spec.dev.empty() && a->spec.address.is_loopback()))
        continue;
      addresses.push_back(address_action(Action::Kind::kDelAddress, a->spec));
      p.leaving.push_back(*a);
    } else if (const auto* s = std::get_if<SysctlEntry>(&*it)) {
      if (wanted_keys.count(s->key)) continue;
      auto cur = have.sysctls.find(s->key);
      if (cur == have.sysctls.end()) continue;  // interface gone: nothing to restore
      if (cur->second != s->wrote) {
        p.warnings.push_back(s->key.str() + " is " + std::to_string(cur->second) + ", not the " +
                             std::to_string(s->wrote) +
                             " rsagent wrote: someone changed it since; leaving it (original " +
                             std::to_string(s->original) + ")");
        continue;
      }
      if (s->original == s->wrote) continue;
      sysctls.push_back(sysctl_action(s->key, cur->second, s->original));
      p.leaving.push_back(*s);
    }
  }
  for (auto* group : {&routes, &addresses, &local_routes, &sysctls})
    p.actions.insert(p.actions.end(), group->begin(), group->end());
  std::reverse(p.leaving.begin(), p.leaving.end());  // collected newest first
  return p;
}

}  // namespace rsagent::net
