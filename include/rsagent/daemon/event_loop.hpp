// The daemon's one wait, on its main thread.
// Owns: the signalfd (SIGTERM, SIGINT and SIGHUP, blocked in the whole
// process so they arrive here in order, never inside a netlink exchange),
// the tick timerfd, and the eventfd other threads use to wake the main
// thread. Watches the Kernel's netlink event fd and coalesces its bursts: a
// routing daemon or container churn on other interfaces makes one re-plan
// per burst, not one per message, while a deleted VIP is still put back
// within kMaxDelay.
// Threads: wait() on the main thread only; wake() from any thread.
// Errors: open() returns errno when a descriptor cannot be made.
#pragma once

#include "rsagent/net/kernel.hpp"
#include "rsagent/util/fd.hpp"
#include "rsagent/util/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace rsagent::daemon {

// When a burst of netlink events has settled: kQuiet after its last event,
// and never later than kMaxDelay after its first. Pure; the time is given.
class Coalescer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kQuiet{10};
  static constexpr std::chrono::milliseconds kMaxDelay{100};

  void event(Clock::time_point now);
  // When the burst is due; nullopt while there is none.
  [[nodiscard]] std::optional<Clock::time_point> due() const;
  // True once, when a burst is due at `now` (and forgets it).
  [[nodiscard]] bool take(Clock::time_point now);

 private:
  std::optional<Clock::time_point> first_;
  Clock::time_point last_{};
};

struct LoopEvents {
  bool tick = false;
  bool woken = false;        // another thread called wake()
  bool net_changed = false;  // a burst of netlink events has settled
  bool net_lost = false;     // ... and the kernel dropped some: resync from a full dump
  std::vector<int> signals;  // in arrival order
};

class EventLoop {
 public:
  [[nodiscard]] static Result<EventLoop> open(std::chrono::microseconds tick);

  // Netlink change events: `fd` turns readable, `drain` reads what is pending.
  void watch_netlink(int fd, std::function<net::Kernel::Drained()> drain);

  // Blocks until something happens. quiet: wake-ups and ticks only, for a
  // drain wait (signals and netlink events wait until the loop is back),
  // and at most `most`.
  [[nodiscard]] LoopEvents wait();
  [[nodiscard]] LoopEvents wait_quietly(std::chrono::milliseconds most);

  void wake();

 private:
  EventLoop(UniqueFd signals, UniqueFd timer, UniqueFd wake)
      : signals_(std::move(signals)), timer_(std::move(timer)), wake_(std::move(wake)) {}
  [[nodiscard]] LoopEvents poll_once(int timeout_ms, bool quiet);

  UniqueFd signals_;
  UniqueFd timer_;
  UniqueFd wake_;
  int netlink_fd_ = -1;
  std::function<net::Kernel::Drained()> drain_;
  Coalescer burst_;
  bool burst_lost_ = false;
};

}  // namespace rsagent::daemon
