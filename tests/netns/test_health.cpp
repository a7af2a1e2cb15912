// The health endpoints against real clients: curl, keepalived's genhash,
// raw sockets, and HAProxy as the director's checker.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <atomic>

#include <algorithm>
#include <arpa/inet.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sstream>
#include <thread>
#include <vector>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

const char* const kNodeConfig = R"({
  "vips": ["198.51.100.100"],
  "health": {
    "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8080",
                "interval": "200ms", "timeout": "100ms", "rise": 2, "fall": 2}],
    "agent_check": {"listen": "0.0.0.0:9798"}
  }
})";


int http_code(const Netns& ns, const std::string& args) {
  auto r = ns.run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 " + args);
  return std::atoi(r.out.c_str());
}

std::string healthz_state(const Netns& ns) {
  return ns.run("curl -s --max-time 5 http://127.0.0.1:9799/healthz").out;
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

// Whether a TCP connection to `port` is established inside ns.
bool connected_to(const Netns& ns, int port) {
  return ns.run("ss -Htn state established '( dport = :" + std::to_string(port) + " )'").out.size() > 0;
}

void start_node(const AgentNode& n) {
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
}

}  // namespace

TEST_CASE("every path answers GET, HEAD and OPTIONS alike; other methods get 405 with Allow; unknown paths 404") {
  AgentNode n(kNodeConfig);
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }));
  for (const char* path : {"/", "/healthz", "/readyz", "/health/web", "/livez", "/status", "/metrics"}) {
    CAPTURE(path);
    const std::string url = std::string("http://127.0.0.1:9799") + path;
    CHECK(http_code(n.ns, url) == 200);
    CHECK(http_code(n.ns, "-I " + url) == 200);
    CHECK(http_code(n.ns, "-X OPTIONS " + url) == 200);
    for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "BREW", "get"}) CHECK(http_code(n.ns, std::string("-X ") + m + " " + url) == 405);
    const auto head = n.ns.run("curl -sI --max-time 5 " + url).out;
    CHECK(head.find("Content-Length:") != std::string::npos);
    CHECK(head.find("chunked") == std::string::npos);
    CHECK(head.find("Cache-Control: no-store") != std::string::npos);
  }
  const auto allow = n.ns.run("curl -si -X POST --max-time 5 http://127.0.0.1:9799/healthz").out;
  CHECK(allow.find("Allow: GET, HEAD, OPTIONS") != std::string::npos);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/nope") == 404);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/health/nosuchcheck") == 404);
  CHECK(http_code(n.ns, "-H 'Host: anything.example' http://127.0.0.1:9799/healthz") == 200);
}

TEST_CASE("/healthz follows the checked service, drain and maint, with a stable genhash digest per state") {
  AgentNode n(kNodeConfig);
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  const auto digest = [&] { return n.ns.run("genhash -s 127.0.0.1 -p 9799 -u /healthz").out; };
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }));
  const std::string ready = digest();
  CHECK(!ready.empty());
  CHECK(digest() == ready);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/health/web") == 200);

  web.stop();
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "down\n"; }));
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/healthz") == 503);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/health/web") == 503);
  const auto headers = n.ns.run("curl -si --max-time 5 http://127.0.0.1:9799/healthz").out;
  CHECK(headers.find("X-Rsagent-Reason: check web is down") != std::string::npos);
  const std::string down = digest();
  CHECK(down != ready);
  CHECK(digest() == down);

  web.start();
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }));
  CHECK(digest() == ready);

  REQUIRE(n.rsagent("drain --reason 'kernel upgrade'").code == 0);
  CHECK(healthz_state(n.ns) == "drain\n");
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/healthz") == 503);
  CHECK(digest() != ready);
  REQUIRE(n.rsagent("maint").code == 0);
  CHECK(healthz_state(n.ns) == "maint\n");
  REQUIRE(n.rsagent("ready").code == 0);
  CHECK(healthz_state(n.ns) == "ready\n");
}

TEST_CASE("an HTTP/1.0 request without a Connection header sees EOF right after the response") {
  AgentNode n(kNodeConfig);
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  const auto r = raw_exchange(n.ns, "127.0.0.1", 9799, "GET /healthz HTTP/1.0\r\n\r\n", 5000ms);
  CHECK(r.eof);
  CHECK(r.elapsed < 1000ms);
  CHECK(r.data.find("Content-Length:") != std::string::npos);
  CHECK((status_of(r.data) == 200 || status_of(r.data) == 503));
}

TEST_CASE("keep-alive: HTTP/1.1 requests share a connection, pipelined ones are answered in order, and the director is recorded") {
  AgentNode n(kNodeConfig);
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }, 10s, 50ms));
  const std::string one = "GET /healthz HTTP/1.1\r\nHost: rs\r\nUser-Agent: KeepAliveClient\r\n\r\n";
  const std::string last = "HEAD /livez HTTP/1.1\r\nHost: rs\r\nConnection: close\r\n\r\n";
  const auto r = raw_exchange(n.ns, "127.0.0.1", 9799, one + one + last, 3000ms);
  CHECK(r.eof);
  std::size_t answers = 0;
  for (std::size_t at = r.data.find("HTTP/1.1 200 OK"); at != std::string::npos;
       at = r.data.find("HTTP/1.1 200 OK", at + 1))
    ++answers;
  CHECK(answers == 3);
  CHECK(r.data.find("Connection: keep-alive") != std::string::npos);
  CHECK(r.data.rfind("Connection: close") > r.data.rfind("Connection: keep-alive"));
  // HTTP/1.0 asking for keep-alive keeps the connection too; without it, EOF.
  const auto ka10 = raw_exchange(n.ns, "127.0.0.1", 9799,
                                 "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1500ms);
  CHECK(!ka10.eof);
  CHECK(status_of(ka10.data) == 200);
  const auto st = nlohmann::json::parse(n.ns.run("curl -s http://127.0.0.1:9799/status").out);
  bool seen = false;
  for (const auto& d : st["directors"])
    for (const auto& c : d["checkers"])
      seen = seen || (c["user_agent"] == "KeepAliveClient" && c["kind"] == "keepalived");
  CHECK(seen);
}

TEST_CASE("garbage, oversized headers and long URIs get 400, 431 and 414, and the daemon keeps answering") {
  AgentNode n(kNodeConfig);
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  CHECK(status_of(raw_exchange(n.ns, "127.0.0.1", 9799, "garbage\r\n\r\n", 3000ms).data) == 400);
  CHECK(status_of(raw_exchange(n.ns, "127.0.0.1", 9799, std::string(5000, '\x01') + "\r\n\r\n", 3000ms).data) == 400);
  std::string big = "GET /healthz HTTP/1.1\r\nConnection: close\r\n";
  for (int i = 0; i < 20; ++i) big += "X-Filler-" + std::to_string(i) + ": " + std::string(600, 'a') + "\r\n";
  CHECK(status_of(raw_exchange(n.ns, "127.0.0.1", 9799, big + "\r\n", 3000ms).data) == 431);
  std::string many = "GET /healthz HTTP/1.1\r\nConnection: close\r\n";
  for (int i = 0; i < 100; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  CHECK(status_of(raw_exchange(n.ns, "127.0.0.1", 9799, many + "\r\n", 3000ms).data) == 431);
  const std::string longuri = "GET /healthz?" + std::string(10000, 'a') + " HTTP/1.1\r\nConnection: close\r\n\r\n";
  CHECK(status_of(raw_exchange(n.ns, "127.0.0.1", 9799, longuri, 3000ms).data) == 414);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/livez") == 200);
}

TEST_CASE("a slow client that never finishes its request is cut off while others are answered") {
  AgentNode n(kNodeConfig);
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  RawReply slow;
  std::thread t([&] { slow = raw_exchange(n.ns, "127.0.0.1", 9799, "GET /healthz HTTP/1.1\r\nHost: x\r\n", 15000ms); });
  REQUIRE(wait_until([&] { return connected_to(n.ns, 9799); }, 5s));
  for (int i = 0; i < 20; ++i) CHECK(http_code(n.ns, "http://127.0.0.1:9799/livez") == 200);
  t.join();
  CHECK(slow.eof);
  CHECK(slow.elapsed < 10000ms);
}

TEST_CASE("1000 concurrent connections are all answered and the daemon keeps answering others") {
  AgentNode n(kNodeConfig);
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }));
  int answered = 0;
  int ok = 0;
  in_netns(n.ns, [&] {
    std::vector<int> fds;
    for (int i = 0; i < 1000; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(9799);
      sa.sin_addr.s_addr = htonl(0x7f000001);
      REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
      fds.push_back(fd);
    }
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (int fd : fds) (void)!::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    for (int fd : fds) {
      std::string data;
      char buf[1024];
      timeval tv{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ssize_t k;
      while ((k = ::recv(fd, buf, sizeof buf, 0)) > 0) data.append(buf, static_cast<std::size_t>(k));
      if (!data.empty()) ++answered;
      if (status_of(data) == 200) ++ok;
      ::close(fd);
    }
  });
  CHECK(answered == 1000);
  CHECK(ok == 1000);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/healthz") == 200);
}

TEST_CASE("HAProxy sees the node UP, DOWN after the service dies, UP again, DRAIN and MAINT") {
  AgentNode n(R"({
    "vips": ["198.51.100.100"],
    "health": {
      "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8080",
                  "interval": "500ms", "timeout": "200ms", "rise": 2, "fall": 2}],
      "agent_check": {"listen": "0.0.0.0:9798"}
    }
  })");
  Netns director;
  Lan lan;
  lan.attach(director, "203.0.113.1/24");
  lan.attach(n.ns, "203.0.113.11/24");
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  const Haproxy haproxy(director, n.dir(), R"(global
  log stderr local0 notice
defaults
  mode http
  log global
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend stats
  bind 127.0.0.1:8404
  stats enable
  stats uri /stats
backend web
  option httpchk GET /healthz
  # Health passes while ready or drained; the agent carries drain and maint.
  http-check expect hdr name X-Rsagent-State value -m reg ^(ready|drain)$
  server rs1 203.0.113.11:80 check port 9799 inter 200ms fall 1 rise 1 agent-check agent-port 9798 agent-inter 200ms
)");
  const auto state = [&] { return haproxy.state("web", "rs1"); };
  REQUIRE_MESSAGE(wait_until([&] { return state() == "UP"; }), state());

  // Bound: the check's fall x interval, plus 1 s for HAProxy's own polling.
  const auto killed = std::chrono::steady_clock::now();
  web.stop();
  REQUIRE_MESSAGE(wait_until([&] { return state().rfind("DOWN", 0) == 0; }, 5s), state());
  const auto took = std::chrono::steady_clock::now() - killed;
  MESSAGE("DOWN after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took <= 2 * 500ms + 1s);

  web.start();
  REQUIRE(wait_until([&] { return state() == "UP"; }, 5s));
  REQUIRE(n.rsagent("drain").code == 0);
  CHECK(wait_until([&] { return state().rfind("DRAIN", 0) == 0; }, 5s));
  REQUIRE(n.rsagent("maint").code == 0);
  CHECK(wait_until([&] { return state().rfind("MAINT", 0) == 0; }, 5s));
  REQUIRE(n.rsagent("ready").code == 0);
  CHECK(wait_until([&] { return state() == "UP"; }, 5s));
}

TEST_CASE("drain survives a restart, and the maintenance file forces maint while it exists") {
  AgentNode n("{}");
  const std::string mfile = n.dir() + "/maintenance";
  n.write_config(R"({"vips": ["198.51.100.100"], "health": {"maintenance_file": ")" + mfile + R"("}})");
  start_node(n);
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }));
  REQUIRE(n.rsagent("drain --reason 'db migration'").code == 0);
  REQUIRE(n.rsagent("stop").code == 0);
  start_node(n);
  CHECK(wait_until([&] { return healthz_state(n.ns) == "drain\n"; }));
  const auto st = nlohmann::json::parse(n.ns.run("curl -s http://127.0.0.1:9799/status").out);
  CHECK(st["operator"]["reason"] == "db migration");
  REQUIRE(n.rsagent("ready").code == 0);
  CHECK(healthz_state(n.ns) == "ready\n");
  n.write_file("maintenance", "");
  CHECK(wait_until([&] { return healthz_state(n.ns) == "maint\n"; }, 5s));
  std::filesystem::remove(mfile);
  CHECK(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }, 5s));
  // Not running: the state is recorded for the next start.
  REQUIRE(n.rsagent("stop").code == 0);
  auto rec = n.rsagent("maint");
  CHECK(rec.code == 0);
  CHECK(rec.out.find("not running") != std::string::npos);
  start_node(n);
  CHECK(wait_until([&] { return healthz_state(n.ns) == "maint\n"; }));
}

TEST_CASE("the health listeners have a backlog of at least 128 and the control socket is root-only") {
  AgentNode n(kNodeConfig);
  start_node(n);
  // For a listening socket ss shows the backlog in Send-Q.
  const auto ss = n.ns.run("ss -Hltn 'sport = :9799'").out;
  std::istringstream in(ss);
  std::string state, recvq, sendq;
  in >> state >> recvq >> sendq;
  CHECK(std::atoi(sendq.c_str()) >= 128);
  struct stat st {};
  REQUIRE(::stat((n.state_dir() + "/control.sock").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto r = n.ns.run("setpriv --reuid=65534 --regid=65534 --clear-groups " + std::string(RSAGENT_BIN) +
                    " --state-dir " + n.state_dir() + " drain");
  CHECK(r.code == 4);
  CHECK(healthz_state(n.ns) != "drain\n");
}

TEST_CASE("a taken health port refuses the start and changes nothing") {
  AgentNode n(kNodeConfig);
  NsService squatter(n.ns, "0.0.0.0", 9799);
  const std::string before = n.ns.snapshot();
  auto r = n.rsagent("start");
  CHECK(r.code == 1);
  CHECK(r.out.find("health.listen 0.0.0.0:9799") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("exec checks: the exit status decides and a timeout kills the whole process group") {
  AgentNode n("{}");
  n.write_file("ok.sh", "#!/bin/sh\necho fine\nexit 0\n");
  n.write_file("bad.sh", "#!/bin/sh\necho 'disk full'\nexit 3\n");
  n.write_file("hang.sh", "#!/bin/sh\nsleep 987 &\nsleep 987\n");
  n.ns.run("chmod +x " + n.dir() + "/ok.sh " + n.dir() + "/bad.sh " + n.dir() + "/hang.sh");
  n.write_config(R"({"health": {"checks": [
    {"name": "ok", "type": "exec", "command": [")" + n.dir() + R"(/ok.sh"], "interval": "300ms", "rise": 1},
    {"name": "bad", "type": "exec", "command": [")" + n.dir() + R"(/bad.sh"], "interval": "300ms", "fall": 1},
    {"name": "hang", "type": "exec", "command": [")" + n.dir() + R"(/hang.sh"], "interval": "1s", "timeout": "300ms", "fall": 1}]}})");
  start_node(n);
  nlohmann::json st;
  REQUIRE(wait_until([&] {
    st = nlohmann::json::parse(n.ns.run("curl -s http://127.0.0.1:9799/status").out);
    return st["checks"][2].contains("last") && st["checks"][0]["state"] == "up" &&
           st["checks"][1]["state"] == "down";
  }));
  CHECK(st["checks"][0]["state"] == "up");
  CHECK(st["checks"][0]["last"]["output"] == "fine");
  CHECK(st["checks"][1]["state"] == "down");
  CHECK(st["checks"][1]["last"]["output"] == "exit 3: disk full");
  CHECK(st["checks"][2]["last"]["output"].get<std::string>().find("timed out") == 0);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/health/bad") == 503);
  // Each timed-out probe took its whole process group with it: once the
  // daemon is gone, no sleeper of any probe is left.
  REQUIRE(n.rsagent("stop").code == 0);
  CHECK(sh("pgrep -f 'sleep [9]87'").code == 1);
}

TEST_CASE("graceful stop reports drain and waits for connections to the VIPs; stop --now does not") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "stop": {"drain": "20s"}})");
  const int app = listen_in(n.ns, "0.0.0.0", 8080);
  start_node(n);
  // A client holds a connection to the VIP for 1.5 s.
  std::thread client([&] { hold_connection(n.ns, "198.51.100.100", 8080, 1500ms); });
  REQUIRE(wait_until([&] { return connected_to(n.ns, 8080); }, 5s));
  // While the stop waits for that connection, the directors see drain.
  std::atomic<bool> saw_drain{false};
  std::thread watcher([&] { saw_drain = wait_until([&] { return healthz_state(n.ns) == "drain\n"; }, 5s); });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = n.rsagent("stop");
  const auto took = std::chrono::steady_clock::now() - t0;
  client.join();
  watcher.join();
  CHECK(r.code == 0);
  CHECK(saw_drain);
  CHECK(took >= 1000ms);
  CHECK(took < 10s);

  start_node(n);
  std::thread holder([&] { hold_connection(n.ns, "198.51.100.100", 8080, 3s); });
  REQUIRE(wait_until([&] { return connected_to(n.ns, 8080); }, 5s));
  const auto t1 = std::chrono::steady_clock::now();
  CHECK(n.rsagent("stop --now").code == 0);
  CHECK(std::chrono::steady_clock::now() - t1 < 2s);
  holder.join();
  ::close(app);
}

TEST_CASE("/status and /metrics report VIPs, sysctls, checks, the operator's reason and the directors seen") {
  AgentNode n(kNodeConfig);
  NsService web(n.ns, "127.0.0.1", 8080);
  start_node(n);
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }));
  REQUIRE(n.rsagent("drain --reason rolling").code == 0);
  n.ns.run("curl -s -A 'keepalived-test/1' http://127.0.0.1:9799/healthz");
  const auto st = nlohmann::json::parse(n.ns.run("curl -s http://127.0.0.1:9799/status").out);
  CHECK(st["version"].is_string());
  CHECK(st["uptime_seconds"].is_number());
  CHECK(st["vips"][0]["address"] == "198.51.100.100");
  CHECK(st["vips"][0]["present"] == true);
  CHECK(st["vips"][0]["owned"] == true);
  CHECK(st["sysctls"].size() == 4);
  CHECK(st["sysctls"][0]["wanted"] == 1);
  CHECK(st["sysctls"][0]["original"] == 0);
  CHECK(st["checks"][0]["name"] == "web");
  CHECK(st["checks"][0]["state"] == "up");
  CHECK(st["checks"][0]["last"]["latency_ms"].is_number());
  CHECK(st["operator"]["state"] == "drain");
  CHECK(st["operator"]["reason"] == "rolling");
  bool seen = false;
  for (const auto& d : st["directors"])
    for (const auto& c : d["checkers"])
      seen = seen || (c["user_agent"] == "keepalived-test/1" && c["count"] >= 1 &&
                      c["last_answer"]["state"] == "drain" && c["last_answer"]["status"] == 503);
  CHECK(seen);
  const auto metrics = n.ns.run("curl -s http://127.0.0.1:9799/metrics").out;
  CHECK(metrics.find("rsagent_build_info{version=") != std::string::npos);
  CHECK(metrics.find("rsagent_check_up{check=\"web\"} 1") != std::string::npos);
  CHECK(metrics.find("rsagent_state{state=\"drain\"} 1") != std::string::npos);
  CHECK(metrics.find("rsagent_http_requests_total ") != std::string::npos);
  // Every sample line is NAME{labels} VALUE with a rsagent_ prefix; counters end in _total.
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      if (line.rfind("# TYPE ", 0) == 0 && line.find(" counter") != std::string::npos)
        CHECK(line.find("_total counter") != std::string::npos);
      continue;
    }
    CHECK(line.rfind("rsagent_", 0) == 0);
  }
}

TEST_CASE("an IPv4 and an IPv6 listener on the same port both answer, each for its own family") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "health": {"listen": ["127.0.0.1:9799", "[::1]:9799"]}})");
  start_node(n);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/livez") == 200);
  CHECK(http_code(n.ns, "-g 'http://[::1]:9799/livez'") == 200);
  // Each is bound once and alone: no SO_REUSEPORT on either.
  const auto ss = n.ns.run("ss -Hltn 'sport = :9799'").out;
  CHECK(std::count(ss.begin(), ss.end(), '\n') == 2);
}

TEST_CASE("the CLI starts without cpp-httplib and OpenSSL; the daemon rsagentd links them") {
  AgentNode n(kNodeConfig);
  const auto cli = n.ns.run("ldd " + std::string(RSAGENT_BIN)).out;
  CHECK(cli.find("libcpp-httplib") == std::string::npos);
  CHECK(cli.find("libssl") == std::string::npos);
  start_node(n);
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  const std::string mapped((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  CHECK(mapped.find("/rsagentd") != std::string::npos);
  CHECK(mapped.find("libcpp-httplib") != std::string::npos);
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/livez") == 200);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("without rsagentd beside rsagent, start fails naming the file and leaves nothing changed") {
  AgentNode n(kNodeConfig);
  const std::string lone = n.dir() + "/rsagent";
  std::filesystem::copy_file(RSAGENT_BIN, lone);
  const std::string before = n.ns.snapshot();
  auto r = n.ns.run(lone + " --config " + n.config_path() + " --state-dir " + n.state_dir() + " start");
  CHECK(r.code == 1);
  CHECK(r.out.find("cannot run the daemon " + n.dir() + "/rsagentd") != std::string::npos);
  CHECK(r.out.find("reinstall rsagent") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
  CHECK(n.ns.run("curl -s --max-time 2 http://127.0.0.1:9799/healthz").code != 0);
  CHECK(n.rsagent("status").code == 3);  // not running, nothing left behind
}

TEST_CASE("http and tcp checks: statuses, body text, Host header and IPv6 decide, and a failure says why") {
  // The checked service is a real nginx: one answer per path, and a virtual
  // host that only a request with the configured Host header reaches.
  AgentNode n(R"({"vips": [], "health": {"checks": [
    {"name": "root", "type": "http", "url": "http://127.0.0.1:8080/", "contains": "hello"},
    {"name": "missing", "type": "http", "url": "http://127.0.0.1:8080/missing"},
    {"name": "missing-expected", "type": "http", "url": "http://127.0.0.1:8080/missing", "expect": [404]},
    {"name": "moved", "type": "http", "url": "http://127.0.0.1:8080/moved"},
    {"name": "moved-200-only", "type": "http", "url": "http://127.0.0.1:8080/moved", "expect": [200]},
    {"name": "wrong-text", "type": "http", "url": "http://127.0.0.1:8080/", "contains": "absent"},
    {"name": "vhost", "type": "http", "url": "http://127.0.0.1:8080/", "host": "check.example", "contains": "vhost"},
    {"name": "refused", "type": "http", "url": "http://127.0.0.1:8099/"},
    {"name": "tcp6", "type": "tcp", "address": "[::1]:8080"},
    {"name": "tcp6-refused", "type": "tcp", "address": "[::1]:8099"}
  ]}})");
  n.write_file("nginx.conf", "worker_processes 1;\ndaemon off;\npid " + n.dir() + "/nginx.pid;\nerror_log " + n.dir() +
                                 "/nginx.err;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n"
                                 "  server { listen 127.0.0.1:8080 default_server; listen [::1]:8080 default_server;\n"
                                 "    location = / { return 200 \"hello\\n\"; }\n"
                                 "    location = /moved { return 302 /; }\n"
                                 "    location / { return 404; } }\n"
                                 "  server { listen 127.0.0.1:8080; server_name check.example;\n"
                                 "    location / { return 200 \"vhost\\n\"; } }\n}\n");
  n.ns.run("sh -c 'nginx -c " + n.dir() + "/nginx.conf -p " + n.dir() + " >/dev/null 2>&1 &'");
  REQUIRE(wait_until([&] { return n.ns.run("curl -s http://127.0.0.1:8080/").out == "hello\n"; }, 5s));
  start_node(n);
  // Every check has had rise (2) probes at 1 s.
  auto got = settled_checks(n.ns, 2, 10s);
  CHECK(got["root"].first == "up");
  CHECK(got["missing"].first == "down");
  CHECK(got["missing"].second == "GET http://127.0.0.1:8080/missing: status 404");
  CHECK(got["missing-expected"].first == "up");
  CHECK(got["moved"].first == "up");  // 200-399 by default, and redirects are not followed
  CHECK(got["moved-200-only"].first == "down");
  CHECK(got["moved-200-only"].second == "GET http://127.0.0.1:8080/moved: status 302");
  CHECK(got["wrong-text"].first == "down");
  CHECK(got["wrong-text"].second == "GET http://127.0.0.1:8080/: body lacks \"absent\"");
  CHECK(got["vhost"].first == "up");
  CHECK(got["refused"].first == "down");
  CHECK(got["refused"].second == "GET http://127.0.0.1:8099/: cannot connect (refused, reset or unreachable)");
  CHECK(got["tcp6"].first == "up");
  CHECK(got["tcp6-refused"].first == "down");
  CHECK(got["tcp6-refused"].second == "connect [::1]:8099: Connection refused");
  // The node is down, and the reason names a failing check.
  CHECK(healthz_state(n.ns) == "down\n");
  CHECK(n.ns.run("curl -si http://127.0.0.1:9799/healthz").out.find("X-Rsagent-Reason: check ") != std::string::npos);
  CHECK(n.rsagent("stop").code == 0);
}
