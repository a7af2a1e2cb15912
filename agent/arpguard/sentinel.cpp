#include "rsagent/arpguard/sentinel.hpp"

#include "packet_socket.hpp"
#include "rsagent/arpguard/frames.hpp"
#include "rsagent/arpguard/scheduler.hpp"
#include "rsagent/util/log.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <poll.h>
#include <set>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

namespace rsagent::arpguard {

namespace {

using Steady = std::chrono::steady_clock;
constexpr std::chrono::seconds kRescanEvery{5};
// Publish at most this often while nothing the verdict depends on changed:
// at 5 probes a second, every window would otherwise copy the report.
constexpr std::chrono::milliseconds kPublishEvery{500};
constexpr std::chrono::seconds kNeighbourTableEvery{10};
constexpr std::size_t kMaxFramesPerWake = 64;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Scheduler::Options sched_options(const config::ArpGuard& g) {
  Scheduler::Options o;
  o.interval = g.interval;
  o.probes_per_second = g.probes_per_second;
  return o;
}

std::vector<net::IpAddress> addresses(const std::vector<config::Vip>& vips) {
  std::vector<net::IpAddress> out;
  for (const auto& v : vips) out.push_back(v.address);
  return out;
}

bool in_prefix(const net::IpAddress& a, const net::IpAddress& net, int prefix) {
  for (int bit = 0; bit < prefix; ++bit) {
    const auto byte = static_cast<std::size_t>(bit / 8);
    const int mask = 0x80 >> (bit % 8);
    if ((a.bytes[byte] & mask) != (net.bytes[byte] & mask)) return false;
  }
  return true;
}

}  // namespace

class Sentinel::Impl {
 public:
  Impl(const config::ArpGuard& cfg, std::vector<net::IpAddress> vips, health::Board& board)
      : cfg_(cfg), vips_(std::move(vips)), board_(board),
        sched_(sched_options(cfg), static_cast<std::uint64_t>(Steady::now().time_since_epoch().count()) ^
                                        static_cast<std::uint64_t>(::getpid())) {
    vip_set_ = {vips_.begin(), vips_.end()};
  }

  bool open() {
    if (auto s = detail::can_open_packet_socket(); !s) {
      off_reason_ = s.error().str() + " (the unit needs CAP_NET_RAW and AF_PACKET in RestrictAddressFamilies=)";
      log::warning("arp_guard: the sentinel is off: " + off_reason_ + "; everything else works");
      publish(true);
      return false;
    }
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (wake_.get() < 0) {
      off_reason_ = "eventfd failed";
      log::warning("arp_guard: the sentinel is off: " + off_reason_);
      publish(true);
      return false;
    }
    enabled_ = true;
    return true;
  }

  [[nodiscard]] bool enabled() const { return enabled_; }

  void start() {
    if (!enabled_ || thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    wake();
    thread_.join();
  }

  void update(const config::ArpGuard& cfg, std::vector<net::IpAddress> vips) {
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      pending_ = Pending{cfg, std::move(vips)};
    }
    if (enabled_) {
      wake();
    } else {
      take_pending();
      publish(true);
    }
  }

 private:
  struct Pending {
    config::ArpGuard cfg;
    std::vector<net::IpAddress> vips;
  };
  struct Watched {
    detail::Interface iface;
    UniqueFd fd;
  };
  // Answers collected for one probe of one VIP on one interface.
  struct Window {
    net::IpAddress vip;
    int ifindex = 0;
    std::string interface;
    Steady::time_point deadline;
    std::map<Mac, std::string> seen;  // MAC -> the answering host's IP, if known
  };
  struct Responder {
    std::string ip;
    std::int64_t first = 0;
    std::int64_t last = 0;
  };
  struct Segment {
    std::map<Mac, Responder> responders;
    std::int64_t probed = 0;
    bool flux = false;  // logged as flux; a notice when it clears
  };
  using Key = std::pair<net::IpAddress, std::string>;  // VIP, interface
  struct LeakState {
    std::string kind;
    std::uint64_t count = 0;
    std::int64_t last_unix = 0;
    Steady::time_point last_logged{};
    bool logged = false;
  };

  void wake() {
    const std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }

  void take_pending() {
    std::optional<Pending> p;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      p.swap(pending_);
    }
    if (!p) return;
    cfg_ = p->cfg;
    vips_ = std::move(p->vips);
    vip_set_ = {vips_.begin(), vips_.end()};
    sched_.set_options(sched_options(cfg_));
    sched_.set_count(vips_.size());
    // What is known of VIPs no longer configured is no longer anyone's business.
    std::erase_if(segments_, [&](const auto& kv) { return !vip_set_.count(kv.first.first); });
    std::erase_if(windows_, [&](const Window& w) { return !vip_set_.count(w.vip); });
    dirty_ = true;
  }

  void rescan() {
    auto found = detail::scan_interfaces();
    if (!found) {
      log::debug("arp_guard: " + found.error().str());
      return;
    }
    std::map<int, Watched> next;
    for (auto& iface : *found) {
      auto old = watched_.find(iface.ifindex);
      if (old != watched_.end() && old->second.iface == iface) {
        old->second.iface = std::move(iface);  // addresses may have changed
        next.emplace(old->first, std::move(old->second));
        continue;
      }
      auto fd = detail::open_packet_socket(iface.ifindex);
      if (!fd) {
        if (failed_.insert(iface.name).second)
          log::warning("arp_guard: not watching " + iface.name + ": " + fd.error().str());
        continue;
      }
      failed_.erase(iface.name);
      const int ifindex = iface.ifindex;
      next.emplace(ifindex, Watched{std::move(iface), std::move(*fd)});
    }
    if (next.size() != watched_.size() ||
        !std::equal(next.begin(), next.end(), watched_.begin(),
                    [](const auto& a, const auto& b) { return a.first == b.first; }))
      dirty_ = true;
    watched_ = std::move(next);
    // Segments and open windows of interfaces that are gone.
    std::set<std::string> names;
    for (const auto& [ifindex, w] : watched_) names.insert(w.iface.name);
    std::erase_if(segments_, [&](const auto& kv) { return !names.count(kv.first.second); });
    std::erase_if(windows_, [&](const Window& w) { return !watched_.count(w.ifindex); });
  }

  // The interface's own address for the sender field, as arp_announce=2
  // picks it: one on the VIP's subnet, else the first. Never a VIP.
  std::optional<net::IpAddress> sender_for(const detail::Interface& i, const net::IpAddress& vip) const {
    std::optional<net::IpAddress> first;
    for (const auto& a : i.v4) {
      if (vip_set_.count(a.address)) continue;
      if (in_prefix(vip, a.address, a.prefix)) return a.address;
      if (!first) first = a.address;
    }
    return first;
  }

  void probe(const net::IpAddress& vip, Steady::time_point now) {
    for (const auto& [ifindex, w] : watched_) {
      std::vector<std::uint8_t> frame;
      if (vip.family == net::Family::kV4) {
        const auto from = sender_for(w.iface, vip);
        if (!from) continue;
        frame = build_arp_request(w.iface.mac, *from, vip);
      } else {
        if (!w.iface.link_local || vip_set_.count(*w.iface.link_local)) continue;
        frame = build_neighbor_solicit(w.iface.mac, *w.iface.link_local, vip);
      }
      if (auto s = detail::send_frame(w.fd.get(), ifindex, frame); !s) {
        log::debug("arp_guard: probe for " + vip.str() + " on " + w.iface.name + ": " + s.error().str());
        continue;
      }
      ++probes_sent_;
      windows_.push_back(Window{vip, ifindex, w.iface.name, now + cfg_.window, {}});
    }
  }

  void learn_ip(int ifindex, const Frame& f) {
    if (f.kind == FrameKind::kNeighborAdvert) {
      if (!vip_set_.count(f.sender_ip)) mac_ip_[{ifindex, f.sender_mac}] = f.sender_ip.str();
      return;
    }
    const bool unspecified = f.sender_ip.bytes[0] == 0 && f.sender_ip.bytes[1] == 0 &&
                             f.sender_ip.bytes[2] == 0 && f.sender_ip.bytes[3] == 0;
    if (!unspecified && !vip_set_.count(f.sender_ip)) mac_ip_[{ifindex, f.sender_mac}] = f.sender_ip.str();
  }

  std::string ip_of(int ifindex, const std::string& interface, const Mac& mac, Steady::time_point now) {
    if (auto it = mac_ip_.find({ifindex, mac}); it != mac_ip_.end()) return it->second;
    // The kernel's table, read seldom: this runs for each answer.
    if (now - neigh_read_ >= kNeighbourTableEvery) {
      neigh_read_ = now;
      if (std::string ip = detail::neighbour_ip(interface, mac); !ip.empty()) {
        mac_ip_[{ifindex, mac}] = ip;
        return ip;
      }
    }
    return {};
  }

  void on_frame(const Watched& w, const Frame& f, bool outgoing, Steady::time_point now) {
    if (outgoing) {
      if (auto leak = classify_outgoing(f, vip_set_)) on_leak(*leak, w.iface.name, now);
      return;
    }
    learn_ip(w.iface.ifindex, f);
    for (auto& win : windows_) {
      if (win.ifindex != w.iface.ifindex) continue;
      if (auto mac = responder_of(f, win.vip)) {
        std::string ip = f.kind == FrameKind::kNeighborAdvert && !vip_set_.count(f.sender_ip)
                             ? f.sender_ip.str()
                             : std::string();
        win.seen[*mac] = ip;
      }
    }
  }

  void on_leak(const Leak& leak, const std::string& interface, Steady::time_point now) {
    LeakState& st = leaks_[{leak.vip, interface}];
    st.kind = kind_name(leak.kind);
    ++st.count;
    st.last_unix = unix_now();
    last_leak_ = now;
    last_leak_text_ = "this node sent a " + st.kind + " for VIP " + leak.vip.str() + " on " + interface +
                      (leak.kind == FrameKind::kGratuitousArp ? " (arping -U?)" : "");
    dirty_ = true;
    if (st.logged && now - st.last_logged < kLeakLogEvery) return;
    st.logged = true;
    st.last_logged = now;
    log::warning("arp_guard: " + last_leak_text_ +
                 ": it tells the segment that the VIP is here and takes the director's traffic; only the "
                 "director may speak for a VIP (arp_ignore=1, arp_announce=2; IPv6 VIPs on lo only)" +
                 " [" + std::to_string(st.count) + " so far]");
  }

  void finish(const Window& win, Steady::time_point now) {
    Segment& seg = segments_[{win.vip, win.interface}];
    const std::int64_t t = unix_now();
    seg.probed = t;
    std::erase_if(seg.responders, [&](const auto& kv) { return !win.seen.count(kv.first); });
    for (const auto& [mac, ip] : win.seen) {
      Responder& r = seg.responders[mac];
      if (r.first == 0) r.first = t;
      r.last = t;
      if (!ip.empty()) r.ip = ip;
      if (r.ip.empty()) r.ip = ip_of(win.ifindex, win.interface, mac, now);
    }
    dirty_ = true;
    if (seg.responders.size() >= 2) {
      std::string who;
      for (const auto& [mac, r] : seg.responders)
        who += (who.empty() ? "" : ", ") + mac_str(mac) + (r.ip.empty() ? "" : " (" + r.ip + ")");
      const std::string line = "VIP " + win.vip.str() + " on " + win.interface + " is answered by " +
                               std::to_string(seg.responders.size()) + " hosts: " + who;
      if (line != seg_logged_[{win.vip, win.interface}]) {
        log::warning("arp_guard: ARP flux: " + line +
                     "; only the director may answer: the others hold the VIP without arp_ignore=1 "
                     "(or an IPv6 VIP on a NIC instead of lo)");
        seg_logged_[{win.vip, win.interface}] = line;
      }
      seg.flux = true;
    } else if (seg.flux) {
      seg.flux = false;
      seg_logged_.erase({win.vip, win.interface});
      log::notice("arp_guard: ARP flux for VIP " + win.vip.str() + " on " + win.interface + " is over: " +
                  std::to_string(seg.responders.size()) + " responder(s)");
    }
  }

  std::string not_ready(Steady::time_point now) const {
    if (cfg_.on_leak != config::ArpGuard::OnLeak::kNotReady || !last_leak_) return {};
    if (now - *last_leak_ >= kLeakHold) return {};
    return last_leak_text_;
  }

  void publish(bool force, Steady::time_point now = Steady::now()) {
    const std::string nr = not_ready(now);
    if (!force && nr == published_not_ready_ && (!dirty_ || now - last_publish_ < kPublishEvery)) return;
    health::ArpGuardView v;
    v.enabled = enabled_;
    v.off_reason = off_reason_;
    v.probing = enabled_ && cfg_.probe;
    v.on_leak = config::on_leak_name(cfg_.on_leak);
    v.not_ready = nr;
    for (const auto& [key, l] : leaks_)
      v.leaks.push_back({key.first.str(), key.second, l.kind, l.count, l.last_unix});
    for (const auto& [key, s] : segments_) {
      health::ArpGuardView::Segment seg{key.first.str(), key.second, {}, s.probed};
      for (const auto& [mac, r] : s.responders) seg.responders.push_back({mac_str(mac), r.ip, r.first, r.last});
      v.segments.push_back(std::move(seg));
    }
    v.probes_sent = probes_sent_;
    v.sweeps = sched_.sweeps();
    for (const auto& [ifindex, w] : watched_) v.interfaces.push_back(w.iface.name);
    published_not_ready_ = nr;
    last_publish_ = now;
    dirty_ = false;
    board_.set_arp_guard(std::move(v));
  }

  void run() {
    std::vector<std::uint8_t> buf(2048);
    auto now = Steady::now();
    rescan();
    sched_.start(now, vips_.size());
    Steady::time_point next_rescan = now + kRescanEvery;
    publish(true, now);
    std::vector<pollfd> fds;
    std::vector<const Watched*> order;
    while (!stopping_) {
      take_pending();
      now = Steady::now();
      if (now >= next_rescan) {
        rescan();
        next_rescan = now + kRescanEvery;
      }
      if (cfg_.probe) {
        while (auto i = sched_.poll(now))
          if (*i < vips_.size()) probe(vips_[*i], now);
      }
      for (const auto& win : windows_)
        if (win.deadline <= now) finish(win, now);
      std::erase_if(windows_, [&](const Window& w) { return w.deadline <= now; });
      publish(false, now);

      auto until = next_rescan;
      if (cfg_.probe) until = std::min(until, sched_.next_due());
      for (const auto& win : windows_) until = std::min(until, win.deadline);
      if (dirty_) until = std::min(until, last_publish_ + kPublishEvery);
      if (last_leak_ && !published_not_ready_.empty()) until = std::min(until, *last_leak_ + kLeakHold);
      const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
      const int timeout = static_cast<int>(std::clamp<std::int64_t>(wait_ms, 0, 60'000));

      fds.clear();
      order.clear();
      fds.push_back({wake_.get(), POLLIN, 0});
      for (const auto& [ifindex, w] : watched_) {
        fds.push_back({w.fd.get(), POLLIN, 0});
        order.push_back(&w);
      }
      if (::poll(fds.data(), fds.size(), timeout) < 0) continue;  // EINTR: round again
      if (fds[0].revents) {
        std::uint64_t x;
        (void)!::read(wake_.get(), &x, sizeof x);
      }
      now = Steady::now();
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        // The interface went down or away (ENETDOWN): look again now rather
        // than in up to kRescanEvery.
        if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) next_rescan = now;
        for (std::size_t k = 0; k < kMaxFramesPerWake; ++k) {
          const auto got = detail::receive(fds[i].fd, buf);
          if (!got) break;
          const auto frame = parse_frame(std::span<const std::uint8_t>(buf.data(), std::min(got->size, buf.size())));
          if (frame) on_frame(*order[i - 1], *frame, got->outgoing, now);
        }
      }
    }
  }

  config::ArpGuard cfg_;
  std::vector<net::IpAddress> vips_;
  std::set<net::IpAddress> vip_set_;
  health::Board& board_;
  Scheduler sched_;
  bool enabled_ = false;
  std::string off_reason_;
  UniqueFd wake_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex pending_mutex_;
  std::optional<Pending> pending_;
  // The rest belongs to the thread.
  std::map<int, Watched> watched_;
  std::set<std::string> failed_;  // interfaces whose socket failed, logged once
  std::vector<Window> windows_;
  std::map<Key, Segment> segments_;
  std::map<Key, std::string> seg_logged_;
  std::map<Key, LeakState> leaks_;
  std::map<std::pair<int, Mac>, std::string> mac_ip_;
  Steady::time_point neigh_read_{};
  std::optional<Steady::time_point> last_leak_;
  std::string last_leak_text_;
  std::string published_not_ready_;
  Steady::time_point last_publish_{};
  std::uint64_t probes_sent_ = 0;
  bool dirty_ = false;
};

std::unique_ptr<Sentinel> Sentinel::create(const config::ArpGuard& cfg, const std::vector<config::Vip>& vips,
                                           health::Board& board) {
  auto impl = std::make_unique<Impl>(cfg, addresses(vips), board);
  (void)impl->open();
  return std::unique_ptr<Sentinel>(new Sentinel(std::move(impl)));
}

Sentinel::Sentinel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sentinel::~Sentinel() { stop(); }
void Sentinel::start() { impl_->start(); }
void Sentinel::stop() { impl_->stop(); }
void Sentinel::update(const config::ArpGuard& cfg, const std::vector<config::Vip>& vips) {
  impl_->update(cfg, addresses(vips));
}
bool Sentinel::enabled() const { return impl_->enabled(); }

}  // namespace rsagent::arpguard
