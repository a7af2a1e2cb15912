// Route-mode VIPs ("AnyIP" local routes) against the real kernel, each test
// in a fresh namespace. The state asserted on is `ip -j route show table
// local`, bind() inside the namespace, and the namespace's snapshot.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <atomic>
#include <csignal>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

const char* const kRanges = R"({"vip_mode": "route", "vips": ["198.51.100.16/28", "2001:db8:1::/64"]})";

void expect_ok(const CmdResult& r) { REQUIRE_MESSAGE(r.code == 0, r.out); }

// The local-table routes of one family, as `ip -j` prints them.
nlohmann::json local_routes(const Netns& ns, const std::string& family) {
  return nlohmann::json::parse(must("ip -n " + ns.name() + " -j " + family + " route show table local"));
}

// A local route for exactly dst ("198.51.100.16/28", or an address for a
// /32) on lo, not the kernel's own route of an address.
bool has_local(const Netns& ns, const std::string& dst) {
  const auto routes = local_routes(ns, dst.find(':') == std::string::npos ? "-4" : "-6");
  for (const auto& r : routes)
    if (r.value("type", "") == "local" && r.value("dst", "") == dst && r.value("dev", "") == "lo" &&
        r.value("protocol", "") != "kernel")
      return true;
  return false;
}

// bind() to ip inside ns: works exactly when ip is local there.
bool can_bind(const std::string& ip) {
  sockaddr_in6 a6{};
  sockaddr_in a4{};
  const bool v6 = ip.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int rc;
  if (v6) {
    a6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip.c_str(), &a6.sin6_addr);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a6), sizeof a6);
  } else {
    a4.sin_family = AF_INET;
    inet_pton(AF_INET, ip.c_str(), &a4.sin_addr);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a4), sizeof a4);
  }
  ::close(fd);
  return rc == 0;
}

// A UDP datagram sent to ip:9 reaches a socket bound to the wildcard
// address inside ns: ip is local there (IPv6 has no bind() to an address of
// a local route without IPV6_FREEBIND, but delivers to it all the same).
class Delivery {
 public:
  explicit Delivery(const std::string& ip) : v6_(ip.find(':') != std::string::npos) {
    const int fam = v6_ ? AF_INET6 : AF_INET;
    rx_ = ::socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    tx_ = ::socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (v6_) {
      to6_.sin6_family = AF_INET6;
      to6_.sin6_port = htons(9);
      inet_pton(AF_INET6, ip.c_str(), &to6_.sin6_addr);
      sockaddr_in6 any{};
      any.sin6_family = AF_INET6;
      any.sin6_port = htons(9);
      const int one = 1;  // apart from an IPv4 socket on port 9 at the same time
      (void)::setsockopt(rx_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      bound_ = ::bind(rx_, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0;
    } else {
      to4_.sin_family = AF_INET;
      to4_.sin_port = htons(9);
      inet_pton(AF_INET, ip.c_str(), &to4_.sin_addr);
      sockaddr_in any{};
      any.sin_family = AF_INET;
      any.sin_port = htons(9);
      bound_ = ::bind(rx_, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0;
    }
  }
  ~Delivery() {
    ::close(rx_);
    ::close(tx_);
  }
  Delivery(const Delivery&) = delete;
  Delivery& operator=(const Delivery&) = delete;
  bool once() {
    if (!bound_) return false;
    const auto* to = v6_ ? reinterpret_cast<const sockaddr*>(&to6_) : reinterpret_cast<const sockaddr*>(&to4_);
    if (::sendto(tx_, "x", 1, 0, to, v6_ ? sizeof to6_ : sizeof to4_) != 1) return false;
    pollfd p{rx_, POLLIN, 0};
    if (::poll(&p, 1, 200) != 1) return false;
    char c;
    return ::recv(rx_, &c, 1, 0) == 1;
  }

 private:
  bool v6_;
  int rx_ = -1;
  int tx_ = -1;
  bool bound_ = false;
  sockaddr_in to4_{};
  sockaddr_in6 to6_{};
};

bool delivered_in(const Netns& ns, const std::string& ip) {
  bool ok = false;
  in_netns(ns, [&] { ok = Delivery(ip).once(); });
  return ok;
}

bool can_bind_in(const Netns& ns, const std::string& ip) {
  bool ok = false;
  in_netns(ns, [&] { ok = can_bind(ip); });
  return ok;
}

// Sends to `ip` in a tight loop inside ns until stopped, counting datagrams
// not delivered: the witness that a VIP is local at every moment.
class BindPoller {
 public:
  BindPoller(const Netns& ns, std::string ip)
      : thread_([this, &ns, ip = std::move(ip)] {
          in_netns(ns, [&] {
            Delivery d(ip);
            while (!stop_) {
              ++tries_;
              if (!d.once()) ++failures_;
            }
          });
        }) {
    wait_until([&] { return tries_ > 100; }, 5s, 1ms);
  }
  ~BindPoller() { finish(); }
  BindPoller(const BindPoller&) = delete;
  BindPoller& operator=(const BindPoller&) = delete;
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] long failures() const { return failures_; }
  [[nodiscard]] long tries() const { return tries_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> tries_{0};
  std::atomic<long> failures_{0};
  std::thread thread_;
};

// The line numbers in `log` of the first line holding all of `words`, or -1.
int line_of(const std::string& log, std::initializer_list<const char*> words) {
  std::istringstream in(log);
  std::string line;
  for (int n = 0; std::getline(in, line); ++n) {
    bool all = true;
    for (const char* w : words) all = all && line.find(w) != std::string::npos;
    if (all) return n;
  }
  return -1;
}

}  // namespace

TEST_CASE("route-mode VIPs are local routes on lo: bind() works, no address, no main route, stop reverts exactly") {
  AgentNode n(kRanges);
  const std::string before = n.ns.snapshot();
  CHECK_FALSE(can_bind_in(n.ns, "198.51.100.20"));
  expect_ok(n.rsagent("start"));
  CHECK(has_local(n.ns, "198.51.100.16/28"));
  CHECK(has_local(n.ns, "2001:db8:1::/64"));
  CHECK(can_bind_in(n.ns, "198.51.100.16"));
  CHECK(can_bind_in(n.ns, "198.51.100.20"));
  CHECK(can_bind_in(n.ns, "198.51.100.31"));
  CHECK_FALSE(can_bind_in(n.ns, "198.51.100.32"));
  CHECK(delivered_in(n.ns, "198.51.100.25"));
  CHECK(delivered_in(n.ns, "2001:db8:1::abcd"));
  CHECK_FALSE(delivered_in(n.ns, "2001:db8:2::1"));
  CHECK(n.ns.addresses().size() == 2);         // 127.0.0.1 and ::1 only
  CHECK(n.ns.routes("-4").empty());            // the local route is all it needs
  CHECK(n.ns.sysctl("all", "arp_ignore") == 1);  // ARP tamed as for address VIPs
  CHECK(n.ns.sysctl("all", "arp_announce") == 2);
  const auto plan = n.rsagent("plan");
  expect_ok(plan);
  CHECK(plan.out.find("nothing to change") != std::string::npos);
  // status, /status and /metrics report them as VIPs, in route mode.
  for (const auto& st : {nlohmann::json::parse(n.rsagent("status --json").out),
                         nlohmann::json::parse(n.ns.run("curl -s http://127.0.0.1:9799/status").out)}) {
    REQUIRE(st["vips"].size() == 2);
    CHECK(st["vips"][0]["address"] == "198.51.100.16");
    CHECK(st["vips"][0]["prefix"] == 28);
    CHECK(st["vips"][0]["mode"] == "route");
    CHECK(st["vips"][0]["present"] == true);
    CHECK(st["drift"].empty());
  }
  const auto metrics = n.ns.run("curl -s http://127.0.0.1:9799/metrics").out;
  CHECK(metrics.find("\nrsagent_vips_present 2\n") != std::string::npos);
  CHECK(n.ns.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9799/healthz").out == "200");
  expect_ok(n.rsagent("stop"));
  CHECK(n.ns.snapshot() == before);
  CHECK_FALSE(can_bind_in(n.ns, "198.51.100.20"));
}

TEST_CASE("a local route already on lo for the VIP is adopted and left in place on stop") {
  AgentNode n(kRanges);
  n.ns.ip("route add local 198.51.100.16/28 dev lo table local");
  const std::string before = n.ns.snapshot();
  const auto start = n.rsagent("start");
  expect_ok(start);
  CHECK(start.out.find("1 existing object(s) adopted") != std::string::npos);
  expect_ok(n.rsagent("stop"));
  CHECK(has_local(n.ns, "198.51.100.16/28"));
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("a local route deleted behind rsagent's back is put back") {
  AgentNode n(kRanges);
  expect_ok(n.rsagent("start"));
  n.ns.ip("route del local 198.51.100.16/28 dev lo table local");
  n.ns.ip("-6 route del local 2001:db8:1::/64 dev lo table local");
  CHECK(wait_until([&] { return has_local(n.ns, "198.51.100.16/28") && has_local(n.ns, "2001:db8:1::/64"); }, 10s));
  expect_ok(n.rsagent("stop"));
  CHECK_FALSE(has_local(n.ns, "198.51.100.16/28"));
}

TEST_CASE("kill -9 then stop reverts route-mode VIPs from the journal alone") {
  AgentNode n(kRanges);
  const std::string before = n.ns.snapshot();
  expect_ok(n.rsagent("start"));
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGKILL) == 0);
  REQUIRE(wait_until([&] { return ::kill(pid, 0) != 0; }, 5s));
  CHECK(n.rsagent("status").code == 1);
  CHECK(has_local(n.ns, "198.51.100.16/28"));
  expect_ok(n.rsagent("stop"));
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("a range holding an address of a NIC refuses the start and changes nothing") {
  AgentNode n(kRanges);
  n.ns.ip("link add eth0 type veth peer name eth1");
  n.ns.ip("addr add 198.51.100.20/24 dev eth0");
  const std::string before = n.ns.snapshot();
  const auto r = n.rsagent("start");
  CHECK(r.code != 0);
  CHECK(n.ns.snapshot() == before);
  CHECK(n.rsagent("status").code == 3);
}

TEST_CASE("reload switches a VIP between address and route mode with no moment it is not local") {
  AgentNode n(R"({"vips": ["198.51.100.5", "2001:db8::5"]})");
  expect_ok(n.rsagent("start"));
  const std::string log = n.dir() + "/monitor.log";
  n.ns.run("sh -c 'ip monitor route address >" + log + " 2>&1 &'");
  std::this_thread::sleep_for(200ms);  // subscribed before the reloads
  {
    BindPoller v4(n.ns, "198.51.100.5");
    BindPoller v6(n.ns, "2001:db8::5");
    n.write_config(R"({"vip_mode": "route", "vips": ["198.51.100.5", "2001:db8::5"]})");
    expect_ok(n.rsagent("reload"));
    CHECK(has_local(n.ns, "198.51.100.5"));
    CHECK(has_local(n.ns, "2001:db8::5"));
    CHECK(n.ns.addresses().size() == 2);
    n.write_config(R"({"vips": ["198.51.100.5", "2001:db8::5"]})");
    expect_ok(n.rsagent("reload"));
    CHECK(has_addr(n.ns.addresses(), "198.51.100.5", 32, "lo:0"));
    // rsagent's local routes go once the kernel has made the addresses
    // local (IPv6 does that from its address work, after the add returns).
    CHECK(wait_until([&] { return !has_local(n.ns, "198.51.100.5") && !has_local(n.ns, "2001:db8::5"); }, 10s));
    v4.finish();
    v6.finish();
    MESSAGE("delivery polled " << v4.tries() << " + " << v6.tries() << " times across both reloads");
    CHECK(v4.failures() == 0);
    CHECK(v6.failures() == 0);
  }
  std::this_thread::sleep_for(200ms);
  const std::string text = sh("cat " + log).out;
  // To route mode: rsagent's local route (metric 1024) appears before the
  // address (and the kernel's local route with it) goes.
  const int added = line_of(text, {"local 198.51.100.5 dev lo", "metric 1024"});
  const int addr_gone = line_of(text, {"Deleted", "inet 198.51.100.5/32"});
  CHECK(added >= 0);
  CHECK(addr_gone > added);
  // Back to address mode: the address appears before rsagent's local route goes.
  const int route_gone = line_of(text, {"Deleted local 198.51.100.5 dev lo", "metric 1024"});
  CHECK(route_gone > addr_gone);
  const int kernel6_back = line_of(text.substr(0), {"local 2001:db8::5 dev lo", "proto kernel"});
  const int route6_gone = line_of(text, {"Deleted local 2001:db8::5 dev lo", "metric 1024"});
  CHECK(route6_gone >= 0);
  CHECK(kernel6_back >= 0);
  expect_ok(n.rsagent("stop"));
}

TEST_CASE("an address of the range appearing on a NIC while running makes the node not ready, and ready again once gone") {
  AgentNode n(kRanges);
  n.ns.ip("link add eth0 type veth peer name eth0peer");
  n.ns.ip("link set eth0 up");
  expect_ok(n.rsagent("start"));
  const auto code = [&] {
    return n.ns.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9799/healthz").out;
  };
  REQUIRE(wait_until([&] { return code() == "200"; }));
  n.ns.ip("addr add 198.51.100.20/24 dev eth0");
  REQUIRE(wait_until([&] { return code() == "503"; }, 10s));
  const auto st = nlohmann::json::parse(n.ns.run("curl -s http://127.0.0.1:9799/status").out);
  CHECK(st["ready"] == false);
  CHECK(has_local(n.ns, "198.51.100.16/28"));  // nothing is taken away
  n.ns.ip("addr del 198.51.100.20/24 dev eth0");
  CHECK(wait_until([&] { return code() == "200"; }, 10s));
  expect_ok(n.rsagent("stop"));
}
