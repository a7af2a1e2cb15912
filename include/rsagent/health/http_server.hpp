// The health endpoints over HTTP (cpp-httplib) and HAProxy's agent-check.
// Owns: one listening socket per configured address, bound (and refused if
// the port is taken: no SO_REUSEPORT) before the daemon changes anything,
// and one event-loop thread (epoll) that accepts, reads, answers and closes
// every connection, as nginx does: no thread hand-off per connection.
// cpp-httplib parses each complete request, routes it and writes the
// response into a buffer; the loop owns the sockets, the limits (request
// size, 3 s per connection, a connection cap) and non-blocking writes.
// Handlers only read Board snapshots, so an answer never waits on a probe.
// The agent-check listener has its own accept thread. Errors: bind()
// returns an error naming the address and the fix.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/health/board.hpp"
#include "rsagent/util/accept_loop.hpp"
#include "rsagent/util/result.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <unordered_map>
#include <sys/socket.h>
#include <thread>

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace rsagent::health {

inline constexpr int kListenBacklog = 1024;      // Debian's cpp-httplib hard-codes 5
inline constexpr std::size_t kMaxConnections = 4096;  // open at once; the rest wait in the backlog
inline constexpr std::size_t kMaxUriBytes = 8192;
inline constexpr std::size_t kMaxHeaderBytes = 8192;
inline constexpr std::size_t kMaxHeaders = 64;
inline constexpr std::chrono::milliseconds kConnectionTimeout{3000};

class HttpServer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>> bind(const config::Health& cfg,
                                                                Board& board);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void start();
  void stop();
  // /livez answers 200 only while the daemon's main loop keeps calling this.
  void heartbeat();

 private:
  struct Conn;
  HttpServer(const config::Health& cfg, Board& board);
  void install_routes(httplib::Server& s);
  void serve_get(const httplib::Request& req, httplib::Response& res);
  void run();
  void accept_from(int listener);
  // Each returns whether the connection still needs the loop.
  bool on_readable(Conn& c);
  bool on_writable(Conn& c);
  void answer(Conn& c);
  bool answer_from_cache(Conn& c);
  const std::string& rendered(const std::string& method, const std::string& path);
  void watch(Conn& c, std::uint32_t events);
  void close_conn(int fd);
  void pause_accepting(bool pause);
  int next_timeout_ms();
  void expire();

  config::Health cfg_;
  Board& board_;
  std::unique_ptr<httplib::Server> engine_;  // parses, routes and writes; never listens
  std::vector<UniqueFd> listeners_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::thread thread_;
  std::atomic<std::int64_t> heartbeat_ms_{0};
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
  // Responses cpp-httplib rendered for the current snapshot, replayed for
  // plain requests to the hot paths (see answer_from_cache).
  std::shared_ptr<const Snapshot> cached_snapshot_;
  bool cached_alive_ = true;
  std::unordered_map<std::string, std::string> cache_;
  bool rendering_ = false;  // filling the cache: not a client's request
};

class AgentCheckServer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<AgentCheckServer>> bind(const config::Endpoint& at,
                                                                      Board& board);
  ~AgentCheckServer();
  AgentCheckServer(const AgentCheckServer&) = delete;
  AgentCheckServer& operator=(const AgentCheckServer&) = delete;
  void start();
  void stop();

 private:
  AgentCheckServer(UniqueFd fd, Board& board) : loop_(std::move(fd), SOCK_NONBLOCK), board_(board) {}
  AcceptLoop loop_;
  Board& board_;
};

}  // namespace rsagent::health
