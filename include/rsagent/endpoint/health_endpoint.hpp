// The health endpoint's answers: what a director's checker (HAProxy
// httpchk, keepalived HTTP_GET, ldirectord) and an operator (curl,
// Prometheus) get for each request. Owns: the HttpLoop that holds the
// sockets (bound by the daemon before it changes anything) and its one
// thread, and the liveness heartbeat. Every answer is rendered from the
// Board's current snapshot on the loop thread, so it never waits on a
// probe, and a given state always gives the same body (keepalived's
// digest). Who may ask (health.allow) and how long a request may take is
// the HttpLoop's business, decided before a request reaches this. Errors:
// none after construction; a bad request gets its status code (400, 404,
// 405, 413, 414, 431, 501, 505) and the connection closes.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/verdict/board.hpp"
#include "rsagent/endpoint/http_loop.hpp"
#include "rsagent/endpoint/http_request.hpp"

#include <atomic>
#include <memory>

namespace rsagent::endpoint {

class HealthEndpoint {
 public:
  HealthEndpoint(verdict::Board& board, std::unique_ptr<HttpLoop> loop);
  ~HealthEndpoint();
  HealthEndpoint(const HealthEndpoint&) = delete;
  HealthEndpoint& operator=(const HealthEndpoint&) = delete;

  void start();
  void stop();
  // /livez answers 200 only while the daemon's main loop keeps calling this.
  void heartbeat();

  // The answer to one parsed request, as it goes on
  // the wire (for tests: the loop is not needed to see it).
  [[nodiscard]] std::string answer(const HttpRequest& req, bool last) const;

 private:
  HttpLoop::Reply respond(const HttpParse& p, bool last, const Peer& peer, std::string& out);

  verdict::Board& board_;
  std::unique_ptr<HttpLoop> loop_;
  std::atomic<std::int64_t> heartbeat_ms_{0};
};

}  // namespace rsagent::endpoint
