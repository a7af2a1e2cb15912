// The health endpoints over HTTP (cpp-httplib), built into the module
// rsagent-http.so (see http_module.hpp). Owns: the HttpLoop that holds the
// sockets (bound by the daemon before it changes anything) and its one
// thread; the cpp-httplib Server used only to parse, route and write (it
// never listens); the size limits (414/431) and the per-snapshot cache of
// rendered hot-path answers, both on the loop thread. Handlers only read
// Board snapshots, so an answer never waits on a probe. Errors: none after
// construction; a bad request gets its status code.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/health/board.hpp"
#include "rsagent/health/http_loop.hpp"
#include "rsagent/health/http_module.hpp"

#include <atomic>
#include <memory>
#include <unordered_map>

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace rsagent::health {

inline constexpr std::size_t kMaxHeaders = 64;

class HttpServer final : public HttpEndpoint {
 public:
  HttpServer(const config::Health& cfg, Board& board, std::unique_ptr<HttpLoop> loop);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void start() override;
  void stop() override;
  void heartbeat() override;

 private:
  void install_routes(httplib::Server& s);
  void serve_get(const httplib::Request& req, httplib::Response& res);
  // The loop's Responder (loop thread).
  void respond(const std::string& request, bool complete, const Peer& peer, std::string& out);
  // line_end, end: where the request line and the header block end.
  bool answer_from_cache(const std::string& request, std::size_t line_end, std::size_t end,
                         const Peer& peer, std::string& out);
  [[nodiscard]] bool allowed(const std::string& ip) const;  // health.allow
  const std::string& rendered(const std::string& method, const std::string& path);

  config::Health cfg_;
  Board& board_;
  std::unique_ptr<httplib::Server> engine_;  // parses, routes and writes; never listens
  std::unique_ptr<HttpLoop> loop_;
  std::atomic<std::int64_t> heartbeat_ms_{0};
  // Responses cpp-httplib rendered for the current snapshot, replayed for
  // plain requests to the hot paths (see answer_from_cache). Loop thread.
  std::shared_ptr<const Snapshot> cached_snapshot_;
  bool cached_alive_ = true;
  std::unordered_map<std::string, std::string> cache_;
  bool rendering_ = false;  // filling the cache: not a client's request
};

}  // namespace rsagent::health
