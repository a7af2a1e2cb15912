// The health endpoint against hostile peers: requests that drip, idle
// keep-alive connections, sources outside health.allow, one source opening
// a thousand connections, and the daemon's file descriptor budget.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace rsagent::testing;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

void start_node(const AgentNode& n, const std::string& prefix = "") {
  auto r = n.ns.run(prefix + RSAGENT_BIN + " --config " + n.config_path() + " --state-dir " +
                    n.state_dir() + " start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
}

int http_code(const Netns& ns, const std::string& url) {
  auto r = ns.run("curl -s -o /dev/null -w '%{http_code}' --max-time 5 " + url);
  return std::atoi(r.out.c_str());
}

// A connected TCP socket inside ns, or -1.
int connect_in(const Netns& ns, const std::string& ip, int port) {
  int fd = -1;
  in_netns(ns, [&] {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      fd = -1;
    }
  });
  return fd;
}

// Whether the peer has closed fd (EOF or reset), waiting up to `wait`.
// Reads and drops what arrives.
bool closed_by_peer(int fd, std::chrono::milliseconds wait) {
  const auto end = Steady::now() + wait;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Steady::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count()))) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
  }
}

// utime + stime of a /proc/.../stat line.
long stat_ticks(const std::string& path) {
  std::ifstream stat(path);
  std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  if (all.rfind(')') == std::string::npos) return -1;
  // Fields after the ")" that ends comm: state is field 3, utime 14, stime 15.
  std::istringstream in(all.substr(all.rfind(')') + 2));
  std::string f;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> f; ++i) {
    if (i == 14) utime = std::atol(f.c_str());
    if (i == 15) stime = std::atol(f.c_str());
  }
  return utime + stime;
}

// The CPU ticks (user + system) the daemon's thread named `name` has used;
// the whole process's (an upper bound) when no thread has that name.
long thread_ticks(int pid, const std::string& name) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  long ticks = -1;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(dir + "/" + e->d_name + "/comm");
    std::string c;
    std::getline(comm, c);
    if (c == name) ticks = stat_ticks(dir + "/" + e->d_name + "/stat");
  }
  ::closedir(d);
  return ticks >= 0 ? ticks : stat_ticks("/proc/" + std::to_string(pid) + "/stat");
}

// "Max open files  SOFT  HARD  files" of /proc/PID/limits.
std::pair<long, long> fd_limits(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream f(line.substr(14));
    std::string soft, hard;
    f >> soft >> hard;
    return {std::atol(soft.c_str()), std::atol(hard.c_str())};
  }
  return {-1, -1};
}

long metric(const Netns& ns, const std::string& url, const std::string& name) {
  const std::string text = ns.run("curl -s --max-time 5 " + url).out;
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::atol(text.c_str() + at + name.size() + 2);
}

// So that the test itself may hold a thousand sockets.
void raise_own_fd_limit() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

}  // namespace

TEST_CASE("a request whose bytes drip in is closed at the header deadline, however steady the drip") {
  AgentNode n(R"({"vips": ["198.51.100.100"]})");  // the default header_timeout: 3 s
  start_node(n);
  const int fd = connect_in(n.ns, "127.0.0.1", 9799);
  REQUIRE(fd >= 0);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(200, 'a');
  const auto t0 = Steady::now();
  bool closed = false;
  // A byte every ~700 ms: each would re-arm a timeout counted from the last byte.
  for (std::size_t i = 0; i < request.size() && Steady::now() - t0 < 15s; ++i) {
    if (::send(fd, &request[i], 1, MSG_NOSIGNAL) != 1 || closed_by_peer(fd, 700ms)) {
      closed = true;
      break;
    }
  }
  const auto took = Steady::now() - t0;
  ::close(fd);
  CHECK(closed);
  CHECK(took < 9s);  // 3 x the deadline: generous on a loaded machine
  CHECK(metric(n.ns, "http://127.0.0.1:9799/metrics", "rsagent_http_timeouts_total") >= 1);
  // The endpoint still answers.
  CHECK(http_code(n.ns, "http://127.0.0.1:9799/livez") == 200);
}

TEST_CASE("an answered keep-alive connection that sends nothing more is closed at the keep-alive deadline") {
  AgentNode n(R"({"vips": ["198.51.100.100"],
                  "health": {"http": {"header_timeout": "20s", "keepalive_timeout": "1s"}}})");
  start_node(n);
  const int fd = connect_in(n.ns, "127.0.0.1", 9799);
  REQUIRE(fd >= 0);
  const std::string req = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  // The answer, and the connection still open for the next request.
  std::string got;
  while (got.find("alive\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);
    char buf[1024];
    const ssize_t k = ::recv(fd, buf, sizeof buf, 0);
    REQUIRE(k > 0);
    got.append(buf, static_cast<std::size_t>(k));
  }
  CHECK(status_of(got) == 200);
  CHECK(got.find("Connection: keep-alive") != std::string::npos);
  const auto t0 = Steady::now();
  // Well before the header deadline (20 s) would end it.
  CHECK(closed_by_peer(fd, 5s));
  CHECK(Steady::now() - t0 < 5s);
  ::close(fd);
}

TEST_CASE("a source outside health.allow is closed at accept, its request never read or answered") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "health": {"allow": ["203.0.113.0/24"]}})");
  Netns director;
  Netns stranger;
  Lan lan;
  lan.attach(director, "203.0.113.1/24");
  lan.attach(stranger, "198.51.100.77/24");
  lan.attach(n.ns, "203.0.113.11/24");
  n.ns.ip("addr add 198.51.100.11/24 dev eth0");
  start_node(n);
  CHECK(http_code(director, "http://203.0.113.11:9799/livez") == 200);
  const std::string request = "GET /livez HTTP/1.0\r\n\r\n";
  const RawReply r = raw_exchange(stranger, "198.51.100.11", 9799, request, 5s);
  CHECK(r.eof);
  CHECK(r.data.empty());  // not even a 403: nothing of the request was parsed
  const RawReply local = raw_exchange(n.ns, "127.0.0.1", 9799, request, 5s);
  CHECK(local.eof);
  CHECK(local.data.empty());
  CHECK(metric(director, "http://203.0.113.11:9799/metrics", "rsagent_http_denied_total") == 2);
  // The endpoint counted no request from them.
  CHECK(metric(director, "http://203.0.113.11:9799/metrics", "rsagent_http_requests_total") == 3);
}

TEST_CASE("a thousand connections from one source under a low fd limit leave a director its 200 and the endpoint thread idle") {
  raise_own_fd_limit();
  AgentNode n(R"({"vips": ["198.51.100.100"]})");
  Netns director;
  Netns flood;
  Lan lan;
  lan.attach(director, "203.0.113.1/24");
  lan.attach(flood, "203.0.113.66/24");
  lan.attach(n.ns, "203.0.113.11/24");
  // A soft limit of 256 and a hard one of 512: 1000 connections would be
  // far past both.
  start_node(n, "prlimit --nofile=256:512 ");
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  std::vector<int> fds;
  in_netns(flood, [&] {
    for (int i = 0; i < 1000; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(9799);
      ::inet_pton(AF_INET, "203.0.113.11", &sa.sin_addr);
      (void)::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      fds.push_back(fd);
    }
  });
  // Each sends the first byte of a request that never ends (so that
  // TCP_DEFER_ACCEPT hands it to the daemon).
  const auto byte_each = [&] {
    for (const int fd : fds) (void)!::send(fd, "G", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  };
  const auto t_flood = Steady::now();
  while (Steady::now() - t_flood < 2s) {
    byte_each();
    std::this_thread::sleep_for(200ms);
  }
  const long before = thread_ticks(pid, "rsagent-http");
  REQUIRE(before >= 0);
  const auto t0 = Steady::now();
  for (int i = 0; i < 10; ++i) CHECK(http_code(director, "http://203.0.113.11:9799/healthz") != 0);
  CHECK(http_code(director, "http://203.0.113.11:9799/livez") == 200);
  while (Steady::now() - t0 < 3s) {
    byte_each();
    std::this_thread::sleep_for(200ms);
  }
  const long used = thread_ticks(pid, "rsagent-http") - before;
  const long window = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0).count() *
                      ::sysconf(_SC_CLK_TCK) / 1000;
  CAPTURE(used);
  CAPTURE(window);
  CHECK(used * 4 < window);  // under a quarter of a core; spinning takes all of one
  CHECK(metric(director, "http://203.0.113.11:9799/metrics", "rsagent_http_source_full_total") > 0);
  for (const int fd : fds) ::close(fd);
}

TEST_CASE("the daemon raises its fd soft limit within the hard one, and exec checks run with the original") {
  AgentNode n("{}");
  n.write_config(R"({"vips": ["198.51.100.100"], "health": {"checks": [
    {"name": "limit", "type": "exec", "command": ["/bin/sh", "-c", "ulimit -n > )" + n.dir() +
                 R"(/child-limit"], "interval": "300ms", "rise": 1}]}})");
  start_node(n, "prlimit --nofile=256:8192 ");
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  const auto [soft, hard] = fd_limits(pid);
  CHECK(hard == 8192);
  CHECK(soft > 4096);  // room for the endpoint's 4096 connections and the rest
  CHECK(soft <= 8192);
  std::string child;
  CHECK(wait_until([&] {
    std::ifstream in(n.dir() + "/child-limit");
    return static_cast<bool>(std::getline(in, child));
  }));
  CHECK(child == "256");
}

TEST_CASE("out of descriptors, the endpoint stops watching its listeners for a while instead of spinning, then recovers") {
  AgentNode n(R"({"vips": ["198.51.100.100"]})");
  start_node(n);
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  REQUIRE(http_code(n.ns, "http://127.0.0.1:9799/livez") == 200);
  // The daemon's lowest free descriptor as its soft limit: every accept
  // fails with EMFILE.
  int lowest_free = 0;
  while (::access(("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(lowest_free)).c_str(),
                  F_OK) == 0)
    ++lowest_free;
  n.ns.run("prlimit --pid " + std::to_string(pid) + " --nofile=" + std::to_string(lowest_free) +
           ":8192");
  REQUIRE(fd_limits(pid).first == lowest_free);
  const long before = thread_ticks(pid, "rsagent-http");
  REQUIRE(before >= 0);
  const auto t0 = Steady::now();
  const int fd = connect_in(n.ns, "127.0.0.1", 9799);  // waits in the backlog
  REQUIRE(fd >= 0);
  const std::string req = "GET /livez HTTP/1.0\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  std::this_thread::sleep_for(2s);
  const std::string waiting = n.ns.run("ss -Hltn 'sport = :9799'").out;
  CAPTURE(waiting);  // Recv-Q 1: the request waits in the backlog
  CAPTURE(lowest_free);
  const long used = thread_ticks(pid, "rsagent-http") - before;
  const long window = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0).count() *
                      ::sysconf(_SC_CLK_TCK) / 1000;
  CAPTURE(used);
  CAPTURE(window);
  CHECK(used * 4 < window);
  // Descriptors again: the waiting request is answered.
  n.ns.run("prlimit --pid " + std::to_string(pid) + " --nofile=8192:8192");
  std::string got;
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, 5000) == 1) {
    char buf[1024];
    const ssize_t k = ::recv(fd, buf, sizeof buf, 0);
    if (k <= 0) break;
    got.append(buf, static_cast<std::size_t>(k));
  }
  ::close(fd);
  CHECK(status_of(got) == 200);
}
