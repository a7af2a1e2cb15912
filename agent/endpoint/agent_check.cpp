#include "rsagent/endpoint/agent_check.hpp"

#include "rsagent/util/socket.hpp"

#include <algorithm>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

namespace rsagent::endpoint {

Result<std::unique_ptr<AgentCheckServer>> AgentCheckServer::bind(const config::Endpoint& at,
                                                                 std::vector<Cidr> allow,
                                                                 verdict::Board& board) {
  auto fd = listen_tcp(at.address, at.port, "health.agent_check.listen");
  if (!fd) return fd.error();
  return std::unique_ptr<AgentCheckServer>(
      new AgentCheckServer(std::move(*fd), std::move(allow), board));
}

bool AgentCheckServer::allowed(int client) const {
  if (allow_.empty()) return true;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(client, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  const auto a = peer_address(ss);
  return a && std::any_of(allow_.begin(), allow_.end(),
                          [&](const Cidr& c) { return c.contains(*a); });
}

AgentCheckServer::~AgentCheckServer() { stop(); }

void AgentCheckServer::start() {
  loop_.start([this](UniqueFd client) {
    // Not allowed: closed without a word (the fd goes out of scope).
    if (!allowed(client.get())) {
      ++board_.agent_checks_denied;
      return;
    }
    // One line, then close: HAProxy reads until EOF. The line fits any
    // socket buffer, so a non-blocking send never waits on the peer.
    const std::string line = board_.snapshot()->verdict.agent_line();
    (void)!::send(client.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ++board_.agent_checks;
  });
}

void AgentCheckServer::stop() { loop_.stop(); }

}  // namespace rsagent::endpoint
