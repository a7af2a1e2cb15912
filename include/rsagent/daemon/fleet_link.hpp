// The daemon's tie to the fleet: owns the running fleet::Publisher (none
// while the fleet is off or this binary has no transport), builds its
// record from the Board, and replaces it when a reload changes the
// `fleet` section. Threads: notify() from any thread (the Board's verdict
// callback, the tick); apply() and stop() from the main thread. stop()
// waits at most one etcd call's deadline (fleet::fleet_deadline) plus the
// revoke's. Nothing fails: etcd trouble is the Publisher's to log.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/fleet/etcd.hpp"
#include "rsagent/fleet/publisher.hpp"
#include "rsagent/verdict/board.hpp"

#include <memory>
#include <mutex>

namespace rsagent::daemon {

class FleetLink {
 public:
  FleetLink(fleet::TransportFactory factory, verdict::Board& board) : factory_(factory), board_(board) {}
  ~FleetLink() { stop(); }
  FleetLink(const FleetLink&) = delete;
  FleetLink& operator=(const FleetLink&) = delete;

  // Starts publishing under `f`, or restarts when `f` changed; stops when off.
  void apply(const config::Fleet& f);
  void notify();
  void stop();

 private:
  fleet::TransportFactory factory_;
  verdict::Board& board_;
  std::mutex mutex_;  // guards publisher_ against notify() from other threads
  std::unique_ptr<fleet::Publisher> publisher_;
  std::optional<config::Fleet> running_;
};

}  // namespace rsagent::daemon
