// The Publisher: this node's record in etcd, kept under a lease. Owns its
// thread (`rsagent-fleet`), the lease and the last record it put. It puts
// the record when it changes (a verdict change wakes it at once; changes
// that arrive while a put is under way are coalesced into the next one),
// renews the lease every third of its TTL, and grants a new lease and puts
// again when etcd forgot the old one. Every call has a deadline; an
// unreachable etcd is retried with backoff (0.5 s doubling, at most 5 s)
// and logged once when lost and once when back. Nothing else waits on
// it but a take of the drain budget's slot, within its own bound: the
// endpoint and the network never depend on etcd.
// With a drain budget it also owns this node's slot (budget.hpp): its
// thread is the only writer of the slot key, so a take, a release and a
// lease granted again never race. The slot lives under the record's
// lease (it frees itself when the node dies) and is put again on a new
// lease while it is held.
// Threads: notify(), hold_slot() and release_slot() from any thread (they
// only set state and wake it); take_slot() from any thread, waiting at most
// its `wait` for the publisher's thread to answer; start()/stop() from the
// owner's. stop() wakes the thread and joins it: at worst the deadline of
// one call (fleet_deadline()), then revokes the lease so the record and
// the slot leave at once (not with keep_lease: a restart's next process
// takes them over).
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/fleet/budget.hpp"
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

// The budget's answer to a take.
// How many times a take reads and decides again after losing the race to
// another node's take; then it answers kFull, its view perhaps allowing.
inline constexpr int kTakeRounds = 8;

struct SlotAnswer {
  enum class Kind { kTaken, kFull, kUnreachable };
  Kind kind = Kind::kUnreachable;
  BudgetView view;    // kTaken, kFull: who is out
  std::string error;  // kUnreachable: what failed
};

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
  // keep_lease: do not revoke (a restarting daemon's next process takes
  // the record and the slot over before the lease ends).
  void stop(bool keep_lease = false);

  // Takes this node's slot as `h` when the budget allows (or this node
  // holds one already): read, decide, then a transaction that fails when
  // another node took a slot meanwhile (tried again a few times). Waits at
  // most `wait`; a take that answers later is undone.
  [[nodiscard]] SlotAnswer take_slot(const Holder& h, std::chrono::milliseconds wait);
  // Holds `h` without asking: put when etcd answers (a forced drain, or a
  // state kept from before a restart).
  void hold_slot(const Holder& h);
  void release_slot();

  // For tests and /metrics: puts done, and whether etcd answered last time.
  [[nodiscard]] std::uint64_t puts() const { return puts_.load(); }
  [[nodiscard]] bool reachable() const { return reachable_.load(); }

 private:
  void run();
  bool step(EtcdClient& etcd);  // one round; false when etcd failed
  bool failed(const Error& e);  // says so once; false
  bool sync_slot(EtcdClient& etcd);  // the slot key as wanted; false when etcd failed
  struct Take;
  void do_take(EtcdClient& etcd, Take& t);
  [[nodiscard]] std::string slot_key() const;
  [[nodiscard]] Holder with_vips(Holder h) const;

  config::Fleet cfg_;
  std::string key_;
  std::unique_ptr<Transport> transport_;
  std::function<NodeRecord()> record_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool dirty_ = true;
  bool stop_ = false;
  bool keep_lease_ = false;
  std::optional<Holder> want_slot_;      // under mutex_
  std::shared_ptr<Take> take_;           // under mutex_: a take waiting for the thread
  std::thread thread_;
  // The thread's own state.
  std::int64_t lease_ = 0;
  std::chrono::steady_clock::time_point next_keepalive_{};
  std::optional<NodeRecord> last_put_;
  NodeRecord last_seen_;
  std::optional<Holder> slot_put_;  // what etcd holds for this node's slot
  std::int64_t slot_lease_ = 0;     // the lease it was put on
  bool slot_swept_ = false;
  std::string last_error_;          // the last failure, for a take's answer         // a stale slot from an earlier process removed
  std::atomic<std::uint64_t> puts_{0};
  std::atomic<bool> reachable_{true};
};

}  // namespace rsagent::fleet
