#include "rsagent/health/agent_check.hpp"

#include <sys/socket.h>

namespace rsagent::health {

Result<std::unique_ptr<AgentCheckServer>> AgentCheckServer::bind(const config::Endpoint& at,
                                                                 Board& board) {
  auto fd = listen_tcp(at, "health.agent_check.listen");
  if (!fd) return fd.error();
  return std::unique_ptr<AgentCheckServer>(new AgentCheckServer(std::move(*fd), board));
}

AgentCheckServer::~AgentCheckServer() { stop(); }

void AgentCheckServer::start() {
  loop_.start([this](UniqueFd client) {
    // One line, then close: HAProxy reads until EOF. The line fits any
    // socket buffer, so a non-blocking send never waits on the peer.
    const std::string line = board_.snapshot()->verdict.agent_line();
    (void)!::send(client.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ++board_.agent_checks;
  });
}

void AgentCheckServer::stop() { loop_.stop(); }

}  // namespace rsagent::health
