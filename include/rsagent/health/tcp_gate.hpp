// The TCP gate: a port that accepts connections only while the node is
// ready, for directors that only connect (keepalived's TCP_CHECK with
// connect_port, HAProxy's plain `check`). Owns: its listening sockets
// (bound before the daemon changes anything, so a taken port refuses the
// start), one thread that closes every accepted connection at once and
// opens or closes the gate on each verdict change. Closing the gate stops
// listening without giving up the port (Linux: shutdown(SHUT_RD) on a
// listening socket, listen() again to reopen), so connects are refused while
// the node is not ready and no other process can take the port meanwhile.
// Threads: its own accept thread; follow() runs on whichever thread changed
// the verdict (the Board calls it), so the gate closes before that change
// returns. Errors: bind()
// names the address and the fix; nothing fails after that (a listen() that
// fails to reopen is retried and counted).
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/health/board.hpp"
#include "rsagent/util/fd.hpp"
#include "rsagent/util/result.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rsagent::health {

class TcpGate {
 public:
  [[nodiscard]] static Result<std::unique_ptr<TcpGate>> bind(const std::vector<config::Endpoint>& at,
                                                             Board& board);
  ~TcpGate();
  TcpGate(const TcpGate&) = delete;
  TcpGate& operator=(const TcpGate&) = delete;

  void start();
  void stop();
  // Opens or closes the gate to match the Board's verdict now.
  void follow();

 private:
  TcpGate(std::vector<UniqueFd> listeners, Board& board);
  void run();
  void wake();

  std::vector<UniqueFd> listeners_;
  Board& board_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mutex_;  // follow() from any thread
  bool open_ = true;  // listening: bound sockets start listening
};

}  // namespace rsagent::health
