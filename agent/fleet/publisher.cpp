#include "rsagent/fleet/publisher.hpp"

#include "rsagent/util/log.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <future>

namespace rsagent::fleet {

using namespace std::chrono_literals;

std::chrono::milliseconds fleet_deadline(std::chrono::milliseconds ttl) {
  return std::clamp<std::chrono::milliseconds>(ttl / 4, 500ms, 2000ms);
}

std::string node_name(const config::Fleet& f) {
  if (!f.name.empty()) return f.name;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

std::vector<std::string> local_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> guard(list, ::freeifaddrs);
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* a6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue;
      ::inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof buf);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), buf) == out.end()) out.emplace_back(buf);
    if (out.size() >= kMaxListed) break;
  }
  return out;
}

Publisher::Publisher(config::Fleet cfg, std::unique_ptr<Transport> transport, std::function<NodeRecord()> record)
    : cfg_(std::move(cfg)),
      key_(nodes_prefix(cfg_.prefix) + node_name(cfg_)),
      transport_(std::move(transport)),
      record_(std::move(record)) {}

Publisher::~Publisher() { stop(); }

void Publisher::start() {
  if (thread_.joinable() || !transport_) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = false;
  }
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "rsagent-fleet");
    run();
  });
}

void Publisher::notify() {
  {
    std::lock_guard lock(mutex_);
    dirty_ = true;
  }
  cv_.notify_one();
}

void Publisher::stop(bool keep_lease) {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    keep_lease_ = keep_lease;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool Publisher::failed(const Error& e) {
  last_error_ = e.str();
  if (reachable_.exchange(false))
    log::warning("fleet: etcd is unreachable (" + e.str() +
                 "); this node keeps serving its directors and retries in the background");
  return false;
}

struct Publisher::Take {
  Holder holder;
  std::mutex mutex;
  bool abandoned = false;  // the caller stopped waiting: undo a take
  bool answered = false;
  std::promise<SlotAnswer> answer;
};

std::string Publisher::slot_key() const { return budget_prefix(cfg_.prefix) + node_name(cfg_); }

SlotAnswer Publisher::take_slot(const Holder& h, std::chrono::milliseconds wait) {
  auto t = std::make_shared<Take>();
  t->holder = h;
  auto fut = t->answer.get_future();
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable() || stop_) return {SlotAnswer::Kind::kUnreachable, {}, "the fleet publisher is not running"};
    take_ = t;
  }
  cv_.notify_one();
  if (fut.wait_for(wait) == std::future_status::ready) return fut.get();
  std::lock_guard lock(t->mutex);
  if (t->answered) return fut.get();
  t->abandoned = true;
  return {SlotAnswer::Kind::kUnreachable, {}, "etcd did not answer within " + std::to_string(wait.count()) + " ms"};
}

void Publisher::hold_slot(const Holder& h) {
  {
    std::lock_guard lock(mutex_);
    want_slot_ = h;
    dirty_ = true;
  }
  cv_.notify_one();
}

void Publisher::release_slot() {
  {
    std::lock_guard lock(mutex_);
    want_slot_.reset();
    dirty_ = true;
  }
  cv_.notify_one();
}

// The slot names the VIPs this node's record names (others decide with
// them whether they share one), whatever the caller knew when it asked: at
// start-up the network's detail may not be in the Board yet.
Holder Publisher::with_vips(Holder h) const {
  if (!last_seen_.vips.empty()) h.vips = last_seen_.vips;
  return h;
}

bool Publisher::sync_slot(EtcdClient& etcd) {
  if (!cfg_.budgeted()) return true;
  std::optional<Holder> want;
  {
    std::lock_guard lock(mutex_);
    want = want_slot_;
  }
  if (want) want = with_vips(*want);
  if (want) {
    if (slot_put_ && *slot_put_ == *want && slot_lease_ == lease_) return true;
    if (auto p = etcd.put(slot_key(), encode_holder(*want), lease_); !p) {
      lease_ = 0;  // as for the record: a lease etcd forgot fails the put
      return failed(p.error());
    }
    slot_put_ = want;
    slot_lease_ = lease_;
    slot_swept_ = true;
    return true;
  }
  // An earlier process of this node (a restart) may have left its slot
  // on a lease that lives until its TTL: swept once.
  if (slot_put_ || !slot_swept_) {
    if (auto r = etcd.remove(slot_key()); !r) return failed(r.error());
    slot_put_.reset();
    slot_swept_ = true;
  }
  return true;
}

void Publisher::do_take(EtcdClient& etcd, Take& t) {
  SlotAnswer a;
  const Holder mine = with_vips(t.holder);
  const std::string self = node_name(cfg_);
  const std::string holders_at = budget_prefix(cfg_.prefix);
  const std::string nodes_at = nodes_prefix(cfg_.prefix);
  // A lost race (another node took a slot between our read and our
  // transaction) is read and decided again; a few times at most.
  for (int round = 0; round < kTakeRounds; ++round) {
    if (lease_ == 0) {
      a = {SlotAnswer::Kind::kUnreachable, {}, "no lease: etcd has not answered this node yet"};
      break;
    }
    auto all = etcd.range_prefix(cfg_.prefix);
    if (!all) {
      failed(all.error());
      a = {SlotAnswer::Kind::kUnreachable, {}, all.error().str()};
      break;
    }
    std::vector<Holder> holders;
    std::vector<NodeRecord> records;
    for (const auto& kv : all->kvs) {
      if (kv.key.rfind(holders_at, 0) == 0) {
        if (auto h = decode_holder(kv.value)) holders.push_back(std::move(*h));
      } else if (kv.key.rfind(nodes_at, 0) == 0) {
        if (auto r = decode(kv.value)) records.push_back(std::move(*r));
      }
    }
    a.view = budget_view(cfg_, self, mine.vips, holders, records);
    if (!a.view.allows()) {
      a.kind = SlotAnswer::Kind::kFull;
      break;
    }
    auto put = etcd.put_if_unchanged(slot_key(), encode_holder(mine), lease_, holders_at, all->revision);
    if (!put) {
      // The transaction may have committed before the answer was lost: the
      // key may exist while the drain is refused. The next round puts the
      // slot this node wants, or deletes one it does not hold.
      slot_put_.reset();
      slot_swept_ = false;
      {
        std::lock_guard l2(mutex_);
        dirty_ = true;
      }
      failed(put.error());
      a = {SlotAnswer::Kind::kUnreachable, {}, put.error().str()};
      break;
    }
    a.kind = *put ? SlotAnswer::Kind::kTaken : SlotAnswer::Kind::kFull;
    if (*put) {
      slot_put_ = mine;
      slot_lease_ = lease_;
      slot_swept_ = true;
      break;
    }
  }
  std::lock_guard lock(t.mutex);
  if (t.abandoned) {
    // The caller refused the drain already: the slot goes again.
    if (a.kind == SlotAnswer::Kind::kTaken) {
      std::lock_guard l2(mutex_);
      if (!want_slot_) dirty_ = true;
    }
    return;
  }
  if (a.kind == SlotAnswer::Kind::kTaken) {
    std::lock_guard l2(mutex_);
    want_slot_ = t.holder;
  }
  t.answered = true;
  t.answer.set_value(std::move(a));
}

bool Publisher::step(EtcdClient& etcd) {
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(cfg_.ttl);
  if (lease_ == 0) {
    auto id = etcd.grant(ttl);
    if (!id) return failed(id.error());
    lease_ = *id;
    last_put_.reset();
    next_keepalive_ = std::chrono::steady_clock::now() + cfg_.ttl / 3;
  }
  NodeRecord now = record_();
  if (now.verdict != last_seen_.verdict || now.reason != last_seen_.reason || last_seen_.last_change == 0) {
    now.last_change = static_cast<std::int64_t>(std::time(nullptr));
  } else {
    now.last_change = last_seen_.last_change;
  }
  last_seen_ = now;
  if (!last_put_ || *last_put_ != now) {
    if (auto p = etcd.put(key_, encode(now), lease_); !p) {
      // A lease etcd forgot (it lost its data, or the lease ran out while
      // we could not reach it) fails the put ("requested lease not found").
      // Any failed put starts over on a new lease: the old one, if it
      // lives, ends by itself within its TTL.
      lease_ = 0;
      return failed(p.error());
    }
    last_put_ = now;
    ++puts_;
  }
  if (!sync_slot(etcd)) return false;
  if (std::chrono::steady_clock::now() >= next_keepalive_) {
    auto left = etcd.keepalive(lease_);
    if (!left) return failed(left.error());
    if (*left <= 0) {
      lease_ = 0;  // expired while we could not reach etcd: a new lease, the record again
      return step(etcd);
    }
    next_keepalive_ = std::chrono::steady_clock::now() + cfg_.ttl / 3;
  }
  if (!reachable_.exchange(true)) log::notice("fleet: etcd is reachable again; this node's record is published");
  return true;
}

void Publisher::run() {
  EtcdClient etcd(*transport_, fleet_deadline(cfg_.ttl));
  std::chrono::milliseconds backoff = 500ms;
  bool ok = true;
  std::shared_ptr<Take> take;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const auto until = ok ? next_keepalive_ : std::chrono::steady_clock::now() + backoff;
      cv_.wait_until(lock, until, [&] { return stop_ || (ok && dirty_) || take_; });
      if (stop_) break;
      dirty_ = false;
      take = std::move(take_);
    }
    ok = step(etcd);
    if (take) {
      if (!ok && lease_ == 0) {
        // No lease and none granted just now: etcd is not answering.
        std::lock_guard l(take->mutex);
        if (!take->abandoned) {
          take->answered = true;
          take->answer.set_value({SlotAnswer::Kind::kUnreachable, {}, last_error_});
        }
      } else {
        do_take(etcd, *take);
        ok = ok && reachable_.load();
      }
      take.reset();
    }
    backoff = ok ? 500ms : std::min<std::chrono::milliseconds>(backoff * 2, 5000ms);
  }
  // A clean stop: the record leaves now rather than at the lease's end.
  bool keep = false;
  {
    std::lock_guard lock(mutex_);
    keep = keep_lease_;
    take = std::move(take_);
  }
  if (take) {  // a take that came with the stop is answered, not left to time out
    std::lock_guard l(take->mutex);
    if (!take->abandoned) {
      take->answered = true;
      take->answer.set_value({SlotAnswer::Kind::kUnreachable, {}, "rsagent is stopping"});
    }
  }
  if (lease_ != 0 && reachable_.load() && !keep) (void)etcd.revoke(lease_);
}

}  // namespace rsagent::fleet
