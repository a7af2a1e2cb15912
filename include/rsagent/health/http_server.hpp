// The health endpoints over HTTP (cpp-httplib) and HAProxy's agent-check.
// Owns: one listening socket per configured address, bound (and refused if
// the port is taken: no SO_REUSEPORT) before the daemon changes anything,
// then served by a bounded worker pool; the agent-check listener and its
// thread. Handlers only read Board snapshots, so an answer never waits on a
// probe. Errors: bind() returns an error naming the address and the fix.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/health/board.hpp"
#include "rsagent/util/accept_loop.hpp"
#include "rsagent/util/result.hpp"

#include <atomic>
#include <memory>
#include <sys/socket.h>
#include <thread>

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace rsagent::health {

inline constexpr int kListenBacklog = 1024;      // Debian's cpp-httplib hard-codes 5
// Per listening address. Each connection carries one short request, so a
// few workers keep both cores busy; more only add lock handoffs.
inline constexpr std::size_t kWorkers = 4;
inline constexpr std::size_t kQueuedConnections = 512;
inline constexpr std::size_t kMaxHeaderBytes = 8192;
inline constexpr std::size_t kMaxHeaders = 64;

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
  HttpServer(const config::Health& cfg, Board& board);
  void install_routes(httplib::Server& s);
  void serve_get(const httplib::Request& req, httplib::Response& res);

  config::Health cfg_;
  Board& board_;
  std::vector<std::unique_ptr<httplib::Server>> servers_;
  std::vector<std::thread> threads_;
  std::atomic<std::int64_t> heartbeat_ms_{0};
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
