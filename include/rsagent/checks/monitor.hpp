// The Monitor runs each check on its own schedule and posts results to the
// Board, so no number of polling directors multiplies the load on the
// checked service. Owns: one thread per check. stop() (or the destructor)
// wakes and joins them and cancels a probe in progress first: an exec
// check's process group is killed (a child that survives SIGKILL goes to
// the reaper after 50 ms), a tcp connect abandoned and an http probe's
// socket shut down, so stop() returns within milliseconds and the daemon's
// main thread, which calls it on a stop or a reload, never waits for a
// hanging service. Nothing fails.
#pragma once

#include "rsagent/verdict/board.hpp"
#include "rsagent/checks/prober.hpp"

#include <condition_variable>
#include <thread>

namespace rsagent::checks {

class Monitor {
 public:
  Monitor(std::vector<config::Check> checks, verdict::Board& board, std::unique_ptr<Prober> prober);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void start();
  void stop();

 private:
  void run(std::size_t index);

  std::vector<config::Check> checks_;
  verdict::Board& board_;
  std::unique_ptr<Prober> prober_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace rsagent::checks
