// The tunnel-mode phase of make_plan: decapsulation devices, their
// rp_filter and their IPv4 address. Pure: values in, actions and journal
// entries out.
#include "rsagent/net/plan_phases.hpp"

#include <algorithm>

namespace rsagent::net {

namespace {

constexpr const char* kRpFilter = "rp_filter";

Action link_action(Action::Kind kind, const LinkSpec& spec) {
  Action a;
  a.kind = kind;
  a.link = spec;
  return a;
}

const SysctlEntry* prior_sysctl(const Journal& prior, const SysctlKey& key) {
  for (const auto& e : prior.entries)
    if (const auto* s = std::get_if<SysctlEntry>(&e); s && s->key == key) return s;
  return nullptr;
}

const LinkEntry* prior_link(const Journal& prior, const std::string& name) {
  for (const auto& e : prior.entries)
    if (const auto* l = std::get_if<LinkEntry>(&e); l && l->spec.name == name) return l;
  return nullptr;
}

// The value a decision starts from: before rsagent's first write when it
// wrote one, else what the kernel holds (`fallback` when it has no file:
// a device not made yet starts with conf/default's value).
int base_value(const Journal& prior, const ObservedState& have, const SysctlKey& key, int fallback) {
  if (const auto* pe = prior_sysctl(prior, key)) return pe->original;
  const auto it = have.sysctls.find(key);
  return it == have.sysctls.end() ? fallback : it->second;
}

int value_or(const ObservedState& have, const SysctlKey& key, int fallback) {
  const auto it = have.sysctls.find(key);
  return it == have.sysctls.end() ? fallback : it->second;
}

}  // namespace

bool rp_filter_passes(int all, int device, bool device_has_ipv4) {
  const int effective = std::max(all, device);
  if (effective == 0) return true;
  // Loose mode checks that the source is reachable through any interface,
  // which the kernel decides only for a device with an IPv4 address.
  return effective == 2 && device_has_ipv4;
}

RpFilterDecision decide_rp_filter(int all, int device, bool device_has_ipv4) {
  RpFilterDecision d;
  if (rp_filter_passes(all, device, device_has_ipv4)) return d;
  if (device_has_ipv4) {
    // Loose on the device is enough whatever `all` says (the kernel takes
    // the larger), and keeps checking that the source is routable at all.
    d.device = 2;
    return d;
  }
  // Without an address only off passes, and off needs both at 0.
  if (device != 0) d.device = 0;
  if (all != 0) d.all = 0;
  return d;
}

TunnelPhase plan_tunnel(const DesiredState& want, const ObservedState& have, const Journal& prior) {
  TunnelPhase t;
  std::vector<std::string> wanted_links;
  if (want.tunnel) {
    for (const auto& spec : want.tunnel->links) {
      wanted_links.push_back(spec.name);
      const Link* l = have.link_by_name(spec.name);
      const LinkEntry* pe = prior_link(prior, spec.name);
      if (l == nullptr) {
        // Missing (or gone since rsagent made it): made, up, by rsagent.
        t.links.actions.push_back(link_action(Action::Kind::kAddLink, spec));
        t.links.entries.emplace_back(LinkEntry{spec, true, false});
        continue;
      }
      const bool created = pe && pe->created;
      if (!pe)
        t.links.notes.push_back("adopting the existing " + spec.name +
                                " as the tunnel device, whatever its type: rsagent will not delete it");
      // An adopted device that is down is brought up, and taken down again
      // on stop; so is one someone took down while rsagent ran.
      if (!l->up) t.links.actions.push_back(link_action(Action::Kind::kLinkUp, spec));
      const bool raised = !created && ((pe && pe->raised) || !l->up);
      t.links.entries.emplace_back(LinkEntry{spec, created, raised});
    }
  }
  // The MSS clamp: rsagent's own table, made again whenever it is not
  // exactly the wanted one (gone, emptied, or from another config).
  const bool want_clamp = want.tunnel && want.tunnel->clamp;
  if (want_clamp) {
    const ClampSpec& c = *want.tunnel->clamp;
    const auto& listing = have.clamp_listing;
    const bool in_place = listing && listing->find("comment \"" + c.tag() + "\"") != std::string::npos &&
                          listing->find("maxseg size set " + std::to_string(c.mss)) != std::string::npos;
    if (!in_place) {
      Action a;
      a.kind = Action::Kind::kSetClamp;
      a.clamp = c;
      t.address.actions.push_back(a);
    }
    t.address.entries.emplace_back(ClampEntry{c.mss});
  }
  for (const auto& e : prior.entries)
    if (std::holds_alternative<ClampEntry>(e) && !want_clamp) {
      Action a;
      a.kind = Action::Kind::kDelClamp;
      t.leaving.actions.push_back(a);
      t.leaving.leaving.push_back(e);
    }

  // Devices of a tunnel no longer configured, newest first.
  for (auto it = prior.entries.rbegin(); it != prior.entries.rend(); ++it) {
    const auto* le = std::get_if<LinkEntry>(&*it);
    if (le == nullptr ||
        std::find(wanted_links.begin(), wanted_links.end(), le->spec.name) != wanted_links.end())
      continue;
    const Link* l = have.link_by_name(le->spec.name);
    if (l == nullptr) continue;  // gone already
    if (le->created) {
      t.leaving.actions.push_back(link_action(Action::Kind::kDelLink, le->spec));
    } else if (le->raised && l->up) {
      t.leaving.actions.push_back(link_action(Action::Kind::kLinkDown, le->spec));
    } else {
      continue;
    }
    t.leaving.leaving.push_back(*le);
  }
  std::reverse(t.leaving.leaving.begin(), t.leaving.leaving.end());

  if (!want.tunnel || want.tunnel->device.empty()) return t;
  const std::string& dev = want.tunnel->device;
  const Link* l = have.link_by_name(dev);

  // The device's IPv4 addresses, and whether rsagent's own is one of them.
  bool has_other_v4 = false;
  bool has_ours = false;
  const auto& addr = want.tunnel->address;
  if (l != nullptr) {
    for (const auto& o : have.addresses) {
      if (o.ifindex != l->ifindex || o.address.family != Family::kV4) continue;
      if (addr && o.address == addr->address) {
        has_ours = true;
      } else {
        has_other_v4 = true;
      }
    }
  }
  const AddressEntry* pa = nullptr;
  if (addr)
    for (const auto& e : prior.entries)
      if (const auto* a = std::get_if<AddressEntry>(&e); a && a->spec.dev == dev && a->spec.address == addr->address)
        pa = a;
  // Kept while rsagent holds it; given when the device has no IPv4 address.
  const bool want_ours = addr && (pa != nullptr || has_ours || !has_other_v4);
  if (want_ours) {
    t.wanted_address = *addr;
    if (!has_ours) {
      Action a;
      a.kind = Action::Kind::kAddAddress;
      a.address = *addr;
      t.address.actions.push_back(a);
      t.address.entries.emplace_back(AddressEntry{*addr, true});
    } else {
      if (pa == nullptr)
        t.address.notes.push_back("adopting " + addr->str() + ": rsagent did not add it and will leave it");
      t.address.entries.emplace_back(AddressEntry{*addr, pa != nullptr && pa->created});
    }
  }
  const bool has_v4 = has_other_v4 || want_ours;

  const SysctlKey all_key{"all", kRpFilter};
  const SysctlKey dev_key{dev, kRpFilter};
  const int fresh = value_or(have, SysctlKey{"default", kRpFilter}, 0);
  const int all_base = base_value(prior, have, all_key, 0);
  const int dev_base = base_value(prior, have, dev_key, fresh);
  const RpFilterDecision d = decide_rp_filter(all_base, dev_base, has_v4);
  if (d.all) t.sysctls.push_back(SysctlSetting{all_key, *d.all});
  if (!d.device) return t;
  if (l != nullptr) {
    t.sysctls.push_back(SysctlSetting{dev_key, *d.device});
    return t;
  }
  // Made by this plan: its file appears with it, holding default's value.
  Action w;
  w.kind = Action::Kind::kWriteSysctl;
  w.key = dev_key;
  w.from = fresh;
  w.to = *d.device;
  if (w.from != w.to) t.address.actions.insert(t.address.actions.begin(), w);
  t.address.entries.insert(t.address.entries.begin(), SysctlEntry{dev_key, fresh, *d.device, 0});
  return t;
}

}  // namespace rsagent::net
