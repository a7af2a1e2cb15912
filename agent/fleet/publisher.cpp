#include "rsagent/fleet/publisher.hpp"

#include "rsagent/util/log.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

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

void Publisher::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool Publisher::failed(const Error& e) {
  if (reachable_.exchange(false))
    log::warning("fleet: etcd is unreachable (" + e.str() +
                 "); this node keeps serving its directors and retries in the background");
  return false;
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
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const auto until = ok ? next_keepalive_ : std::chrono::steady_clock::now() + backoff;
      cv_.wait_until(lock, until, [&] { return stop_ || (ok && dirty_); });
      if (stop_) break;
      dirty_ = false;
    }
    ok = step(etcd);
    backoff = ok ? 500ms : std::min<std::chrono::milliseconds>(backoff * 2, 5000ms);
  }
  // A clean stop: the record leaves now rather than at the lease's end.
  if (lease_ != 0 && reachable_.load()) (void)etcd.revoke(lease_);
}

}  // namespace rsagent::fleet
