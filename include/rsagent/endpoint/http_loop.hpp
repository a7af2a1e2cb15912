// HttpLoop: the sockets of the health endpoint, served the way nginx and
// HAProxy serve them. Owns the listening sockets (bound before the daemon
// changes anything; a taken port is an error, no SO_REUSEPORT), one epoll
// event-loop thread, every open connection, its buffers and its deadline.
//
// health.allow is applied here, at accept: a source outside it is closed
// before a byte of it is read (Event::kDenied). A source holding
// max_connections_per_source is closed the same way (kSourceFull), so one
// peer never takes the slots the directors need; past `max_connections` in
// all (sized from the daemon's fd budget) the listeners are not watched and
// the rest wait in the kernel's backlog. At EMFILE/ENFILE the listeners are
// not watched for kAcceptBackoff (logged once until an accept works again)
// instead of spinning on a readable listener.
//
// Deadlines, each from the start of what it limits, never re-armed by
// progress: a request's header block must be whole within header_timeout of
// its first byte (a new connection: of its accept); an answered keep-alive
// connection waits keepalive_timeout for the next request's first byte; an
// answer that waits for a slow reader must be out within send_timeout; what
// a client still sends after a closing answer is read away for at most
// keepalive_timeout. Also capped: kMaxRequestsPerConnection, what is
// buffered in and out, and what a client may send after a closing answer.
//
// Framing resumes where it stopped (FrameScan): each received byte is
// scanned once, and parse_http_request runs only when it can decide, so a
// request costs O(its bytes) however it is split. The Responder gets each
// parsed request (or the error status) on the loop thread and appends its
// answer; the loop writes it without blocking, then closes or waits for the
// next request. Errors: bind() names the address and the fix; a failing
// connection is closed and forgotten.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/endpoint/http_request.hpp"
#include "rsagent/endpoint/source_counts.hpp"
#include "rsagent/util/fd.hpp"
#include "rsagent/util/result.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <sys/socket.h>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace rsagent::endpoint {

// The most connections the endpoint holds when the fd budget allows it.
inline constexpr std::size_t kMaxConnections = 4096;
inline constexpr std::size_t kMaxRequestsPerConnection = 1000;
inline constexpr std::chrono::milliseconds kAcceptBackoff{100};

struct Peer {
  std::string ip;
  int port = 0;
  int fd = -1;
};

class HttpLoop {
 public:
  struct Options {
    std::vector<Cidr> allow;  // health.allow; empty lets every source in
    config::HttpLimits limits;
    std::size_t max_connections = kMaxConnections;
  };
  // What the Responder did with a request.
  struct Reply {
    bool close = false;  // close once the answer is out
  };
  // Called on the loop thread with one request that parsed (kComplete) or
  // did not (kError, its status to answer; the connection closes). Appends
  // one whole answer to `out`. `last`: this is the connection's last answer
  // (say "Connection: close").
  using Handler =
      std::function<Reply(const HttpParse& request, bool last, const Peer& peer, std::string& out)>;
  // What the loop refused or ended, for the counters (on the loop thread).
  enum class Event : std::uint8_t { kDenied, kSourceFull, kHeaderTimeout, kIdleTimeout, kSendTimeout };
  using OnEvent = std::function<void(Event)>;

  // defer_accept: wake up only once a connection has data (TCP_DEFER_ACCEPT).
  [[nodiscard]] static Result<std::unique_ptr<HttpLoop>> bind(
      const std::vector<config::Endpoint>& at, const std::string& what, bool defer_accept,
      Options options);
  ~HttpLoop();
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  void start(Handler handler, OnEvent on_event = {});
  void stop();

 private:
  struct Conn;
  enum class Phase : std::uint8_t { kNone, kHeader, kIdle, kSending, kLinger };
  explicit HttpLoop(Options options);
  void run();
  void accept_from(int listener);
  [[nodiscard]] bool allowed(const sockaddr_storage& ss) const;
  // Each returns whether the connection still needs the loop.
  bool on_readable(Conn& c);
  bool on_writable(Conn& c);
  void serve(Conn& c, bool eof = false);
  void settle(Conn& c);  // the deadline for what the connection does now
  void arm(Conn& c, Phase phase, std::chrono::milliseconds timeout);
  void watch(Conn& c, std::uint32_t events);
  void close_conn(int fd);
  void update_listeners();
  int next_timeout_ms() const;
  void expire();

  Options opt_;
  Responder handler_;
  OnEvent on_event_;
  std::vector<UniqueFd> listeners_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::thread thread_;
  // Loop-thread state.
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  SourceCounts per_source_;
  struct Deadline {
    std::chrono::steady_clock::time_point at;
    int fd;
    std::uint64_t id;   // the connection's, not the fd's (fds are reused)
    std::uint64_t seq;  // the connection's push; older ones are stale
    bool operator>(const Deadline& o) const { return at > o.at; }
  };
  // At most a few live entries per connection: a later deadline is pushed
  // only when the earlier entry comes due (see arm()).
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
  std::uint64_t next_id_ = 0;
  bool full_ = false;  // max_connections reached
  std::chrono::steady_clock::time_point backoff_until_{};  // after EMFILE/ENFILE
  bool out_of_fds_ = false;  // logged, until an accept works again
  bool listening_ = true;
};

}  // namespace rsagent::endpoint
