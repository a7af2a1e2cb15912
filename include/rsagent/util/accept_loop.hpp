// AcceptLoop: one thread accepting on a listening socket and handing each
// connection to a handler, until stop(). Owns the listening fd, an eventfd
// that wakes the thread for stop(), and the thread. The handler runs on the
// loop's thread and owns the connection fd it is given. Nothing fails: an
// accept error skips that connection.
#pragma once

#include "rsagent/util/fd.hpp"

#include <functional>
#include <thread>

namespace rsagent {

class AcceptLoop {
 public:
  using Handler = std::function<void(UniqueFd client)>;

  // accept_flags: extra accept4() flags for the client fd (SOCK_NONBLOCK).
  AcceptLoop(UniqueFd listener, int accept_flags);
  ~AcceptLoop();
  AcceptLoop(const AcceptLoop&) = delete;
  AcceptLoop& operator=(const AcceptLoop&) = delete;

  void start(Handler handler);
  void stop();

 private:
  void run();
  UniqueFd listener_;
  UniqueFd wake_;
  int accept_flags_;
  Handler handler_;
  std::thread thread_;
};

}  // namespace rsagent
