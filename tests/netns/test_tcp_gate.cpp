// The TCP gate (health.tcp_gate) against real connects and a real HAProxy
// doing a plain TCP `check`, as keepalived's TCP_CHECK does: the connect
// succeeds while the node is ready and is refused while it is not.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

const char* const kNode = R"({
  "vips": ["198.51.100.100"],
  "health": {
    "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8080",
                "interval": "200ms", "timeout": "100ms", "rise": 1, "fall": 1}],
    "tcp_gate": {"listen": ["0.0.0.0:9797", "[::]:9797"]}
  }
})";

// Whether a TCP connect from inside ns to ip:9797 succeeds.
bool connects(const Netns& ns, const char* ip = "127.0.0.1") {
  bool ok = false;
  in_netns(ns, [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(9797);
    ::inet_pton(AF_INET, ip, &sa.sin_addr);
    ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
  });
  return ok;
}

}  // namespace

TEST_CASE("the TCP gate accepts connects only while ready: refused while down, drained and in maintenance") {
  AgentNode n(kNode);
  NsService web(n.ns, "127.0.0.1", 8080);
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  REQUIRE(wait_until([&] { return connects(n.ns); }, 5s));
  // IPv6 too: the connect succeeds (curl: not 7, "couldn't connect"), then
  // the gate closes it without a word (52 empty reply, or 56 reset when
  // curl's request was still unread).
  const int v6 = n.ns.run("curl -s --max-time 2 -g 'http://[::1]:9797/'").code;
  CHECK((v6 == 52 || v6 == 56));
  web.stop();
  CHECK(wait_until([&] { return !connects(n.ns); }, 5s));
  web.start();
  CHECK(wait_until([&] { return connects(n.ns); }, 5s));
  for (const char* mode : {"drain", "maint"}) {
    CAPTURE(mode);
    REQUIRE(n.rsagent(mode).code == 0);
    CHECK(!connects(n.ns));  // at once: the gate closed before the command returned
    REQUIRE(n.rsagent("ready").code == 0);
    CHECK(connects(n.ns));
  }
  const auto st = nlohmann::json::parse(n.ns.run("curl -s http://127.0.0.1:9799/status").out);
  CHECK(st["tcp_gate"]["open"] == true);
  CHECK(st["tcp_gate"]["transitions"].get<int>() >= 6);
  const auto metrics = n.ns.run("curl -s http://127.0.0.1:9799/metrics").out;
  CHECK(metrics.find("rsagent_tcp_gate_open 1\n") != std::string::npos);
  CHECK(metrics.find("rsagent_tcp_gate_transitions_total ") != std::string::npos);
  CHECK(n.rsagent("stop").code == 0);
  CHECK(!connects(n.ns));
}

TEST_CASE("a taken gate port refuses the start with nothing changed") {
  AgentNode n(kNode);
  const int taken = listen_in(n.ns, "0.0.0.0", 9797);
  const std::string before = n.ns.snapshot();
  auto r = n.rsagent("start");
  CHECK(r.code == 1);
  CHECK(r.out.find("health.tcp_gate.listen 0.0.0.0:9797") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
  ::close(taken);
}

TEST_CASE("a reload that changes nothing keeps the gate open: a loop of connects sees no refusal") {
  AgentNode n(kNode);
  NsService web(n.ns, "127.0.0.1", 8080);
  REQUIRE(n.rsagent("start").code == 0);
  REQUIRE(wait_until([&] { return connects(n.ns); }, 5s));
  std::atomic<bool> done{false};
  std::atomic<int> refused{0}, tries{0};
  std::thread loop([&] {
    while (!done) {
      if (!connects(n.ns)) ++refused;
      ++tries;
      std::this_thread::sleep_for(2ms);
    }
  });
  REQUIRE(wait_until([&] { return tries >= 5; }, 5s));
  for (int i = 0; i < 3; ++i) CHECK(n.rsagent("reload").code == 0);
  const int after = tries + 5;
  REQUIRE(wait_until([&] { return tries >= after; }, 5s));
  done = true;
  loop.join();
  CHECK(tries > 10);
  CHECK(refused == 0);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("HAProxy with a plain TCP check on the gate port shows the node UP and DOWN with the verdict") {
  AgentNode n(kNode);
  Netns director;
  Lan lan;
  lan.attach(director, "203.0.113.1/24");
  lan.attach(n.ns, "203.0.113.11/24");
  NsService web(n.ns, "127.0.0.1", 8080);
  REQUIRE(n.rsagent("start").code == 0);
  const Haproxy haproxy(director, n.dir(),
                        "global\n  log stderr local0 notice\ndefaults\n  mode tcp\n  timeout connect 1s\n"
                        "  timeout client 5s\n  timeout server 5s\n"
                        "frontend stats\n  mode http\n  bind 127.0.0.1:8404\n  stats enable\n  stats uri /stats\n"
                        "backend web\n  server rs1 203.0.113.11:80 check port 9797 inter 200ms fall 1 rise 1\n");
  const auto state = [&] { return haproxy.state("web", "rs1"); };
  REQUIRE_MESSAGE(wait_until([&] { return state() == "UP"; }, 10s), state());
  web.stop();
  CHECK(wait_until([&] { return state().rfind("DOWN", 0) == 0; }, 5s));
  web.start();
  CHECK(wait_until([&] { return state() == "UP"; }, 5s));
  REQUIRE(n.rsagent("drain").code == 0);
  CHECK(wait_until([&] { return state().rfind("DOWN", 0) == 0; }, 5s));
  REQUIRE(n.rsagent("ready").code == 0);
  CHECK(wait_until([&] { return state() == "UP"; }, 5s));
}
