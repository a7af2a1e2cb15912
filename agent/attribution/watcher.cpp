#include "rsagent/attribution/watcher.hpp"

#include "rsagent/util/interfaces.hpp"
#include "syn_ring.hpp"
#include "rsagent/attribution/neighbours.hpp"
#include "rsagent/attribution/senders.hpp"
#include "rsagent/attribution/syn_filter.hpp"
#include "rsagent/util/log.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <poll.h>
#include <set>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

namespace rsagent::attribution {

namespace {

using Steady = std::chrono::steady_clock;
constexpr std::chrono::seconds kRescanEvery{5};
constexpr std::chrono::milliseconds kTickEvery{1000};
// The neighbour table is read this often, and at most once a second when a
// sender appears that it does not name yet.
constexpr std::chrono::seconds kNeighboursEvery{10};
constexpr std::chrono::seconds kNeighboursSoonest{1};

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Pending {
  config::Attribution cfg;
  std::vector<Target> targets;
};

}  // namespace

class Watcher::Impl {
 public:
  Impl(const config::Attribution& cfg, std::vector<Target> targets, verdict::Board& board)
      : cfg_(cfg), targets_(std::move(targets)), board_(board) {}
  ~Impl() { stop(); }

  bool open() {
    if (auto s = ifaces::can_open_packet_socket(); !s) {
      reason_ = s.error().str() + " (the unit needs CAP_NET_RAW and AF_PACKET in RestrictAddressFamilies=)";
      log::warning("attribution: flow attribution is off: " + reason_ +
                   "; directors are still listed by their polls");
      publish();
      return false;
    }
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (wake_.get() < 0) {
      reason_ = "eventfd failed";
      log::warning("attribution: flow attribution is off: " + reason_);
      publish();
      return false;
    }
    capable_ = true;
    rebuild_filters();
    publish();
    return true;
  }

  void start() {
    if (!capable_ || thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    wake();
    thread_.join();
  }

  void update(const config::Attribution& cfg, std::vector<Target> targets) {
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      pending_ = Pending{cfg, std::move(targets)};
    }
    if (thread_.joinable()) {
      wake();
    } else {
      take_pending();
      publish();
    }
  }

 private:
  struct Watched {
    int ifindex = 0;
    std::string name;
    detail::SynRing ring;
  };

  void wake() {
    const std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }

  bool on() const { return capable_ && cfg_.enabled; }

  void take_pending() {
    std::optional<Pending> p;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      p.swap(pending_);
    }
    if (!p) return;
    const bool changed = !(p->cfg == cfg_) || p->targets != targets_;
    cfg_ = p->cfg;
    targets_ = std::move(p->targets);
    if (!changed) return;
    watched_.clear();  // reopened with the new filters by the next rescan
    failed_.clear();
    rebuild_filters();
    rescan_now_ = true;
  }

  void rebuild_filters() {
    set_ = TargetSet(targets_);
    filter_ = syn_filter_any(targets_);
    if (!filter_.exact)
      log::notice("attribution: too many VIPs for an exact kernel filter; every SYN is matched in user space");
  }

  void rescan() {
    if (!on()) {
      watched_.clear();
      interfaces_.clear();
      return;
    }
    auto found = ifaces::scan_interfaces();
    if (!found) {
      log::warning("attribution: interface scan: " + found.error().str());
      return;
    }
    std::map<int, Watched> next;
    std::vector<std::string> names;
    for (const auto& i : *found) {
      names.push_back(i.name);
      if (set_.all().empty()) continue;
      if (auto old = watched_.find(i.ifindex); old != watched_.end() && old->second.name == i.name) {
        next.emplace(i.ifindex, std::move(old->second));
        continue;
      }
      auto ring = detail::SynRing::open(i.ifindex, filter_.code);
      if (!ring) {
        if (failed_.insert(i.name).second)
          log::warning("attribution: " + i.name + ": " + ring.error().str() + "; its new connections are not counted");
        continue;
      }
      next.emplace(i.ifindex, Watched{i.ifindex, i.name, std::move(*ring)});
    }
    watched_ = std::move(next);
    interfaces_ = std::move(names);
  }

  void read_neighbours(Steady::time_point now) {
    neighbours_read_ = now;
    auto d = dump_neighbours();
    if (!d) {
      if (!neighbours_failed_) log::warning("attribution: " + d.error().str() + "; senders keep the names they had");
      neighbours_failed_ = true;
      return;
    }
    neighbours_failed_ = false;
    addresses_of_.clear();
    mac_of_.clear();
    for (const auto& n : d->entries) {
      auto& list = addresses_of_[n.mac];
      if (list.size() < 8) list.push_back(n.address);
      mac_of_[n.address] = n.mac;
    }
  }

  verdict::AttributionView view(std::int64_t now_ms) const {
    verdict::AttributionView v;
    v.enabled = on();
    v.reason = !capable_ ? reason_ : !cfg_.enabled ? "attribution.enabled is false" : "";
    v.interfaces = interfaces_;
    v.senders = table_.view(now_ms);
    v.other_syns = table_.other_syns();
    v.evicted = table_.evicted();
    v.filter_exact = filter_.exact;
    v.frames_dropped = dropped_;
    v.addresses_of = addresses_of_;
    v.mac_of = mac_of_;
    v.violations = tracker_.current();
    v.violations_total = tracker_.totals();
    return v;
  }

  void publish() { board_.set_attribution(view(unix_ms())); }

  void tick(Steady::time_point now) {
    for (const auto& [key, w] : watched_) dropped_ += w.ring.drops();
    if (on() && (now - neighbours_read_ >= kNeighboursEvery ||
                 (unnamed_sender_ && now - neighbours_read_ >= kNeighboursSoonest))) {
      unnamed_sender_ = false;
      read_neighbours(now);
    }
    const std::int64_t now_ms = unix_ms();
    auto v = view(now_ms);
    const auto mode = board_.snapshot()->verdict.mode;
    const bool draining = mode == verdict::Mode::kDrain || mode == verdict::Mode::kMaint;
    for (const auto& w : tracker_.update(verdict::join_directors(board_.census.rows(), v), draining, now_ms))
      log::warning("attribution: " + w);
    v.violations = tracker_.current();
    v.violations_total = tracker_.totals();
    board_.set_attribution(std::move(v));
  }

  void run() {
    Steady::time_point now = Steady::now();
    rescan();
    Steady::time_point next_rescan = now + kRescanEvery;
    Steady::time_point next_tick = now;
    std::vector<pollfd> fds;
    std::vector<Watched*> order;
    while (!stopping_) {
      take_pending();
      now = Steady::now();
      if (now >= next_rescan || rescan_now_) {
        rescan_now_ = false;
        rescan();
        next_rescan = now + kRescanEvery;
      }
      if (now >= next_tick) {
        tick(now);
        next_tick = now + kTickEvery;
      }
      fds.clear();
      order.clear();
      fds.push_back({wake_.get(), POLLIN, 0});
      for (auto& [key, w] : watched_) {
        fds.push_back({w.ring.fd(), POLLIN, 0});
        order.push_back(&w);
      }
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(std::min(next_tick, next_rescan) - now);
      if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(0, wait.count()) + 1)) < 0)
        continue;  // EINTR: round again
      if (fds[0].revents) {
        std::uint64_t x;
        (void)!::read(wake_.get(), &x, sizeof x);
      }
      const std::int64_t now_ms = unix_ms();
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        // The interface went down or away: look again now.
        if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) next_rescan = Steady::now();
        Watched& w = *order[i - 1];
        w.ring.drain([&](std::span<const std::uint8_t> frame) {
          const auto syn = parse_syn(frame, set_);
          if (!syn) return;
          if (syn->outer_source) {
            table_.note_tunnelled(*syn->outer_source, w.name, *syn->target, now_ms);
            return;
          }
          if (!table_.knows(syn->source) && !addresses_of_.count(mac_text(syn->source))) unnamed_sender_ = true;
          table_.note(syn->source, w.name, *syn->target, now_ms);
        });
      }
    }
  }

  config::Attribution cfg_;
  std::vector<Target> targets_;
  verdict::Board& board_;
  bool capable_ = false;
  std::string reason_;
  UniqueFd wake_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex pending_mutex_;
  std::optional<Pending> pending_;
  // The rest belongs to the thread (or to the caller before start()).
  TargetSet set_;
  Filter filter_;
  std::map<int, Watched> watched_;
  std::vector<std::string> interfaces_;
  std::set<std::string> failed_;
  bool rescan_now_ = false;
  SenderTable table_;
  ViolationTracker tracker_;
  std::map<std::string, std::vector<std::string>> addresses_of_;
  std::map<std::string, std::string> mac_of_;
  Steady::time_point neighbours_read_{};
  bool neighbours_failed_ = false;
  bool unnamed_sender_ = false;
  std::uint64_t dropped_ = 0;
};

std::unique_ptr<Watcher> Watcher::create(const config::Attribution& cfg, const std::vector<config::Vip>& vips,
                                         verdict::Board& board) {
  auto impl = std::make_unique<Impl>(cfg, targets_of(vips), board);
  (void)impl->open();
  return std::unique_ptr<Watcher>(new Watcher(std::move(impl)));
}

Watcher::Watcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Watcher::~Watcher() { stop(); }
void Watcher::start() { impl_->start(); }
void Watcher::stop() { impl_->stop(); }
void Watcher::update(const config::Attribution& cfg, const std::vector<config::Vip>& vips) {
  impl_->update(cfg, targets_of(vips));
}

}  // namespace rsagent::attribution
