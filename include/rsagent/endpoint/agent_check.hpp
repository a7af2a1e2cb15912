// HAProxy's agent-check: per connection, one line ("up ready", "up drain",
// "maint", "down #reason") and close. A source outside health.allow gets
// the connection closed without a word: the reason may name services and
// paths. Owns: its listening socket and one accept thread. Errors: bind()
// names the address and the fix.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/verdict/board.hpp"
#include "rsagent/endpoint/http_loop.hpp"
#include "rsagent/util/accept_loop.hpp"
#include "rsagent/util/result.hpp"

#include <memory>
#include <sys/socket.h>

namespace rsagent::endpoint {

class AgentCheckServer {
 public:
  // allow: health.allow; empty lets every source in.
  [[nodiscard]] static Result<std::unique_ptr<AgentCheckServer>> bind(
      const config::Endpoint& at, std::vector<Cidr> allow, verdict::Board& board);
  ~AgentCheckServer();
  AgentCheckServer(const AgentCheckServer&) = delete;
  AgentCheckServer& operator=(const AgentCheckServer&) = delete;
  void start();
  void stop();

 private:
  AgentCheckServer(UniqueFd fd, std::vector<Cidr> allow, verdict::Board& board)
      : loop_(std::move(fd), SOCK_NONBLOCK, "agent-check"), allow_(std::move(allow)), board_(board) {}
  [[nodiscard]] bool allowed(int client) const;
  AcceptLoop loop_;
  const std::vector<Cidr> allow_;
  verdict::Board& board_;
};

}  // namespace rsagent::endpoint
