// A loop on a thread of its own that its owner can wake and stop: what the
// endpoint (HttpLoop), the AcceptLoops, the TCP gate and the ARP guard each
// run. Owns: the eventfd the loop polls beside its own descriptors, the stop
// flag and the std::thread. Threads: start() and stop() on the owner's
// thread; wake() from any thread; the loop body calls stopping() and, when
// its poll says the eventfd is readable, clear(). Errors: ok() is false when
// no eventfd could be made; the owner then reports itself off.
#pragma once

#include "rsagent/util/fd.hpp"

#include <atomic>
#include <functional>
#include <thread>

namespace rsagent {

class LoopThread {
 public:
  LoopThread();
  ~LoopThread() { stop(); }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  [[nodiscard]] bool ok() const { return fd_.get() >= 0; }
  // Readable (POLLIN, EPOLLIN) after wake() or stop(), until clear().
  [[nodiscard]] int fd() const { return fd_.get(); }
  // Runs `body` on the thread; nothing when it already runs.
  void start(std::function<void()> body);
  // Sets stopping(), wakes the loop and joins it; nothing when not running.
  // The loop must return once it sees stopping() after a wake-up.
  void stop();
  void wake();
  [[nodiscard]] bool stopping() const { return stopping_; }
  [[nodiscard]] bool running() const { return thread_.joinable(); }
  // Reads the eventfd's count, so the next poll waits again.
  void clear();

 private:
  UniqueFd fd_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace rsagent
