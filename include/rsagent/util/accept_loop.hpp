// AcceptLoop: one thread accepting on a listening socket and handing each
// connection to a handler, until stop(). Owns the listening fd, an eventfd
// that wakes the thread for stop() or a new listener, and the thread. The handler runs on the
// loop's thread and owns the connection fd it is given. Nothing fails: an
// accept error skips that connection. When accept4() fails for want of a
// resource (EMFILE, ENFILE, ENOBUFS, ENOMEM) the pending connection stays
// in the backlog and keeps the listener readable, so the loop stops
// watching the listener for kAcceptBackoff and tries again, instead of
// spinning; it logs that once, and once more when an accept succeeds again.
#pragma once

#include "rsagent/util/fd.hpp"
#include "rsagent/util/loop_thread.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace rsagent {

inline constexpr std::chrono::milliseconds kAcceptBackoff{100};

// Whether accept4()'s errno means "out of a resource": wait, don't retry now.
[[nodiscard]] bool accept_starved(int err);

class AcceptLoop {
 public:
  using Handler = std::function<void(UniqueFd client)>;

  // listener: non-blocking (the loop takes the whole backlog, then polls).
  // accept_flags: extra accept4() flags for the client fd (SOCK_NONBLOCK).
  // name: what the log calls this listener ("agent-check").
  AcceptLoop(UniqueFd listener, int accept_flags, std::string name);
  ~AcceptLoop();
  AcceptLoop(const AcceptLoop&) = delete;
  AcceptLoop& operator=(const AcceptLoop&) = delete;

  void start(Handler handler);
  void stop();
  // Hands the loop a new listening socket in place of its own (a socket
  // file bound again). Returns at once: the thread swaps it in when it next
  // wakes, so a caller never waits on a handler that may be waiting on it.
  void replace_listener(UniqueFd listener);

 private:
  void run();
  void take_new_listener();
  std::mutex mutex_;        // next_listener_, from any thread
  UniqueFd next_listener_;  // handed over, not yet swapped in
  UniqueFd listener_;
  int accept_flags_;
  std::string name_;
  Handler handler_;
  LoopThread loop_;  // last: stopped (joined) before the members it uses go
};

}  // namespace rsagent
