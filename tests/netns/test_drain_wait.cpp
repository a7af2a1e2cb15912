// `rsagent drain --wait` / `maint --wait` and the graceful stop against a
// real daemon and real connections in a namespace: what is waited for,
// what a timeout names, what Ctrl-C leaves behind. The directors' side
// (who polls, who sends) is in the DR lab (tests/lab/drain_wait.sh).
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <utility>
#include <vector>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

// A VIP and a route-mode range; a connection to any address of the range
// is a connection to a VIP.
const char* const kConfig = R"({
  "vips": ["198.51.100.100", {"address": "198.51.100.112/28", "mode": "route"}],
  "stop": {"drain": "20s"}
})";

void start_node(const AgentNode& n) {
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
}

// The state the directors are told, read over the control socket: a GET
// of /healthz would itself be a poller that the next wait waits for.
std::string healthz_state(const AgentNode& n) {
  const auto st = nlohmann::json::parse(n.rsagent("status --json").out, nullptr, false);
  if (!st.is_object() || !st.contains("health")) return "?";
  return st["health"].value("state", "?") + "\n";
}

// A client in ns with a TCP connection open to ip:port for `hold`.
void hold_connection(const Netns& ns, const char* ip, int port, std::chrono::milliseconds hold) {
  in_netns(ns, [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, ip, &sa.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) std::this_thread::sleep_for(hold);
    ::close(fd);
  });
}

bool connected_to(const Netns& ns, const char* ip) {
  return !ns.run(std::string("ss -Htn state established '( dst = ") + ip + " )'").out.empty();
}

}  // namespace

TEST_CASE("drain --wait returns once the last connection to an address of a route-mode range has closed") {
  AgentNode n(kConfig);
  const int app = listen_in(n.ns, "0.0.0.0", 8080);
  start_node(n);
  std::thread client([&] { hold_connection(n.ns, "198.51.100.113", 8080, 2500ms); });
  REQUIRE(wait_until([&] { return connected_to(n.ns, "198.51.100.113"); }, 5s));
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = n.rsagent("drain --wait --timeout 30s --quiet 0s");
  const auto took = std::chrono::steady_clock::now() - t0;
  client.join();
  CAPTURE(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("to the VIPs still open") != std::string::npos);
  CHECK(r.out.find("confirmed:") != std::string::npos);
  CHECK(took >= 1000ms);  // it waited for the connection
  CHECK(healthz_state(n) == "drain\n");
  CHECK(n.rsagent("stop --now").code == 0);
  ::close(app);
}

TEST_CASE("drain --wait exits 1 at its timeout naming the open connections, and the node stays drained") {
  AgentNode n(kConfig);
  const int app = listen_in(n.ns, "0.0.0.0", 8080);
  start_node(n);
  std::thread client([&] { hold_connection(n.ns, "198.51.100.100", 8080, 6s); });
  REQUIRE(wait_until([&] { return connected_to(n.ns, "198.51.100.100"); }, 5s));
  auto r = n.rsagent("drain --wait --timeout 2s --quiet 0s");
  CAPTURE(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("not confirmed within 2s") != std::string::npos);
  CHECK(r.out.find("to the VIPs still open (0 allowed; --connections N allows more)") != std::string::npos);
  CHECK(healthz_state(n) == "drain\n");
  // --connections allows them: confirmed at once.
  r = n.rsagent("maint --wait --connections 10 --quiet 0s --timeout 10s");
  CAPTURE(r.out);
  CHECK(r.code == 0);
  CHECK(healthz_state(n) == "maint\n");
  client.join();
  CHECK(n.rsagent("stop --now").code == 0);
  ::close(app);
}

TEST_CASE("Ctrl-C ends drain --wait with 130 and leaves the node drained, and says so") {
  AgentNode n(kConfig);
  const int app = listen_in(n.ns, "0.0.0.0", 8080);
  start_node(n);
  std::thread client([&] { hold_connection(n.ns, "198.51.100.100", 8080, 6s); });
  REQUIRE(wait_until([&] { return connected_to(n.ns, "198.51.100.100"); }, 5s));
  const auto r = n.ns.run(std::string("timeout --preserve-status -s INT 2 ") + RSAGENT_BIN + " --config " + n.config_path() +
                          " --state-dir " + n.state_dir() + " drain --wait 2>&1");
  CAPTURE(r.out);
  CHECK(r.code == 130);
  CHECK(r.out.find("stopped waiting; the node stays drained") != std::string::npos);
  CHECK(healthz_state(n) == "drain\n");
  client.join();
  CHECK(n.rsagent("stop --now").code == 0);
  ::close(app);
}

TEST_CASE("a node made ready while drain --wait waits ends the wait with 1") {
  AgentNode n(kConfig);
  const int app = listen_in(n.ns, "0.0.0.0", 8080);
  start_node(n);
  std::thread client([&] { hold_connection(n.ns, "198.51.100.100", 8080, 5s); });
  REQUIRE(wait_until([&] { return connected_to(n.ns, "198.51.100.100"); }, 5s));
  std::thread readier([&] {
    (void)wait_until([&] { return healthz_state(n) == "drain\n"; }, 5s);
    std::this_thread::sleep_for(500ms);
    (void)n.rsagent("ready");
  });
  const auto r = n.rsagent("drain --wait --timeout 30s");
  readier.join();
  CAPTURE(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("the drain was undone") != std::string::npos);
  client.join();
  CHECK(n.rsagent("stop --now").code == 0);
  ::close(app);
}

TEST_CASE("drain --wait without a running daemon changes nothing, exits 1 and says how to start it") {
  AgentNode n(kConfig);
  const auto r = n.rsagent("drain --wait");
  CAPTURE(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("needs the running daemon") != std::string::npos);
  CHECK(r.out.find("rsagent start") != std::string::npos);
}

TEST_CASE("a graceful stop waits for a connection to an address of a route-mode range") {
  AgentNode n(kConfig);
  const std::string before = n.ns.snapshot();
  const int app = listen_in(n.ns, "0.0.0.0", 8080);
  start_node(n);
  std::thread client([&] { hold_connection(n.ns, "198.51.100.120", 8080, 2s); });
  REQUIRE(wait_until([&] { return connected_to(n.ns, "198.51.100.120"); }, 5s));
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = n.rsagent("stop");
  const auto took = std::chrono::steady_clock::now() - t0;
  client.join();
  CAPTURE(r.out);
  CHECK(r.code == 0);
  CHECK(took >= 1000ms);  // the range's connection held it
  CHECK(took < 15s);
  CHECK(n.ns.snapshot() == before);
  ::close(app);
}

TEST_CASE("drain --wait names a poller that has not polled since the drain, and returns once it polls and is answered drain") {
  AgentNode n(kConfig);
  start_node(n);
  // A checker polls twice (one poll alone is a person or a script, which
  // the wait ignores), before the drain, then goes quiet.
  REQUIRE(n.ns.run("curl -s --max-time 5 http://127.0.0.1:9799/healthz").out == "ready\n");
  std::this_thread::sleep_for(300ms);
  REQUIRE(n.ns.run("curl -s --max-time 5 http://127.0.0.1:9799/healthz").out == "ready\n");
  auto r = n.rsagent("drain --wait --timeout 2s --quiet 0s");
  CAPTURE(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("127.0.0.1 has not polled since") != std::string::npos);
  // It polls again every 300 ms: the next wait sees it answered drain.
  std::atomic<bool> polling{true};
  std::thread poller([&] {
    while (polling) {
      (void)n.ns.run("curl -s --max-time 2 http://127.0.0.1:9799/healthz");
      std::this_thread::sleep_for(300ms);
    }
  });
  r = n.rsagent("drain --wait --timeout 20s --quiet 0s");
  polling = false;
  poller.join();
  CAPTURE(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("127.0.0.1 saw the drain at") != std::string::npos);
  CHECK(r.out.find("confirmed: 1 director saw the drain") != std::string::npos);
  CHECK(n.rsagent("stop --now").code == 0);
}

TEST_CASE("a bad --wait option is refused with exit 2 naming the option and the fix, and changes nothing") {
  AgentNode n(kConfig);
  start_node(n);
  const std::vector<std::pair<std::string, std::string>> cases{
      {"drain --timeout 20s", "--timeout goes with --wait"},
      {"drain --wait --timeout soon", "--timeout \"soon\" is not a duration from 1s to 24h; write it like --timeout 20s"},
      {"maint --wait --quiet 11m", "--quiet \"11m\" is not a duration from 0s to 10m"},
      {"drain --wait --connections many", "--connections \"many\" is not a number"},
      {"drain --wait --quiet", "--quiet needs a value: --quiet DUR"},
      {"ready --wait", "`ready` does not take --wait"}};
  for (const auto& c : cases) {
    // Not a structured binding: clang 14 cannot capture one in CAPTURE.
    const std::string& args = c.first;
    CAPTURE(args);
    const auto r = n.rsagent(args);
    CAPTURE(r.out);
    CHECK(r.code == 2);
    CHECK(r.out.find(c.second) != std::string::npos);
  }
  CHECK(healthz_state(n) == "ready\n");
  CHECK(n.rsagent("stop --now").code == 0);
}
