// Phase 4 of make_plan: route-mode VIPs as local routes (plan_phases.hpp).
#include "rsagent/net/plan_phases.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace rsagent::net {

namespace {

using Key = std::pair<IpAddress, int>;  // a range: its network and prefix length

// What the kernel holds that bears on route-mode VIPs, sorted for range
// lookups: 100,000 VIPs against 100,000 routes must not be a product.
struct LocalIndex {
  std::vector<std::pair<Key, const ObservedRoute*>> routes;  // local routes by (first, prefix)
  std::set<int> prefixes;                                    // the prefix lengths among them
  std::vector<const ObservedAddress*> addresses;             // by address

  explicit LocalIndex(const ObservedState& have) {
    for (const auto& r : have.routes) {
      if (r.type != RouteType::kLocal || r.table != kLocalTable) continue;
      routes.push_back({{r.dst, r.prefix}, &r});
      prefixes.insert(r.prefix);
    }
    std::sort(routes.begin(), routes.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& a : have.addresses) addresses.push_back(&a);
    std::sort(addresses.begin(), addresses.end(),
              [](const ObservedAddress* a, const ObservedAddress* b) { return a->address < b->address; });
  }

  // Local routes for exactly `k`.
  [[nodiscard]] auto exact(const Key& k) const {
    return std::equal_range(routes.begin(), routes.end(), std::make_pair(k, nullptr),
                            [](const auto& a, const auto& b) { return a.first < b.first; });
  }

  // The first local route that overlaps `k` without being exactly it: one
  // inside the range (starting in it with a longer prefix), or one holding
  // it (a shorter prefix whose network contains it). CIDR blocks nest or are
  // apart, so these are all the cases. `skip` is for rsagent's own.
  template <typename Skip>
  [[nodiscard]] const ObservedRoute* overlap(const Key& k, Skip skip) const {
    const IpAddress last = k.first.with_host_bits(k.second, true);
    auto it = std::lower_bound(routes.begin(), routes.end(), Key{k.first, k.second + 1},
                               [](const auto& a, const Key& b) { return a.first < b; });
    for (; it != routes.end() && it->first.first <= last; ++it)
      if (it->first.first.family == k.first.family && !skip(*it->second)) return it->second;
    for (int q : prefixes) {
      if (q >= k.second) break;
      for (auto [b, e] = exact({k.first.with_host_bits(q, false), q}); b != e; ++b)
        if (b->first.first.family == k.first.family && !skip(*b->second)) return b->second;
    }
    return nullptr;
  }

  // Addresses inside `k`, on any interface.
  [[nodiscard]] std::vector<const ObservedAddress*> addresses_in(const Key& k) const {
    const IpAddress last = k.first.with_host_bits(k.second, true);
    auto it = std::lower_bound(addresses.begin(), addresses.end(), k.first,
                               [](const ObservedAddress* a, const IpAddress& b) { return a->address < b; });
    std::vector<const ObservedAddress*> out;
    for (; it != addresses.end() && (*it)->address <= last; ++it)
      if ((*it)->address.family == k.first.family) out.push_back(*it);
    return out;
  }
};

// What the kernel holds that a route-mode VIP `key` (`vip` in messages)
// must not meet: an address in it on another interface, an address in it on
// lo that rsagent does not own, a local route overlapping it (but not one
// `skip` says is rsagent's own or an address's).
template <typename Skip>
void refuse_conflicts(const Key& key, const std::string& vip, const LocalIndex& index,
                      const ObservedState& have, const Link& lo, const std::set<IpAddress>& owned,
                      Skip skip, std::vector<std::string>& errors) {
  for (const ObservedAddress* a : index.addresses_in(key)) {
    const std::string where = have.link_name(a->ifindex);
    if (a->ifindex != lo.ifindex) {
      errors.push_back(a->address.str() + " is already on " + where + ", inside " + vip +
                       "; a real server must hold the VIP only on lo (is this the director?). "
                       "Remove it from " + where + " or from the config");
    } else if (!owned.count(a->address)) {
      const std::string text = a->address.str() + "/" + std::to_string(a->prefix);
      errors.push_back(text + " is an address on lo that rsagent does not own, inside " + vip +
                       "; remove it (ip addr del " + text + " dev lo) or keep it out of the range");
    }
  }
  if (const ObservedRoute* o = index.overlap(key, skip)) {
    const std::string text = o->dst.str() + "/" + std::to_string(o->prefix);
    errors.push_back(vip + " overlaps the local route " + text + " dev " + have.link_name(o->oif) +
                     " (proto " + std::to_string(o->protocol) + ") in the local table; remove that route "
                     "(ip route del local " + text + " table local) or change the VIP");
  }
}

std::string range_str(const RouteSpec& r) {
  return r.prefix == r.dst.max_prefix() ? r.dst.str() : r.dst.str() + "/" + std::to_string(r.prefix);
}

}  // namespace

std::set<Key> kept_for_addresses(const DesiredState& want, const ObservedState& have, const Journal& prior) {
  std::set<Key> out;
  std::set<IpAddress> candidates;  // host local routes rsagent made
  for (const auto& e : prior.entries)
    if (const auto* r = std::get_if<RouteEntry>(&e);
        r && r->created && r->spec.type == RouteType::kLocal && r->spec.prefix == r->spec.dst.max_prefix())
      candidates.insert(r->spec.dst);
  if (candidates.empty()) return out;
  std::set<IpAddress> wanted_local;
  for (const auto& r : want.local_routes) wanted_local.insert(r.dst);
  std::set<IpAddress> local_now;  // addresses the kernel has made local
  for (const auto& o : have.routes)
    if (o.type == RouteType::kLocal && o.table == kLocalTable && o.protocol == kKernelProtocol)
      local_now.insert(o.dst);
  for (const auto& a : want.addresses)
    if (candidates.count(a.address) && !wanted_local.count(a.address) && !local_now.count(a.address))
      out.insert({a.address, a.prefix});
  return out;
}

Phase plan_local_routes(const DesiredState& want, const ObservedState& have, const Journal& prior,
                        const Link& lo) {
  Phase p;
  // Local routes of VIPs now in address mode whose address is not local yet.
  for (const auto& key : kept_for_addresses(want, have, prior)) {
    RouteSpec spec{key.first, key.second, kLocalTable, kLocalRouteMetric, RouteType::kLocal};
    p.notes.push_back("keeping the local route " + spec.str() + " until the address " + key.first.str() +
                      " is local");
    p.entries.emplace_back(RouteEntry{spec, true});
  }
  if (want.local_routes.empty()) return p;
  const LocalIndex index(have);
  std::map<Key, const RouteEntry*> prior_local;
  std::set<IpAddress> prior_addrs;  // addresses rsagent owns or adopted: a VIP changing mode
  for (const auto& e : prior.entries) {
    if (const auto* r = std::get_if<RouteEntry>(&e); r && r->spec.type == RouteType::kLocal)
      prior_local.emplace(Key{r->spec.dst, r->spec.prefix}, r);
    if (const auto* a = std::get_if<AddressEntry>(&e)) prior_addrs.insert(a->spec.address);
  }
  // rsagent's own local routes from the prior journal (a range being
  // narrowed or widened) do not count as overlapping: they are leaving. The
  // kernel's local routes of addresses on lo are the addresses, checked as such.
  const auto ours = [&](const ObservedRoute& r) {
    if (r.protocol == kKernelProtocol) return true;
    const auto it = prior_local.find({r.dst, r.prefix});
    return r.protocol == kRouteProtocol && it != prior_local.end() && it->second->created;
  };

  for (const auto& r : want.local_routes) {
    const Key key{r.dst, r.prefix};
    const auto origin = want.origins.find(r.dst);
    const std::string vip = "route-mode VIP " + range_str(r) +
                            (origin == want.origins.end() ? "" : " (declared at " + origin->second + ")");
    const std::size_t refusals = p.errors.size();
    refuse_conflicts(key, vip, index, have, lo, prior_addrs, ours, p.errors);
    const ObservedRoute* mine = nullptr;
    const ObservedRoute* foreign = nullptr;
    for (auto [b, e] = index.exact(key); b != e; ++b) {
      const ObservedRoute& o = *b->second;
      if (o.protocol == kKernelProtocol) continue;  // an address on lo: checked above
      if (o.oif != lo.ifindex) {
        p.errors.push_back(vip + " is already a local route on " + have.link_name(o.oif) +
                           "; a real server must hold the VIP only on lo. Remove that route or the VIP");
      } else if (o.protocol == kRouteProtocol && o.metric == r.metric) {
        mine = &o;
      } else {
        foreign = &o;
      }
    }
    if (p.errors.size() != refusals) continue;
    const auto pr = prior_local.find(key);
    const RouteEntry* pe = pr == prior_local.end() ? nullptr : pr->second;
    if (!mine && !foreign) {
      Action add;
      add.kind = Action::Kind::kAddRoute;
      add.route = r;
      p.actions.push_back(add);
      p.entries.emplace_back(RouteEntry{r, true});
      continue;
    }
    const bool created = mine != nullptr && pe != nullptr && pe->created;
    if (!pe || (!mine && pe->created))
      p.notes.push_back("adopting the existing local route " + range_str(r) + " dev lo (proto " +
                        std::to_string((mine ? mine : foreign)->protocol) +
                        "): rsagent did not create it and will leave it in place on stop");
    p.entries.emplace_back(RouteEntry{r, created});
  }
  return p;
}

}  // namespace rsagent::net
