#include "rsagent/arpguard/ledger.hpp"

#include "rsagent/util/log.hpp"

#include <algorithm>

namespace rsagent::arpguard {

namespace {
bool unspecified(const net::IpAddress& a) {
  return std::all_of(a.bytes.begin(), a.bytes.end(), [](std::uint8_t b) { return b == 0; });
}
}  // namespace

void Ledger::set_vips(VipSet vips) {
  vips_ = std::move(vips);
  // What is known of VIPs no longer configured is no longer anyone's business.
  std::erase_if(segments_, [&](const auto& kv) { return !vips_.count(kv.first.first); });
  std::erase_if(leaks_, [&](const auto& kv) { return !vips_.count(kv.first.first); });
  std::erase_if(windows_, [&](const Window& w) { return !vips_.count(w.vip); });
  changed_ = true;
}

void Ledger::keep_interfaces(const std::map<int, std::string>& watched) {
  std::set<std::string> names;
  for (const auto& [ifindex, name] : watched) names.insert(name);
  const auto before = segments_.size();
  std::erase_if(segments_, [&](const auto& kv) { return !names.count(kv.first.second); });
  std::erase_if(windows_, [&](const Window& w) { return !watched.count(w.ifindex); });
  if (segments_.size() != before) changed_ = true;
}

void Ledger::opened(const net::IpAddress& vip, int ifindex, const std::string& interface, TimePoint deadline) {
  windows_.push_back(Window{vip, ifindex, interface, deadline, {}});
}

void Ledger::learn_ip(int ifindex, const Frame& f) {
  if (unspecified(f.sender_ip) || vips_.count(f.sender_ip)) return;
  mac_ip_[{ifindex, f.sender_mac}] = f.sender_ip.str();
}

std::string Ledger::ip_of(int ifindex, const std::string& interface, const Mac& mac) {
  if (auto it = mac_ip_.find({ifindex, mac}); it != mac_ip_.end()) return it->second;
  if (!lookup_) return {};
  std::string ip = lookup_(interface, mac);
  if (!ip.empty()) mac_ip_[{ifindex, mac}] = ip;
  return ip;
}

void Ledger::frame(int ifindex, const std::string& interface, const Frame& f, bool outgoing, TimePoint now,
                   std::int64_t unix_now) {
  if (outgoing) {
    if (auto l = classify_outgoing(f, vips_)) leak(*l, interface, now, unix_now);
    return;
  }
  learn_ip(ifindex, f);
  for (auto& w : windows_) {
    if (w.ifindex != ifindex) continue;
    if (auto mac = responder_of(f, w.vip)) {
      // An NA's source is the answering host's address unless it is the VIP itself.
      const bool tells = f.kind == FrameKind::kNeighborAdvert && !vips_.count(f.sender_ip);
      w.seen[*mac] = tells ? f.sender_ip.str() : std::string();
    }
  }
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
  std::erase_if(seg.responders, [&](const auto& kv) { return !w.seen.count(kv.first); });
  for (const auto& [mac, ip] : w.seen) {
    Responder& r = seg.responders[mac];
    if (r.first == 0) r.first = unix_now;
    r.last = unix_now;
    if (!ip.empty()) r.ip = ip;
    if (r.ip.empty()) r.ip = ip_of(w.ifindex, w.interface, mac);
  }
  changed_ = true;
  if (seg.responders.size() >= 2) {
    std::string who;
    for (const auto& [mac, r] : seg.responders)
      who += (who.empty() ? "" : ", ") + mac_str(mac) + (r.ip.empty() ? "" : " (" + r.ip + ")");
    const std::string line = "VIP " + w.vip.str() + " on " + w.interface + " is answered by " +
                             std::to_string(seg.responders.size()) + " hosts: " + who;
    if (line != seg.flux_logged)
      log::warning("arp_guard: ARP flux: " + line +
                   "; only the director may answer: the others hold the VIP without arp_ignore=1 "
                   "(or an IPv6 VIP on a NIC instead of lo)");
    seg.flux_logged = line;
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

void Ledger::fill(health::ArpGuardView& v) const {
  for (const auto& [key, l] : leaks_) v.leaks.push_back({key.first.str(), key.second, l.kind, l.count, l.last_unix});
  for (const auto& [key, s] : segments_) {
    health::ArpGuardView::Segment seg{key.first.str(), key.second, {}, s.probed};
    for (const auto& [mac, r] : s.responders) seg.responders.push_back({mac_str(mac), r.ip, r.first, r.last});
    v.segments.push_back(std::move(seg));
  }
}

}  // namespace rsagent::arpguard
