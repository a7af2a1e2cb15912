#include "rsagent/endpoint/agent_check.hpp"

#include "rsagent/util/socket.hpp"

#include <algorithm>
#include <chrono>
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

void AgentCheckServer::note(int client, const char* state) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(client, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
  const auto a = peer_address(ss);
  if (!a) return;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  board_.census.note({a->str(), "", "", "", verdict::CheckerKind::kAgentCheck, {state, 0, now}}, now);
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
    const auto snap = board_.snapshot();
    const std::string line = snap->verdict.agent_line();
    (void)!::send(client.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ++board_.agent_checks;
    note(client.get(), verdict::mode_name(snap->verdict.mode));
  });
}

void AgentCheckServer::stop() { loop_.stop(); }

}  // namespace rsagent::endpoint
