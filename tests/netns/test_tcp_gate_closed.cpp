// The TCP gate while closed and under pressure, against the real kernel:
// a closed gate sleeps, keeps its port from every other socket, reports
// what the kernel says about its sockets, drops sources outside
// health.allow in the kernel, and an accept loop out of fds waits instead
// of spinning.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

std::string node_config(const std::string& extra_health = "", const std::string& interval = "200ms") {
  return R"({
  "vips": ["198.51.100.100"],
  "health": {
    "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8080",
                "interval": ")" + interval + R"(", "timeout": "100ms", "rise": 1, "fall": 1}],
    )" + extra_health + R"(
    "tcp_gate": {"listen": ["0.0.0.0:9797", "[::]:9797"]}
  }
})";
}

// Whether a TCP connect from `src` (any when empty) to dst:port inside ns
// completes within a second: refused and timed out are both "no".
bool connects_from(const Netns& ns, const std::string& src, const std::string& dst, int port = 9797) {
  bool ok = false;
  in_netns(ns, [&] {
    const bool v6 = dst.find(':') != std::string::npos;
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_storage s{}, d{};
    socklen_t len = 0;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&s);
      auto* b = reinterpret_cast<sockaddr_in6*>(&d);
      a->sin6_family = b->sin6_family = AF_INET6;
      if (!src.empty()) ::inet_pton(AF_INET6, src.c_str(), &a->sin6_addr);
      ::inet_pton(AF_INET6, dst.c_str(), &b->sin6_addr);
      b->sin6_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof(sockaddr_in6);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&s);
      auto* b = reinterpret_cast<sockaddr_in*>(&d);
      a->sin_family = b->sin_family = AF_INET;
      if (!src.empty()) ::inet_pton(AF_INET, src.c_str(), &a->sin_addr);
      ::inet_pton(AF_INET, dst.c_str(), &b->sin_addr);
      b->sin_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof(sockaddr_in);
    }
    if (!src.empty()) REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&s), len) == 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&d), len) == 0 || errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t el = sizeof err;
      ok = ::poll(&p, 1, 1000) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0;
    }
    ::close(fd);
  });
  return ok;
}

bool connects(const Netns& ns) { return connects_from(ns, "", "127.0.0.1"); }

// errno of bind() by a fresh SO_REUSEADDR socket on ip:9797 in ns (0: bound).
int reuseaddr_bind(const Netns& ns, const std::string& ip, int* keep = nullptr) {
  int err = 0;
  in_netns(ns, [&] {
    const bool v6 = ip.find(':') != std::string::npos;
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(9797);
      ::inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(9797);
      ::inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
      len = sizeof *a;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) err = errno;
    else if (::listen(fd, 16) != 0) err = errno;
    if (err == 0 && keep) *keep = fd;
    else ::close(fd);
  });
  return err;
}

// CPU ticks (user + system) of every thread of pid so far.
long cpu_ticks(int pid) {
  long total = 0;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream f(t.path() / "stat");
    std::string line;
    std::getline(f, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    // After the name: state is field 3; utime and stime are fields 14, 15.
    for (int i = 3; i <= 13; ++i) rest >> field;
    long utime = 0, stime = 0;
    rest >> utime >> stime;
    total += utime + stime;
  }
  return total;
}

// Seconds of CPU the daemon spends over about 2 s of wall time.
double cpu_seconds_over_2s(int pid) {
  const long before = cpu_ticks(pid);
  std::this_thread::sleep_for(2s);
  return static_cast<double>(cpu_ticks(pid) - before) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

nlohmann::json gate_status(const Netns& ns, const std::string& src = "") {
  const std::string iface = src.empty() ? "" : " --interface " + src;
  const auto out = ns.run("curl -s --max-time 5" + iface + " http://127.0.0.1:9799/status").out;
  const auto j = nlohmann::json::parse(out, nullptr, false);
  return j.is_object() && j.contains("tcp_gate") ? j["tcp_gate"] : nlohmann::json();
}

// The fd in `pid` of its socket listening on 0.0.0.0:9797 (-1 if none).
int gate_fd_of(int pid) {
  std::ifstream tcp("/proc/" + std::to_string(pid) + "/net/tcp");
  std::string line, inode;
  std::getline(tcp, line);
  while (std::getline(tcp, line)) {
    std::istringstream in(line);
    std::string sl, local, remote, st, q, tr, rexm, uid, timeout;
    in >> sl >> local >> remote >> st >> q >> tr >> rexm >> uid >> timeout >> inode;
    if (local == "00000000:2645" && st == "0A") break;
    inode.clear();
  }
  if (inode.empty()) return -1;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string() == "socket:[" + inode + "]")
      return std::stoi(e.path().filename().string());
  }
  return -1;
}

}  // namespace

TEST_CASE("a closed TCP gate uses no CPU to speak of: from the start until ready, and while drained") {
  AgentNode n(node_config());
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  // No web service yet: not ready, the gate closed.
  REQUIRE(wait_until([&] { return !gate_status(n.ns).is_null(); }, 5s));
  CHECK(!connects(n.ns));
  const double closed = cpu_seconds_over_2s(pid);
  CHECK_MESSAGE(closed < 0.4, "CPU seconds in 2 s with the gate closed: " << closed);
  NsService web(n.ns, "127.0.0.1", 8080);
  REQUIRE(wait_until([&] { return connects(n.ns); }, 5s));
  REQUIRE(n.rsagent("drain").code == 0);
  CHECK(!connects(n.ns));
  const double drained = cpu_seconds_over_2s(pid);
  CHECK_MESSAGE(drained < 0.4, "CPU seconds in 2 s while drained: " << drained);
  REQUIRE(n.rsagent("ready").code == 0);
  CHECK(connects(n.ns));
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("no socket can bind the closed TCP gate's port, not even with SO_REUSEADDR, and the gate opens when ready") {
  AgentNode n(node_config());
  REQUIRE(n.rsagent("start").code == 0);
  REQUIRE(wait_until([&] { return !gate_status(n.ns).is_null(); }, 5s));
  for (const char* ip : {"0.0.0.0", "127.0.0.1", "::", "::1"}) {
    CAPTURE(ip);
    CHECK(reuseaddr_bind(n.ns, ip) == EADDRINUSE);
  }
  CHECK(!connects(n.ns));
  NsService web(n.ns, "127.0.0.1", 8080);
  CHECK(wait_until([&] { return connects(n.ns); }, 5s));
  CHECK(wait_until([&] { return connects_from(n.ns, "", "::1"); }, 5s));
  const auto g = gate_status(n.ns);
  CHECK(g["open"] == true);
  CHECK(g["reopen_failures"] == 0);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("/status shows the gate's sockets as the kernel has them, and a gate that could not listen again retries") {
  AgentNode n(node_config());
  NsService web(n.ns, "127.0.0.1", 8080);
  REQUIRE(n.rsagent("start").code == 0);
  REQUIRE(wait_until([&] { return connects(n.ns); }, 5s));
  const int pid = n.daemon_pid();
  const int target = gate_fd_of(pid);
  REQUIRE(target >= 0);
  // Another process holding the same socket (as after a leaked fd) sets
  // SO_REUSEADDR on it behind the gate's back, while the gate is closed.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  REQUIRE(pidfd >= 0);
  const int dup = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, target, 0));
  REQUIRE(dup >= 0);
  web.stop();
  REQUIRE(wait_until([&] { return !connects(n.ns); }, 5s));
  const int one = 1;
  REQUIRE(::setsockopt(dup, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
  int other = -1;
  REQUIRE(reuseaddr_bind(n.ns, "0.0.0.0", &other) == 0);
  // Ready again: the gate's listen() fails while the other socket listens.
  web.start();
  REQUIRE(wait_until([&] { return gate_status(n.ns).value("want_open", false) == true; }, 5s));
  const auto during = gate_status(n.ns);
  CAPTURE(during.dump());
  CHECK(during["open"] == false);
  CHECK(during["listeners"][0]["listen"] == "0.0.0.0:9797");
  CHECK(during["listeners"][0]["listening"] == false);
  CHECK(during["listeners"][1]["listening"] == true);
  CHECK(wait_until([&] { return gate_status(n.ns).value("reopen_failures", 0) >= 1; }, 5s));
  const auto metrics = n.ns.run("curl -s http://127.0.0.1:9799/metrics").out;
  CHECK(metrics.find("rsagent_tcp_gate_open 0\n") != std::string::npos);
  // The other process ends: the gate listens again on its own.
  ::close(other);
  CHECK(wait_until([&] { return gate_status(n.ns).value("open", false) == true; }, 5s));
  CHECK(connects(n.ns));
  ::close(dup);
  ::close(pidfd);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("sources outside health.allow never connect to the TCP gate; allowed sources do, IPv4 and IPv6") {
  AgentNode n(node_config(R"("allow": ["127.0.0.1/32", "127.0.0.2/32", "2001:db8::2/128", "2001:db8:1::/48"],)"));
  for (const char* a : {"2001:db8::1/128", "2001:db8::2/128", "2001:db8:1::5/128"})
    n.ns.ip(std::string("addr add ") + a + " dev lo nodad");
  NsService web(n.ns, "127.0.0.1", 8080);
  REQUIRE(n.rsagent("start").code == 0);
  REQUIRE(wait_until([&] { return connects_from(n.ns, "127.0.0.2", "127.0.0.1"); }, 5s));
  CHECK(!connects_from(n.ns, "127.0.0.3", "127.0.0.1"));
  CHECK(!connects_from(n.ns, "127.0.1.2", "127.0.0.1"));
  CHECK(connects_from(n.ns, "2001:db8::2", "2001:db8::1"));
  CHECK(connects_from(n.ns, "2001:db8:1::5", "2001:db8::1"));
  CHECK(!connects_from(n.ns, "2001:db8::1", "2001:db8::1"));
  CHECK(!connects_from(n.ns, "::1", "::1"));
  // Only the allowed connects reached the gate.
  CHECK(wait_until([&] { return gate_status(n.ns)["connections"].get<int>() >= 3; }, 5s));
  std::this_thread::sleep_for(200ms);
  CHECK(gate_status(n.ns)["connections"].get<int>() == 3);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("a reload that changes health.tcp_gate says it waits for a restart and keeps the running gate") {
  AgentNode n(node_config());
  NsService web(n.ns, "127.0.0.1", 8080);
  REQUIRE(n.rsagent("start").code == 0);
  REQUIRE(wait_until([&] { return connects(n.ns); }, 5s));
  auto text = node_config();
  text.replace(text.find("\"tcp_gate\": {\"listen\": [\"0.0.0.0:9797\", \"[::]:9797\"]}"),
               std::string("\"tcp_gate\": {\"listen\": [\"0.0.0.0:9797\", \"[::]:9797\"]}").size(),
               "\"tcp_gate\": {\"listen\": [\"0.0.0.0:9796\"]}");
  n.write_config(text);
  const auto r = n.rsagent("reload");
  CHECK(r.code == 0);
  CHECK_MESSAGE(r.out.find("health.tcp_gate changes take effect at the next restart") != std::string::npos, r.out);
  CHECK(connects(n.ns));
  CHECK(connects_from(n.ns, "", "::1"));
  CHECK(!connects_from(n.ns, "", "127.0.0.1", 9796));
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("out of fds, the TCP gate and the agent-check wait instead of spinning, and accept again after") {
  // A long check interval: the check keeps its verdict while fds run out.
  AgentNode n(node_config(R"("agent_check": {"listen": "127.0.0.1:9798"},)", "60s"));
  NsService web(n.ns, "127.0.0.1", 8080);
  const std::string log = n.run_in_background();
  REQUIRE(wait_until([&] { return connects(n.ns); }, 10s));
  const int pid = n.daemon_pid();
  const auto accepted = [&] { return gate_status(n.ns).value("connections", -1); };
  CAPTURE(must("cat " + log));
  std::this_thread::sleep_for(200ms);  // the gate has counted the connects above
  const int before = accepted();
  // Soft limit at its lowest free fd number: the kernel hands out the
  // lowest free fd, so every accept4() fails with EMFILE.
  int lowest_free = 0;
  while (std::filesystem::exists("/proc/" + std::to_string(pid) + "/fd/" + std::to_string(lowest_free)))
    ++lowest_free;
  must("prlimit --pid " + std::to_string(pid) + " --nofile=" + std::to_string(lowest_free) + ":");
  // Both connects complete in the kernel and wait in the backlogs.
  int held[2];
  for (int i = 0; i < 2; ++i)
    in_netns(n.ns, [&] {
      held[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(i == 0 ? 9797 : 9798);
      ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
      REQUIRE(::connect(held[i], reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    });
  const double starved = cpu_seconds_over_2s(pid);
  CHECK_MESSAGE(starved < 0.4, "CPU seconds in 2 s out of fds: " << starved);
  must("prlimit --pid " + std::to_string(pid) + " --nofile=1024:");
  // Recovered. Out of fds the daemon could not read the network either and
  // went down, which closed the gate (and reset the connection waiting
  // there): a new connect once ready is accepted, and the agent-check
  // answers the one that waited, with whatever the verdict is by then.
  CHECK(wait_until([&] { return connects(n.ns) && accepted() > before; }, 10s));
  char buf[64] = {};
  pollfd p{held[1], POLLIN, 0};
  CHECK(::poll(&p, 1, 5000) == 1);
  const ssize_t got = ::read(held[1], buf, sizeof buf);
  CHECK(got > 0);
  const std::string line(buf, static_cast<std::size_t>(std::max<ssize_t>(0, got)));
  CHECK_MESSAGE((line.rfind("up ", 0) == 0 || line.rfind("down", 0) == 0), line);
  for (int fd : held) ::close(fd);
  CHECK(n.rsagent("stop").code == 0);
}
