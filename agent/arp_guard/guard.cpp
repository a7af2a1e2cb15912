#include "rsagent/arp_guard/guard.hpp"

#include "packet_socket.hpp"
#include "rsagent/arp_guard/frames.hpp"
#include "rsagent/arp_guard/ledger.hpp"
#include "rsagent/arp_guard/scheduler.hpp"
#include "rsagent/util/log.hpp"
#include "rsagent/util/loop_thread.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <poll.h>
#include <set>
#include <thread>
#include <unistd.h>

namespace rsagent::arp_guard {

namespace {

using Steady = std::chrono::steady_clock;
constexpr std::chrono::seconds kRescanEvery{5};
// Publish at most this often while nothing the verdict depends on changed:
// at 5 probes a second, every window would otherwise copy the report.
constexpr std::chrono::milliseconds kPublishEvery{500};
// The kernel's neighbour table is read at most this often (for a
// responder's IP that no frame has told).
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

// What the ARP guard watches and probes for the configured VIPs. A
// route-mode range is matched as a whole and probed through one address,
// its first host: a neighbour holding the same range answers for it.
struct WatchList {
  VipSet set;
  std::vector<IpAddress> probes;
};

WatchList watch_list(const std::vector<config::Vip>& vips) {
  WatchList w;
  std::set<IpAddress> singles;
  std::vector<const config::Vip*> ranges;
  for (const auto& v : vips) {
    const int host = v.address.family == Family::kV4 ? 32 : 128;
    if (v.prefix >= host) {
      singles.insert(v.address);
      w.probes.push_back(v.address);
      continue;
    }
    ranges.push_back(&v);
    IpAddress first = v.address.with_host_bits(v.prefix, false);
    first.bytes[static_cast<std::size_t>(host / 8 - 1)] |= 1;  // ranges are /31 (/127) at most
    w.probes.push_back(first);
  }
  w.set = VipSet(std::move(singles));
  for (const auto* v : ranges) w.set.add_range(v->address.with_host_bits(v->prefix, false), v->prefix);
  return w;
}

bool in_prefix(const IpAddress& a, const IpAddress& net, int prefix) {
  for (int bit = 0; bit < prefix; ++bit) {
    const auto byte = static_cast<std::size_t>(bit / 8);
    const int mask = 0x80 >> (bit % 8);
    if ((a.bytes[byte] & mask) != (net.bytes[byte] & mask)) return false;
  }
  return true;
}

}  // namespace

class Guard::Impl {
 public:
  Impl(const config::ArpGuard& cfg, WatchList watch, verdict::Board& board)
      : cfg_(cfg), vips_(std::move(watch.probes)), board_(board),
        sched_(sched_options(cfg), static_cast<std::uint64_t>(Steady::now().time_since_epoch().count()) ^
                                        static_cast<std::uint64_t>(::getpid())),
        ledger_(cfg, [this](const std::string& interface, const Mac& mac) { return neighbour(interface, mac); }) {
    ledger_.set_vips(std::move(watch.set));
  }

  bool open() {
    if (auto s = ifaces::can_open_packet_socket(); !s) {
      off_reason_ = s.error().str() + " (the unit needs CAP_NET_RAW and AF_PACKET in RestrictAddressFamilies=)";
      log::warning("arp_guard: the ARP guard is off: " + off_reason_ + "; everything else works");
      publish(true);
      return false;
    }
    if (!loop_.ok()) {
      off_reason_ = "eventfd failed";
      log::warning("arp_guard: the ARP guard is off: " + off_reason_);
      publish(true);
      return false;
    }
    enabled_ = true;
    return true;
  }

  [[nodiscard]] bool enabled() const { return enabled_; }

  void start() {
    if (enabled_) loop_.start([this] { run(); });
  }

  void stop() { loop_.stop(); }

  void update(const config::ArpGuard& cfg, WatchList watch) {
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      pending_ = Pending{cfg, std::move(watch)};
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
    WatchList watch;
  };
  struct Watched {
    ifaces::Interface iface;
    UniqueFd fd;
  };

  void wake() { loop_.wake(); }

  void take_pending() {
    std::optional<Pending> p;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      p.swap(pending_);
    }
    if (!p) return;
    cfg_ = p->cfg;
    vips_ = std::move(p->watch.probes);
    sched_.set_options(sched_options(cfg_));
    sched_.set_count(vips_.size());
    ledger_.set_config(cfg_);
    ledger_.set_vips(std::move(p->watch.set));
  }

  std::string neighbour(const std::string& interface, const Mac& mac) {
    const auto now = Steady::now();
    if (neigh_read_ && now - *neigh_read_ < kNeighbourTableEvery) return {};
    neigh_read_ = now;
    return detail::neighbour_ip(interface, mac);
  }

  void rescan() {
    auto found = ifaces::scan_interfaces();
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
    const bool same = next.size() == watched_.size() &&
                      std::equal(next.begin(), next.end(), watched_.begin(),
                                 [](const auto& a, const auto& b) { return a.first == b.first; });
    watched_ = std::move(next);
    if (same) return;
    interfaces_changed_ = true;
    std::map<int, std::string> names;
    for (const auto& [ifindex, w] : watched_) names[ifindex] = w.iface.name;
    ledger_.keep_interfaces(names);
  }

  // The interface's own address for the sender field, as arp_announce=2
  // picks it: one on the VIP's subnet, else the first. Never a VIP.
  std::optional<IpAddress> sender_for(const ifaces::Interface& i, const IpAddress& vip) const {
    std::optional<IpAddress> first;
    for (const auto& a : i.v4) {
      if (ledger_.vips().count(a.address)) continue;
      if (in_prefix(vip, a.address, a.prefix)) return a.address;
      if (!first) first = a.address;
    }
    return first;
  }

  void probe(const IpAddress& vip, Steady::time_point now) {
    for (const auto& [ifindex, w] : watched_) {
      std::vector<std::uint8_t> frame;
      if (vip.family == Family::kV4) {
        const auto from = sender_for(w.iface, vip);
        if (!from) continue;
        frame = build_arp_request(w.iface.mac, *from, vip);
      } else {
        if (!w.iface.link_local || ledger_.vips().count(*w.iface.link_local)) continue;
        frame = build_neighbor_solicit(w.iface.mac, *w.iface.link_local, vip);
      }
      if (auto s = detail::send_frame(w.fd.get(), ifindex, frame); !s) {
        log::debug("arp_guard: probe for " + vip.str() + " on " + w.iface.name + ": " + s.error().str());
        continue;
      }
      ++probes_sent_;
      ledger_.opened(vip, ifindex, w.iface.name, now + cfg_.window);
    }
  }

  void publish(bool force, Steady::time_point now = Steady::now()) {
    const std::string nr = ledger_.not_ready(now);
    const bool dirty = ledger_.changed() || interfaces_changed_;
    if (!force && nr == published_not_ready_ && (!dirty || now - last_publish_ < kPublishEvery)) return;
    verdict::ArpGuardView v;
    v.enabled = enabled_;
    v.off_reason = off_reason_;
    v.probing = enabled_ && cfg_.probe;
    v.on_leak = config::on_leak_name(cfg_.on_leak);
    v.not_ready = nr;
    ledger_.fill(v);
    v.probes_sent = probes_sent_;
    v.sweeps = sched_.sweeps();
    for (const auto& [ifindex, w] : watched_) v.interfaces.push_back(w.iface.name);
    published_not_ready_ = nr;
    last_publish_ = now;
    ledger_.clear_changed();
    interfaces_changed_ = false;
    board_.set_arp_guard(std::move(v));
  }

  // How long poll() may wait: until the next probe, window end, rescan,
  // publish or the end of a leak's hold, whichever comes first.
  int wait_ms(Steady::time_point now, Steady::time_point next_rescan) const {
    auto until = next_rescan;
    if (cfg_.probe) until = std::min(until, sched_.next_due());
    if (auto d = ledger_.next_deadline()) until = std::min(until, *d);
    if (ledger_.changed() || interfaces_changed_) until = std::min(until, last_publish_ + kPublishEvery);
    if (auto h = ledger_.not_ready_until(); h && !published_not_ready_.empty()) until = std::min(until, *h);
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
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
    while (!loop_.stopping()) {
      take_pending();
      now = Steady::now();
      if (now >= next_rescan) {
        rescan();
        next_rescan = now + kRescanEvery;
      }
      if (cfg_.probe)
        while (auto i = sched_.poll(now))
          if (*i < vips_.size()) probe(vips_[*i], now);
      ledger_.close_windows(now, unix_now());
      publish(false, now);

      fds.clear();
      order.clear();
      fds.push_back({loop_.fd(), POLLIN, 0});
      for (const auto& [ifindex, w] : watched_) {
        fds.push_back({w.fd.get(), POLLIN, 0});
        order.push_back(&w);
      }
      if (::poll(fds.data(), fds.size(), wait_ms(now, next_rescan)) < 0) continue;  // EINTR: round again
      if (fds[0].revents) loop_.clear();
      now = Steady::now();
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        // The interface went down or away (ENETDOWN): look again now rather
        // than in up to kRescanEvery.
        if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) next_rescan = now;
        const Watched& w = *order[i - 1];
        for (std::size_t k = 0; k < kMaxFramesPerWake; ++k) {
          const auto got = detail::receive(fds[i].fd, buf);
          if (!got) break;
          const auto f = parse_frame(std::span<const std::uint8_t>(buf.data(), std::min(got->size, buf.size())));
          if (f) ledger_.frame(w.iface.ifindex, w.iface.name, *f, got->outgoing, now, unix_now());
        }
      }
    }
  }

  config::ArpGuard cfg_;
  std::vector<IpAddress> vips_;  // what is probed: each VIP, a range's first host
  verdict::Board& board_;
  Scheduler sched_;
  bool enabled_ = false;
  std::string off_reason_;
  std::mutex pending_mutex_;
  std::optional<Pending> pending_;
  // The rest belongs to the thread.
  Ledger ledger_;
  std::map<int, Watched> watched_;
  std::set<std::string> failed_;  // interfaces whose socket failed, logged once
  bool interfaces_changed_ = false;
  std::optional<Steady::time_point> neigh_read_;
  std::string published_not_ready_;
  Steady::time_point last_publish_{};
  std::uint64_t probes_sent_ = 0;
  LoopThread loop_;  // last: joined before the state it runs on goes
};

std::unique_ptr<Guard> Guard::create(const config::ArpGuard& cfg, const std::vector<config::Vip>& vips,
                                           verdict::Board& board) {
  auto impl = std::make_unique<Impl>(cfg, watch_list(vips), board);
  (void)impl->open();
  return std::unique_ptr<Guard>(new Guard(std::move(impl)));
}

Guard::Guard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Guard::~Guard() { stop(); }
void Guard::start() { impl_->start(); }
void Guard::stop() { impl_->stop(); }
void Guard::update(const config::ArpGuard& cfg, const std::vector<config::Vip>& vips) {
  impl_->update(cfg, watch_list(vips));
}
bool Guard::enabled() const { return impl_->enabled(); }

}  // namespace rsagent::arp_guard
