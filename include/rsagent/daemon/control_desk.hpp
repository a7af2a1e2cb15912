// The operator's side of the running daemon: the answer to each control
// request (ping, status, drain-status, drain, maint, ready, stop, restart,
// reload).
// Owns: the operator state as persisted (a drain the director saw survives
// a restart), the stop and restart wishes the main loop acts on, and the
// queue of reloads, which must run on the main thread (netlink).
// A drain or maint first asks the drain budget (set_budget: the FleetLink's
// admit), before anything changes; a refusal leaves the state as it was.
// Threads: answer() runs on the control server's thread; run_pending(),
// refuse_pending() and the wishes are read on the main thread.
// Errors: every request gets a ControlReply; nothing here throws.
#pragma once

#include "rsagent/daemon/control.hpp"
#include "rsagent/daemon/event_loop.hpp"
#include "rsagent/verdict/board.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>

namespace rsagent::daemon {

// Tells one daemon process from the next (a restart waits for a new one).
[[nodiscard]] std::uint64_t random_boot_id();

class ControlDesk {
 public:
  ControlDesk(verdict::Board& board, OperatorStore& store, EventLoop& loop)
      : board_(board), store_(store), loop_(loop) {}

  // The budget's say before a drain or maint (nullopt: go on; `note` is
  // added to the answer), and the slot's release on ready. Set before the
  // control server starts.
  using Admit = std::function<std::optional<ControlReply>(const ControlRequest&, const verdict::OperatorState&,
                                                          std::string& note)>;
  void set_budget(Admit admit, std::function<void()> release) {
    admit_ = std::move(admit);
    release_ = std::move(release);
  }

  // Control thread.
  [[nodiscard]] ControlReply answer(const ControlRequest& r);

  // Main thread: carry out queued reloads with `reload`, in order.
  void run_pending(const std::function<ControlReply()>& reload);
  // Main thread, once the loop has ended: answer what is queued, and
  // refuse what comes later, "stopping" (never leave a caller waiting).
  void refuse_pending();

  std::atomic<bool> stop_requested{false};
  std::atomic<bool> stop_now{false};       // stop --now: skip the drain wait
  std::atomic<bool> restart_requested{false};
  const std::uint64_t boot = random_boot_id();

 private:
  [[nodiscard]] ControlReply queue_reload(const ControlRequest& r);
  [[nodiscard]] ControlReply set_operator(const ControlRequest& r);
  void wish(std::atomic<bool>& flag);

  verdict::Board& board_;
  OperatorStore& store_;
  EventLoop& loop_;
  std::mutex operator_mutex_;
  Admit admit_;
  std::function<void()> release_;
  struct Pending {
    ControlRequest req;
    std::promise<ControlReply> reply;
  };
  std::mutex pending_mutex_;
  std::deque<std::shared_ptr<Pending>> pending_;
  bool stopping_ = false;  // under pending_mutex_
};

}  // namespace rsagent::daemon
