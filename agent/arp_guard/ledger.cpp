#include "rsagent/arp_guard/ledger.hpp"

#include "rsagent/util/log.hpp"
#include "rsagent/util/text.hpp"

#include <algorithm>

namespace rsagent::arp_guard {

namespace {
bool unspecified(const IpAddress& a) {
  return std::all_of(a.bytes.begin(), a.bytes.end(), [](std::uint8_t b) { return b == 0; });
}
}  // namespace

void MacTable::put(int ifindex, const Mac& mac, std::string ip) {
  const Key key{ifindex, mac};
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->ip = std::move(ip);
    order_.splice(order_.begin(), order_, it->second);
    return;
  }
  if (index_.size() >= capacity_) {
    // The least recently used host makes room; its node is reused, so a
    // flood of new MACs allocates nothing once the table is full.
    auto last = std::prev(order_.end());
    index_.erase(last->key);
    ++evicted_;
    last->key = key;
    last->ip = std::move(ip);
    order_.splice(order_.begin(), order_, last);
  } else {
    order_.push_front(Entry{key, std::move(ip)});
  }
  index_.emplace(key, order_.begin());
}

const std::string* MacTable::get(int ifindex, const Mac& mac) {
  auto it = index_.find({ifindex, mac});
  if (it == index_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second);
  return &it->second->ip;
}

void MacTable::keep_interfaces(const std::set<int>& ifindexes) {
  for (auto it = order_.begin(); it != order_.end();) {
    if (ifindexes.count(it->key.first)) {
      ++it;
      continue;
    }
    index_.erase(it->key);
    it = order_.erase(it);
  }
}

void Ledger::set_vips(VipSet vips) {
  vips_ = std::move(vips);
  // What is known of VIPs no longer configured is no longer anyone's business.
  std::erase_if(segments_, [&](const auto& kv) { return !vips_.count(kv.first.first); });
  std::erase_if(leaks_, [&](const auto& kv) { return !vips_.count(kv.first.first); });
  std::erase_if(windows_, [&](const Window& w) { return !vips_.count(w.vip); });
  index_responders();
  changed_ = true;
}

void Ledger::keep_interfaces(const std::map<int, std::string>& watched) {
  std::set<std::string> names;
  std::set<int> ifindexes;
  for (const auto& [ifindex, name] : watched) {
    names.insert(name);
    ifindexes.insert(ifindex);
  }
  const auto before = segments_.size();
  std::erase_if(segments_, [&](const auto& kv) { return !names.count(kv.first.second); });
  std::erase_if(windows_, [&](const Window& w) { return !watched.count(w.ifindex); });
  macs_.keep_interfaces(ifindexes);
  index_responders();
  if (segments_.size() != before) changed_ = true;
}

void Ledger::opened(const IpAddress& vip, int ifindex, const std::string& interface, TimePoint deadline) {
  windows_.push_back(Window{vip, ifindex, interface, deadline, {}, 0});
}

void Ledger::learn_ip(int ifindex, const Frame& f) {
  if (unspecified(f.sender_ip) || vips_.count(f.sender_ip)) return;
  macs_.put(ifindex, f.sender_mac, f.sender_ip.str());
}

bool Ledger::answered(int ifindex, const std::string& interface, const Mac& mac) const {
  for (const auto& w : windows_)
    if (w.ifindex == ifindex && w.seen.count(mac)) return true;
  return responder_refs_.count({interface, mac}) != 0;
}

void Ledger::index_responders() {
  responder_refs_.clear();
  for (const auto& [key, seg] : segments_)
    for (const auto& [mac, r] : seg.responders) ++responder_refs_[{key.second, mac}];
}

std::string Ledger::ip_of(int ifindex, const std::string& interface, const Mac& mac) {
  if (const std::string* ip = macs_.get(ifindex, mac)) return *ip;
  if (!lookup_) return {};
  std::string ip = lookup_(interface, mac);
  if (!ip.empty()) macs_.put(ifindex, mac, ip);
  return ip;
}

void Ledger::frame(int ifindex, const std::string& interface, const Frame& f, bool outgoing, TimePoint now,
                   std::int64_t unix_now) {
  if (outgoing) {
    if (auto l = classify_outgoing(f, vips_)) leak(*l, interface, now, unix_now);
    return;
  }
  bool answers = false;
  for (auto& w : windows_) {
    if (w.ifindex != ifindex) continue;
    auto mac = responder_of(f, w.vip);
    if (!mac) continue;
    answers = true;
    auto it = w.seen.find(*mac);
    if (it == w.seen.end() && w.seen.size() >= kMaxRespondersPerWindow) {
      ++w.more;  // a flood of made-up MACs is counted, not kept
      continue;
    }
    // An NA's source is the answering host's address unless it is the VIP itself.
    const bool tells = f.kind == FrameKind::kNeighborAdvert && !vips_.count(f.sender_ip);
    w.seen[*mac] = tells ? f.sender_ip.str() : std::string();
  }
  // Only hosts that matter to a VIP are learnt: one that answers (to name a
  // responder by its own address, from its NA or its next ARP request) and
  // one that asks for a VIP. Any other frame on the segment teaches nothing.
  if (answers || vips_.count(f.target_ip) || answered(ifindex, interface, f.sender_mac)) learn_ip(ifindex, f);
}

void Ledger::leak(const Leak& l, const std::string& interface, TimePoint now, std::int64_t unix_now) {
  LeakState& st = leaks_[{l.vip, interface}];
  st.kind = kind_name(l.kind);
  ++st.count;
  st.last_unix = unix_now;
  last_leak_ = now;
  last_leak_text_ = "this node sent a " + st.kind + " for VIP " + l.vip.str() + " on " + interface +
                    (l.kind == FrameKind::kGratuitousArp ? " (arping -U?)" : "");
  changed_ = true;
  if (st.last_logged && now - *st.last_logged < kLeakLogEvery) return;
  st.last_logged = now;
  log::warning("arp_guard: " + last_leak_text_ +
               ": it tells the segment that the VIP is here and takes the director's traffic; only the "
               "director may speak for a VIP (arp_ignore=1, arp_announce=2; IPv6 VIPs on lo only) [" +
               std::to_string(st.count) + " so far]");
}

void Ledger::finish(const Window& w, std::int64_t unix_now) {
  Segment& seg = segments_[{w.vip, w.interface}];
  seg.probed = unix_now;
  // Responders are those that answered this probe: one fixed is gone at once.
  std::erase_if(seg.responders, [&](const auto& kv) {
    if (w.seen.count(kv.first)) return false;
    auto ref = responder_refs_.find({w.interface, kv.first});
    if (ref != responder_refs_.end() && --ref->second <= 0) responder_refs_.erase(ref);
    return true;
  });
  seg.more = w.more;
  responders_dropped_ += w.more;
  for (const auto& [mac, ip] : w.seen) {
    Responder& r = seg.responders[mac];
    if (r.first == 0) {
      r.first = unix_now;
      ++responder_refs_[{w.interface, mac}];
    }
    r.last = unix_now;
    if (!ip.empty()) r.ip = ip;
    if (r.ip.empty()) r.ip = ip_of(w.ifindex, w.interface, mac);
  }
  changed_ = true;
  if (seg.responders.size() >= 2) {
    std::string who;
    for (const auto& [mac, r] : seg.responders)
      who += (who.empty() ? "" : ", ") + mac_str(mac) + (r.ip.empty() ? "" : " (" + r.ip + ")");
    // Logged again when the hosts named change, not at each count of the
    // answers past the cap (a flood of spoofed answers changes it each time).
    const std::string named = who + (seg.more ? " +" : "");
    if (named != seg.flux_logged) {
      const std::string hosts =
          seg.more ? "more than " + std::to_string(seg.responders.size()) + " hosts: " + who + " and " +
                         std::to_string(seg.more) + " more answers from other MACs"
                   : std::to_string(seg.responders.size()) + " hosts: " + who;
      log::warning(text::one_line("arp_guard: ARP flux: VIP " + w.vip.str() + " on " + w.interface +
                                      " is answered by " + hosts +
                                      "; only the director may answer: the others hold the VIP without "
                                      "arp_ignore=1 (or an IPv6 VIP on a NIC instead of lo)",
                                  kMaxLogLine, true));
    }
    seg.flux_logged = named;
  } else if (!seg.flux_logged.empty()) {
    seg.flux_logged.clear();
    log::notice("arp_guard: ARP flux for VIP " + w.vip.str() + " on " + w.interface + " is over: " +
                std::to_string(seg.responders.size()) + " responder(s)");
  }
}

void Ledger::close_windows(TimePoint now, std::int64_t unix_now) {
  for (const auto& w : windows_)
    if (w.deadline <= now) finish(w, unix_now);
  std::erase_if(windows_, [&](const Window& w) { return w.deadline <= now; });
}

std::optional<Ledger::TimePoint> Ledger::next_deadline() const {
  std::optional<TimePoint> out;
  for (const auto& w : windows_)
    if (!out || w.deadline < *out) out = w.deadline;
  return out;
}

std::string Ledger::not_ready(TimePoint now) const {
  if (cfg_.on_leak != config::ArpGuard::OnLeak::kNotReady || !last_leak_) return {};
  if (now - *last_leak_ >= kLeakHold) return {};
  return last_leak_text_;
}

std::optional<Ledger::TimePoint> Ledger::not_ready_until() const {
  if (cfg_.on_leak != config::ArpGuard::OnLeak::kNotReady || !last_leak_) return std::nullopt;
  return *last_leak_ + kLeakHold;
}

void Ledger::fill(verdict::ArpGuardView& v) const {
  for (const auto& [key, l] : leaks_) v.leaks.push_back({key.first.str(), key.second, l.kind, l.count, l.last_unix});
  for (const auto& [key, s] : segments_) {
    verdict::ArpGuardView::Segment seg{key.first.str(), key.second, {}, s.probed, s.more};
    for (const auto& [mac, r] : s.responders) seg.responders.push_back({mac_str(mac), r.ip, r.first, r.last});
    v.segments.push_back(std::move(seg));
  }
  v.mac_table_entries = macs_.size();
  v.mac_table_capacity = macs_.capacity();
  v.mac_table_evicted = macs_.evicted();
  v.responders_dropped = responders_dropped_;
}

}  // namespace rsagent::arp_guard
