// An http check keeps its deadline whatever the checked service sends: a
// server in the namespace that trickles its headers, its body or its TLS
// handshake a byte every 0.5 s makes the check go down at its timeout, a
// stop or a reload while such a probe runs returns at once, and a body
// longer than max_body is cut and judged on what was read.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

// An HTTP server on 127.0.0.1:PORT inside a namespace that sends `head` at
// once, then `drip` a byte every 0.5 s, then `tail`, and closes. Each
// connection has a thread of its own; the destructor ends them all.
class Trickler {
 public:
  Trickler(const Netns& ns, int port, std::string head, std::string drip, std::string tail = "")
      : head_(std::move(head)), drip_(std::move(drip)), tail_(std::move(tail)) {
    in_netns(ns, [&] {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      const int yes = 1;
      ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<std::uint16_t>(port));
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
      REQUIRE(::listen(fd_, 64) == 0);
    });
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Trickler() {
    const std::uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
    acceptor_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
    ::close(wake_);
  }
  Trickler(const Trickler&) = delete;
  Trickler& operator=(const Trickler&) = delete;

 private:
  // False once the test ends (the wake fd is readable).
  bool pause(std::chrono::milliseconds d) const {
    pollfd p{wake_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(d.count())) == 0;
  }

  void accept_loop() {
    while (true) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 || fds[1].revents != 0) return;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) conns_.emplace_back([this, c] { serve(c); });
    }
  }

  void serve(int c) const {
    bool ok = ::send(c, head_.data(), head_.size(), MSG_NOSIGNAL) >= 0;
    for (std::size_t i = 0; ok && i < drip_.size(); ++i)
      ok = pause(500ms) && ::send(c, &drip_[i], 1, MSG_NOSIGNAL) == 1;
    if (ok) (void)!::send(c, tail_.data(), tail_.size(), MSG_NOSIGNAL);
    ::close(c);
  }

  std::string head_, drip_, tail_;
  int fd_ = -1;
  int wake_ = -1;
  std::thread acceptor_;
  std::vector<std::thread> conns_;
};

nlohmann::json status_of(const Netns& ns) {
  const auto r = ns.run("curl -s --max-time 5 http://127.0.0.1:9799/status");
  return nlohmann::json::parse(r.out, nullptr, false);
}

// The check's state and its last probe's output, once it has had a probe.
std::pair<std::string, std::string> check_of(const Netns& ns, const std::string& name) {
  const auto st = status_of(ns);
  if (!st.is_object() || !st.contains("checks")) return {};
  for (const auto& c : st["checks"])
    if (c.value("name", "") == name && c.contains("last") && c["last"].is_object())
      return {c.value("state", ""), c["last"].value("output", "")};
  return {};
}

void start(const AgentNode& n) {
  const auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
}

std::string slow_check(const std::string& timeout, const std::string& interval) {
  return R"({"vips": [], "health": {"checks": [{"name": "slow", "type": "http",
    "url": "http://127.0.0.1:8080/", "timeout": ")" +
         timeout + R"(", "interval": ")" + interval + R"(", "rise": 1, "fall": 1}]}})";
}

// 40 bytes at 0.5 s: 20 s, far past any bound below.
const std::string kDrip(40, 'a');

}  // namespace

TEST_CASE("an http check whose server trickles its headers goes down at its deadline") {
  AgentNode n(slow_check("1s", "2s"));
  Trickler srv(n.ns, 8080, "HTTP/1.1 200 OK\r\nX-Slow: ", kDrip,
               "\r\nContent-Length: 3\r\n\r\nok\n");
  start(n);
  std::pair<std::string, std::string> got;
  CHECK(wait_until([&] { return (got = check_of(n.ns, "slow")).first == "down"; }, 10s));
  CHECK(got.second.find("no status and headers within the deadline of 1000 ms") !=
        std::string::npos);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("an http check whose server trickles its body goes down at its deadline") {
  AgentNode n(slow_check("1s", "2s"));
  Trickler srv(n.ns, 8080, "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n", kDrip);
  start(n);
  std::pair<std::string, std::string> got;
  CHECK(wait_until([&] { return (got = check_of(n.ns, "slow")).first == "down"; }, 10s));
  CHECK(got.second.find("status 200 but the body did not end within the deadline of 1000 ms") !=
        std::string::npos);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("an https check whose server trickles its TLS handshake goes down at its deadline") {
  AgentNode n(R"({"vips": [], "health": {"checks": [{"name": "slow", "type": "http",
    "url": "https://127.0.0.1:8080/", "tls_verify": false, "timeout": "1s", "interval": "2s",
    "rise": 1, "fall": 1}]}})");
  // A TLS handshake record header announcing 16 KiB, then its bytes slowly.
  Trickler srv(n.ns, 8080, std::string("\x16\x03\x03\x40\x00", 5), kDrip);
  start(n);
  std::pair<std::string, std::string> got;
  CHECK(wait_until([&] { return (got = check_of(n.ns, "slow")).first == "down"; }, 10s));
  CHECK(got.second.find("within the deadline of 1000 ms") != std::string::npos);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("a reload and a stop while an http probe is trickled return at once") {
  // A long timeout: only a cancel, not the deadline, can end these probes soon.
  AgentNode n(slow_check("30s", "60s"));
  Trickler srv(n.ns, 8080, "HTTP/1.1 200 OK\r\nX-Slow: ", kDrip);
  start(n);
  // A first probe is under way: the server has a connection.
  REQUIRE(wait_until(
      [&] { return n.ns.run("ss -Htn state established '( sport = :8080 )'").out != ""; }, 5s));
  // A changed check makes the reload replace the running probes.
  n.write_config(slow_check("30s", "50s"));
  auto t0 = std::chrono::steady_clock::now();
  const auto reload = n.rsagent("reload");
  const auto reload_took = std::chrono::steady_clock::now() - t0;
  CHECK_MESSAGE(reload.code == 0, reload.out);
  CHECK(reload_took < 5s);
  // The new Monitor's first probe is trickled too.
  REQUIRE(wait_until(
      [&] { return n.ns.run("ss -Htn state established '( sport = :8080 )'").out != ""; }, 5s));
  t0 = std::chrono::steady_clock::now();
  const auto stop = n.rsagent("stop");
  const auto stop_took = std::chrono::steady_clock::now() - t0;
  CHECK_MESSAGE(stop.code == 0, stop.out);
  CHECK(stop_took < 5s);
}

TEST_CASE("an http check reads at most max_body bytes and judges contains on what it read") {
  AgentNode n(R"({"vips": [], "health": {"checks": [
    {"name": "head", "type": "http", "url": "http://127.0.0.1:8080/", "contains": "head-mark",
     "max_body": 4096, "interval": "1s", "rise": 1, "fall": 1},
    {"name": "tail", "type": "http", "url": "http://127.0.0.1:8080/", "contains": "tail-mark",
     "max_body": 4096, "interval": "1s", "rise": 1, "fall": 1},
    {"name": "default-cap", "type": "http", "url": "http://127.0.0.1:8080/", "contains": "tail-mark",
     "interval": "1s", "rise": 1, "fall": 1}]}})");
  // 200 KiB: "head-mark" at the start, "tail-mark" at the end.
  const std::string body = "head-mark" + std::string(200 * 1024, 'x') + "tail-mark";
  NsService srv(n.ns, "127.0.0.1", 8080, body);
  start(n);
  const auto got = settled_checks(n.ns, 2, 15s);
  CHECK(got.at("head").first == "up");
  CHECK(got.at("head").second.find("body cut at max_body, 4096 bytes") != std::string::npos);
  CHECK(got.at("tail").first == "down");
  CHECK(got.at("tail").second.find("body lacks \"tail-mark\" (body cut at max_body, 4096 bytes)") !=
        std::string::npos);
  // Without max_body, 64 KiB are read: the end of a 200 KiB body is never seen.
  CHECK(got.at("default-cap").first == "down");
  CHECK(got.at("default-cap").second.find("65536 bytes") != std::string::npos);
  CHECK(n.rsagent("stop").code == 0);
}
