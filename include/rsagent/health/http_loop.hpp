// HttpLoop: the sockets of the health endpoint, served the way nginx serves
// them. Owns the listening sockets (bound before the daemon changes
// anything; a taken port is an error, no SO_REUSEPORT), one epoll
// event-loop thread, every open connection, its buffers and its deadline.
// It hands what a connection has sent to a Responder on the loop thread,
// which frames one request and answers it (http_request.hpp parses); it
// writes the answer without blocking, then closes or, for a keep-alive
// request, waits for the next one. Limits: kMaxConnections open (the rest
// wait in the kernel's backlog), kConnectionTimeout of silence or of no
// progress per connection, kMaxRequestsPerConnection, a cap on what is
// buffered and on what a client may send after a closing answer. Errors:
// bind() names the address and the fix; a failing connection is closed and
// forgotten.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/util/fd.hpp"
#include "rsagent/util/result.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace rsagent::health {

inline constexpr std::size_t kMaxConnections = 4096;
inline constexpr std::size_t kMaxRequestsPerConnection = 1000;
inline constexpr std::chrono::milliseconds kConnectionTimeout{3000};

struct Peer {
  std::string ip;
  int port = 0;
  int fd = -1;
};

class HttpLoop {
 public:
  // What the Responder did with the bytes it was shown.
  struct Reply {
    std::size_t consumed = 0;  // 0: no complete request yet, wait for more
    bool close = false;        // close once the answer is out
  };
  // Called on the loop thread with what the connection has sent and not yet
  // been answered. Appends one whole answer to `out` when `in` starts with a
  // whole request (or a broken one, then close). `last`: this is the
  // connection's last answer (say "Connection: close").
  using Responder =
      std::function<Reply(std::string_view in, bool last, const Peer& peer, std::string& out)>;

  // defer_accept: wake up only once a connection has data (TCP_DEFER_ACCEPT).
  [[nodiscard]] static Result<std::unique_ptr<HttpLoop>> bind(
      const std::vector<config::Endpoint>& at, const std::string& what, bool defer_accept);
  ~HttpLoop();
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  void start(Responder responder);
  void stop();

 private:
  struct Conn;
  HttpLoop() = default;
  void run();
  void accept_from(int listener);
  // Each returns whether the connection still needs the loop.
  bool on_readable(Conn& c);
  bool on_writable(Conn& c);
  void serve(Conn& c);
  void push_deadline(Conn& c);
  void watch(Conn& c, std::uint32_t events);
  void close_conn(int fd);
  void pause_accepting(bool pause);
  int next_timeout_ms() const;
  void expire();

  Responder responder_;
  std::vector<UniqueFd> listeners_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::thread thread_;
  // Loop-thread state.
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    int fd;
    std::uint64_t serial;
  };
  std::deque<Deadline> deadlines_;  // in order: every deadline is now + kConnectionTimeout
  std::uint64_t serial_ = 0;
  bool paused_ = false;
};

}  // namespace rsagent::health
