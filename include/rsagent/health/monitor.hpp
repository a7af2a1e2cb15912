// The Monitor runs each check on its own schedule and posts results to the
// Board, so no number of polling directors multiplies the load on the
// checked service. Owns: one thread per check. stop() (or the destructor)
// wakes and joins them and cancels a probe in progress: an exec check's
// process group is killed and a tcp connect abandoned at once. An http
// probe cannot be cut short; cpp-httplib bounds it by its connect, write
// and read timeouts (each the check's timeout). Nothing fails.
#pragma once

#include "rsagent/health/board.hpp"
#include "rsagent/health/prober.hpp"

#include <condition_variable>
#include <thread>

namespace rsagent::health {

class Monitor {
 public:
  Monitor(std::vector<config::Check> checks, Board& board, std::unique_ptr<Prober> prober);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  void start();
  void stop();

 private:
  void run(std::size_t index);

  std::vector<config::Check> checks_;
  Board& board_;
  std::unique_ptr<Prober> prober_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace rsagent::health
