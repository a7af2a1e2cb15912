// The Publisher: this node's record in etcd, kept under a lease. Owns its
// thread (`rsagent-fleet`), the lease and the last record it put. It puts
// the record when it changes (a verdict change wakes it at once; changes
// that arrive while a put is under way are coalesced into the next one),
// renews the lease every third of its TTL, and grants a new lease and puts
// again when etcd forgot the old one. Every call has a deadline; an
// unreachable etcd is retried with backoff (0.5 s doubling, at most 5 s)
// and logged once when lost and once when back. Nothing else waits on
// it: the endpoint and the network never depend on etcd.
// Threads: notify() from any thread (it only sets a flag); start()/stop()
// from the owner's. stop() wakes the thread and joins it: at worst the
// deadline of one call (fleet_deadline()), then revokes the lease so the
// record leaves at once.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/fleet/etcd.hpp"
#include "rsagent/fleet/record.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace rsagent::fleet {

// Each etcd call's deadline for a lease of `ttl`: a quarter of it, within
// [0.5 s, 2 s], so a keep-alive that times out still leaves time for the
// next one before the lease ends.
[[nodiscard]] std::chrono::milliseconds fleet_deadline(std::chrono::milliseconds ttl);

// The name a node publishes under: fleet.name, else the host name.
[[nodiscard]] std::string node_name(const config::Fleet& f);

// This host's addresses outside lo (IPv6 link-local left out), as text.
[[nodiscard]] std::vector<std::string> local_addresses();

class Publisher {
 public:
  // `record` builds the current record (name set, last_change left 0); it
  // runs on the publisher's thread and must be thread-safe (the Board's
  // snapshot is).
  Publisher(config::Fleet cfg, std::unique_ptr<Transport> transport, std::function<NodeRecord()> record);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  void start();
  void notify();  // the record may have changed
  void stop();

  // For tests and /metrics: puts done, and whether etcd answered last time.
  [[nodiscard]] std::uint64_t puts() const { return puts_.load(); }
  [[nodiscard]] bool reachable() const { return reachable_.load(); }

 private:
  void run();
  bool step(EtcdClient& etcd);  // one round; false when etcd failed
  bool failed(const Error& e);  // says so once; false

  config::Fleet cfg_;
  std::string key_;
  std::unique_ptr<Transport> transport_;
  std::function<NodeRecord()> record_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool dirty_ = true;
  bool stop_ = false;
  std::thread thread_;
  // The thread's own state.
  std::int64_t lease_ = 0;
  std::chrono::steady_clock::time_point next_keepalive_{};
  std::optional<NodeRecord> last_put_;
  NodeRecord last_seen_;
  std::atomic<std::uint64_t> puts_{0};
  std::atomic<bool> reachable_{true};
};

}  // namespace rsagent::fleet
