// The daemon's tie to the fleet: owns the running fleet::Publisher (none
// while the fleet is off or this binary has no transport), builds its
// record from the Board, and replaces it when a reload changes the
// `fleet` section (keeping the lease, as a restart does, when the name
// and prefix stay, so a drained node's slot is never free in between);
// with a drain budget, the budget's consent before the operator's drain
// or maint (admit) and before a draining stop, and the slot's release on
// ready. Threads: notify(), admit() and release() from any thread (the
// Board's verdict callback, the tick, the control thread); apply() and
// stop() from the main thread. stop() waits at most one etcd call's
// deadline (fleet::fleet_deadline) plus the revoke's; admit() and
// stopping() at most take_wait(), below the control client's wait.
// Nothing fails: etcd trouble is the Publisher's to log, and admit()
// answers it as a refusal.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/daemon/control_codec.hpp"
#include "rsagent/fleet/etcd.hpp"
#include "rsagent/fleet/publisher.hpp"
#include "rsagent/verdict/board.hpp"

#include <memory>
#include <mutex>

namespace rsagent::daemon {

// How long admit() and stopping() wait for the publisher's take: a
// deadline per endpoint and three more, at most kSlotTakeLimitMs.
[[nodiscard]] std::chrono::milliseconds take_wait(const config::Fleet& f);

class FleetLink {
 public:
  FleetLink(fleet::TransportFactory factory, verdict::Board& board) : factory_(factory), board_(board) {}
  ~FleetLink() { stop(); }
  FleetLink(const FleetLink&) = delete;
  FleetLink& operator=(const FleetLink&) = delete;

  // Starts publishing under `f`, or restarts when `f` changed; stops when off.
  void apply(const config::Fleet& f);
  void notify();
  // keep_lease: leave the lease to run out rather than revoke it (a restart).
  void stop(bool keep_lease = false);

  // The drain budget's say before this node goes out as `op` (drain or
  // maint): nullopt to go on (a slot is held, or no budget is set), or the
  // refusal to answer with (nothing changed). A node out already keeps its
  // slot without asking etcd (the slot takes the new state and reason).
  // `note` gets what a forced drain risks. With `force` it never refuses.
  [[nodiscard]] std::optional<ControlReply> admit(const ControlRequest& r, const verdict::OperatorState& op,
                                                  std::string& note);
  // The operator's state went back to ready (or a drain was not done): the slot goes.
  void release();
  // A draining stop: takes a slot, or holds one over the budget (a stop is
  // never refused) and logs who else is out.
  void stopping();

 private:
  fleet::TransportFactory factory_;
  verdict::Board& board_;
  // Guards publisher_ and running_ against the other threads. Never held
  // across an etcd call: notify() runs on the thread that changed the
  // verdict, which must never wait for etcd.
  std::mutex mutex_;
  std::shared_ptr<fleet::Publisher> publisher_;
  std::optional<config::Fleet> running_;
  // The running publisher and its settings, when it has a budget.
  [[nodiscard]] std::pair<std::shared_ptr<fleet::Publisher>, config::Fleet> budgeted();
  [[nodiscard]] fleet::Holder holder(const config::Fleet& f, const std::string& state, const std::string& reason,
                                     std::int64_t since) const;
};

}  // namespace rsagent::daemon
