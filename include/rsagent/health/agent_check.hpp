// HAProxy's agent-check: per connection, one line ("up ready", "up drain",
// "maint", "down #reason") and close. Owns: its listening socket and one
// accept thread. Errors: bind() names the address and the fix.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/health/board.hpp"
#include "rsagent/health/http_loop.hpp"
#include "rsagent/util/accept_loop.hpp"
#include "rsagent/util/result.hpp"

#include <memory>
#include <sys/socket.h>

namespace rsagent::health {

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
