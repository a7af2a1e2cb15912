#include "nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>
#include <vector>

namespace rsagent::testing {

namespace {

bool enter(const Netns& ns) {
  const std::string path = "/run/netns/" + ns.name();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
  ::close(fd);
  return ok;
}

bool sockaddr_for(const std::string& ip, int port, sockaddr_storage& ss, socklen_t& len) {
  ss = {};
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, ip.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *s4;
    return true;
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET6, ip.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *s6;
    return true;
  }
  return false;
}

}  // namespace

void in_netns(const Netns& ns, const std::function<void()>& f) {
  std::exception_ptr err;
  bool entered = false;
  std::thread t([&] {
    entered = enter(ns);
    if (!entered) return;
    try {
      f();
    } catch (...) {
      err = std::current_exception();
    }
  });
  t.join();
  REQUIRE_MESSAGE(entered, "setns into " << ns.name() << " failed");
  if (err) std::rethrow_exception(err);
}

RawReply raw_exchange(const Netns& ns, const std::string& ip, int port, const std::string& request,
                      std::chrono::milliseconds timeout) {
  RawReply r;
  in_netns(ns, [&] {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (!sockaddr_for(ip, port, ss, len)) return;
    const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto t0 = std::chrono::steady_clock::now();
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      ::close(fd);
      return;
    }
    (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buf[4096];
    while (true) {
      const auto left = timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - t0);
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        r.eof = true;
        break;
      }
      r.data.append(buf, static_cast<std::size_t>(n));
    }
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    ::close(fd);
  });
  return r;
}

int status_of(const std::string& reply) {
  if (reply.rfind("HTTP/1.", 0) != 0 || reply.size() < 12) return -1;
  return std::atoi(reply.substr(9, 3).c_str());
}

int listen_in(const Netns& ns, const std::string& ip, int port) {
  int fd = -1;
  in_netns(ns, [&] {
    sockaddr_storage ss{};
    socklen_t len = 0;
    REQUIRE(sockaddr_for(ip, port, ss, len));
    fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0);
    REQUIRE(::listen(fd, 16) == 0);
  });
  return fd;
}

NsService::NsService(const Netns& ns, std::string ip, int port, std::string body)
    : ns_(ns), ip_(std::move(ip)), port_(port), body_(std::move(body)) {
  start();
}

NsService::~NsService() { stop(); }

void NsService::start() {
  if (fd_ >= 0) return;
  in_netns(ns_, [&] {
    sockaddr_storage ss{};
    socklen_t len = 0;
    REQUIRE(sockaddr_for(ip_, port_, ss, len));
    fd_ = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int yes = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0);
    REQUIRE(::listen(fd_, 128) == 0);
  });
  wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] {
    const std::string reply = "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body_.size()) +
                              "\r\nConnection: close\r\n\r\n" + body_;
    while (true) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 || fds[1].revents) return;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      // Read what the client sent (if anything arrives quickly), then answer.
      pollfd p{c, POLLIN, 0};
      char buf[2048];
      if (::poll(&p, 1, 200) > 0) (void)!::recv(c, buf, sizeof buf, MSG_DONTWAIT);
      (void)!::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  });
}

void NsService::stop() {
  if (fd_ < 0) return;
  const std::uint64_t one = 1;
  (void)!::write(wake_, &one, sizeof one);
  thread_.join();
  ::close(fd_);
  ::close(wake_);
  fd_ = -1;
  wake_ = -1;
}

}  // namespace rsagent::testing

namespace rsagent::testing {

Haproxy::Haproxy(const Netns& ns, const std::string& dir, const std::string& config) : ns_(ns), dir_(dir) {
  std::ofstream(dir_ + "/haproxy.cfg") << config;
  ns_.run("sh -c 'haproxy -f " + dir_ + "/haproxy.cfg -db >" + dir_ + "/haproxy.log 2>&1 &'");
}

std::string Haproxy::state(const std::string& backend, const std::string& server) const {
  std::istringstream in(ns_.run("curl -s --max-time 2 'http://127.0.0.1:8404/stats;csv'").out);
  std::string line;
  const std::string prefix = backend + "," + server + ",";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string x;
    while (std::getline(ss, x, ',')) f.push_back(x);
    return f.size() > 17 ? f[17] : std::string();  // the "status" column
  }
  return std::string();
}

std::string Haproxy::log() const { return sh("cat " + dir_ + "/haproxy.log").out; }

std::map<std::string, std::pair<std::string, std::string>> settled_checks(
    const Netns& ns, int probes, std::chrono::milliseconds timeout, nlohmann::json* status) {
  nlohmann::json st;
  const auto settled = [&] {
    st = nlohmann::json::parse(ns.run("curl -s http://127.0.0.1:9799/status").out, nullptr, false);
    if (st.is_discarded()) return false;
    for (const auto& c : st["checks"])
      if (c["probes"].get<int>() < probes) return false;
    return true;
  };
  REQUIRE_MESSAGE(wait_until(settled, timeout), st.dump());
  std::map<std::string, std::pair<std::string, std::string>> got;
  for (const auto& c : st["checks"])
    got[c["name"]] = {c["state"], c.contains("last") ? c["last"]["output"].get<std::string>() : ""};
  if (status != nullptr) *status = st;
  return got;
}

}  // namespace rsagent::testing
