// Daemon lifecycle against the real kernel: self-healing, reload, sd_notify,
// restart without a gap. `ip monitor` is the witness for "no deletion".
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <ctime>
#include <sstream>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

const char* const kConfig = R"({"vips": ["198.51.100.100", "198.51.100.101", "2001:db8::100"]})";


void start_node(const AgentNode& n) {
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
}

// `ip -ts monitor` running in the namespace for the life of the object.
class Monitor {
 public:
  Monitor(const AgentNode& n, const std::string& what) : log_(n.dir() + "/monitor-" + what + ".log") {
    n.ns.run("sh -c 'ip -ts monitor " + what + " >" + log_ + " 2>&1 &'");
    // `ip monitor` says nothing once subscribed; give it time to get there.
    std::this_thread::sleep_for(200ms);
  }
  [[nodiscard]] std::string text() const { return sh("cat " + log_).out; }

 private:
  std::string log_;
};

// Seconds since midnight of an `ip -ts` line: "[2026-11-22T03:10:00.123456] ...".
double stamp(const std::string& line) {
  const auto t = line.find('T');
  if (line.empty() || line[0] != '[' || t == std::string::npos) return -1;
  const int h = std::stoi(line.substr(t + 1, 2));
  const int m = std::stoi(line.substr(t + 4, 2));
  const double s = std::stod(line.substr(t + 7, 9));
  return h * 3600 + m * 60 + s;
}

// Milliseconds from the first line with `gone` to the next line with `back`.
double restore_ms(const std::string& log, const std::string& gone, const std::string& back) {
  std::istringstream in(log);
  std::string line;
  double t0 = -1;
  while (std::getline(in, line)) {
    if (t0 < 0 && line.find(gone) != std::string::npos) t0 = stamp(line);
    else if (t0 >= 0 && line.find(back) != std::string::npos && line.find("Deleted") == std::string::npos)
      return (stamp(line) - t0) * 1000.0;
  }
  return -1;
}

// Every change before this call is in the monitors' logs: a marker address
// is added and removed, and its addition shows in each log after them.
void flush_monitors(const AgentNode& n, std::initializer_list<const Monitor*> monitors) {
  n.ns.ip("addr add 203.0.113.254/32 dev lo");
  for (const Monitor* m : monitors)
    REQUIRE(wait_until([&] { return m->text().find("203.0.113.254") != std::string::npos; }, 5s));
  n.ns.ip("addr del 203.0.113.254/32 dev lo");
}

bool has_vip(const AgentNode& n, const std::string& ip, int prefix) {
  return has_addr(n.ns.addresses(), ip, prefix);
}

}  // namespace

TEST_CASE("an owned VIP or route deleted behind rsagent's back is put back at once") {
  AgentNode n(kConfig);
  start_node(n);
  {
    Monitor mon(n, "address");
    n.ns.ip("addr del 198.51.100.100/32 dev lo");
    REQUIRE(wait_until([&] { return has_vip(n, "198.51.100.100", 32); }, 5s));
    double ms = -1;
    wait_until([&] { return (ms = restore_ms(mon.text(), "Deleted 1: lo    inet 198.51.100.100/32", "inet 198.51.100.100/32")) >= 0; }, 2s);
    MESSAGE("IPv4 VIP restored " << ms << " ms after its deletion (ip -ts monitor)");
    CHECK(ms >= 0);
    CHECK(ms < 1000);  // event-driven, not the 1 s tick
  }
  {
    Monitor mon(n, "address");
    n.ns.ip("addr del 2001:db8::100/128 dev lo");
    REQUIRE(wait_until([&] { return has_vip(n, "2001:db8::100", 128); }, 5s));
    double ms = -1;
    wait_until([&] { return (ms = restore_ms(mon.text(), "Deleted 1: lo    inet6 2001:db8::100/128", "inet6 2001:db8::100/128")) >= 0; }, 2s);
    MESSAGE("IPv6 VIP restored " << ms << " ms after its deletion");
    CHECK(ms >= 0);
  }
  {
    Monitor mon(n, "route");
    n.ns.ip("route del 198.51.100.101/32 dev lo");
    REQUIRE(wait_until([&] { return has_route(n.ns.routes("-4"), "198.51.100.101"); }, 5s));
    double ms = -1;
    wait_until([&] { return (ms = restore_ms(mon.text(), "Deleted 198.51.100.101 dev lo", "198.51.100.101 dev lo")) >= 0; }, 2s);
    MESSAGE("route restored " << ms << " ms after its deletion");
    CHECK(ms >= 0);
  }
  // A sysctl has no event; the periodic check puts it back within a tick or two.
  const auto t0 = std::chrono::steady_clock::now();
  n.ns.set_sysctl("all", "arp_ignore", 0);
  REQUIRE(wait_until([&] { return n.ns.sysctl("all", "arp_ignore") == 1; }, 5s));
  MESSAGE("arp_ignore restored after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
          << " ms (polled)");
  const auto metrics = n.ns.run("curl -s http://127.0.0.1:9799/metrics").out;
  const std::string sample = "\nrsagent_network_repairs_total ";
  const auto pos = metrics.find(sample);
  REQUIRE(pos != std::string::npos);
  CHECK(std::atoi(metrics.c_str() + pos + sample.size()) >= 4);
  CHECK(n.rsagent("stop").code == 0);
  CHECK(n.ns.sysctl("all", "arp_ignore") == 0);
}

TEST_CASE("a VIP that appears on another interface while running makes the node not ready, loudly") {
  AgentNode n(R"({"vips": ["198.51.100.100"]})");
  n.ns.ip("link add eth0 type veth peer name eth0peer");
  n.ns.ip("link set eth0 up");
  start_node(n);
  REQUIRE(wait_until([&] { return n.ns.run("curl -s http://127.0.0.1:9799/healthz").out == "ready\n"; }));
  n.ns.ip("addr add 198.51.100.100/24 dev eth0");
  REQUIRE(wait_until([&] { return n.ns.run("curl -s http://127.0.0.1:9799/healthz").out == "down\n"; }, 5s));
  const auto h = n.ns.run("curl -si http://127.0.0.1:9799/healthz").out;
  CHECK(h.find("198.51.100.100 is already on eth0") != std::string::npos);
  n.ns.ip("addr del 198.51.100.100/24 dev eth0");
  CHECK(wait_until([&] { return n.ns.run("curl -s http://127.0.0.1:9799/healthz").out == "ready\n"; }, 5s));
}

TEST_CASE("reload with a broken config exits 6, prints the errors and leaves everything as it was") {
  AgentNode n(kConfig);
  start_node(n);
  const std::string before = n.ns.snapshot();
  n.write_config(R"({"vips": ["198.51.100.100", "not-an-ip"], "arp": {"ignore": 12}})");
  auto r = n.rsagent("reload");
  CHECK(r.code == 6);
  CHECK(r.out.find("rsagent.json:1:29: \"not-an-ip\" is not an IPv4 or IPv6 address") != std::string::npos);
  CHECK(r.out.find("arp.ignore must be an integer 0-8") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
  CHECK(n.rsagent("status").code == 0);
}

TEST_CASE("reload adds and removes VIPs without touching the unchanged ones") {
  AgentNode n(kConfig);
  start_node(n);
  Monitor mon(n, "address");
  n.write_config(R"({"vips": ["198.51.100.100", "2001:db8::100", "198.51.100.102"]})");
  auto r = n.rsagent("reload");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  // reload returns once applied: no waiting needed.
  CHECK(has_vip(n, "198.51.100.102", 32));
  CHECK_FALSE(has_vip(n, "198.51.100.101", 32));
  flush_monitors(n, {&mon});
  const auto log = mon.text();
  CHECK(log.find("Deleted 1: lo    inet 198.51.100.101/32") != std::string::npos);
  CHECK(log.find("Deleted 1: lo    inet 198.51.100.100/32") == std::string::npos);
  CHECK(log.find("Deleted 1: lo    inet6 2001:db8::100") == std::string::npos);
  // SIGHUP does the same.
  n.write_config(kConfig);
  REQUIRE(::kill(n.daemon_pid(), SIGHUP) == 0);
  CHECK(wait_until([&] { return has_vip(n, "198.51.100.101", 32) && !has_vip(n, "198.51.100.102", 32); }));
  CHECK(mon.text().find("Deleted 1: lo    inet 198.51.100.100/32") == std::string::npos);
}

TEST_CASE("restart replaces the daemon with the binary on disk and ip monitor shows no deletion") {
  AgentNode n(kConfig);
  start_node(n);
  const int pid = n.daemon_pid();
  const std::string before = n.ns.snapshot();
  Monitor addrs(n, "address");
  Monitor routes(n, "route");
  auto r = n.rsagent("restart");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("restarted") != std::string::npos);
  CHECK(n.daemon_pid() == pid);  // re-exec keeps the pid (systemd's MAINPID)
  const auto log_of = [&](const Monitor& m) {
    const auto t = m.text();
    return t.substr(0, t.find("203.0.113.254"));
  };
  flush_monitors(n, {&addrs, &routes});
  CHECK(log_of(addrs).find("Deleted") == std::string::npos);
  CHECK(log_of(routes).find("Deleted") == std::string::npos);
  CHECK(n.ns.snapshot() == before);
  CHECK(n.ns.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9799/livez").out == "200");
  // The new image owns the journal: stop still reverts everything.
  CHECK(n.rsagent("stop").code == 0);
  CHECK_FALSE(has_vip(n, "198.51.100.100", 32));
}

TEST_CASE("the sd_notify sequence: READY, watchdog pings, RELOADING with MONOTONIC_USEC, STOPPING") {
  for (const bool abstract : {false, true}) {
    CAPTURE(abstract);
    AgentNode n(kConfig);
    const std::string name = abstract ? "@rsagent-test-" + n.ns.name() : n.dir() + "/notify.sock";
    int fd = -1;
    // An abstract socket lives in the network namespace: create it there.
    in_netns(n.ns, [&] {
      fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::memcpy(sa.sun_path, name.c_str(), name.size());
      if (abstract) sa.sun_path[0] = '\0';
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0);
    });
    timeval tv{0, 200'000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::vector<std::string> got;
    const auto receive_for = [&](std::chrono::milliseconds d) {
      const auto end = std::chrono::steady_clock::now() + d;
      char buf[4096];
      while (std::chrono::steady_clock::now() < end) {
        const ssize_t k = ::recv(fd, buf, sizeof buf, 0);
        if (k > 0) got.emplace_back(buf, static_cast<std::size_t>(k));
      }
    };
    n.run_in_background("NOTIFY_SOCKET=" + name + " WATCHDOG_USEC=400000");
    receive_for(1500ms);
    const int pid = n.daemon_pid();
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGHUP) == 0);
    receive_for(500ms);
    REQUIRE(::kill(pid, SIGTERM) == 0);
    receive_for(500ms);
    ::close(fd);
    std::vector<std::string> kinds;
    std::string first;
    int pings = 0;
    for (const auto& m : got) {
      if (m == "WATCHDOG=1") {
        ++pings;
        continue;
      }
      if (first.empty()) first = m;
      kinds.push_back(m.substr(0, m.find('\n')));
    }
    CAPTURE(got.size());
    REQUIRE(kinds.size() >= 4);
    CHECK(kinds[0] == "READY=1");
    CHECK(first.find("STATUS=") != std::string::npos);
    CHECK(kinds[1] == "RELOADING=1");
    CHECK(kinds[2] == "READY=1");
    CHECK(kinds.back() == "STOPPING=1");
    CHECK(pings >= 3);  // every 200 ms for about 2 s
    for (const auto& m : got)
      if (m.rfind("RELOADING=1", 0) == 0) CHECK(m.find("\nMONOTONIC_USEC=") != std::string::npos);
  }
}

namespace {
std::uint64_t replans(const AgentNode& n) {
  const auto metrics = n.ns.run("curl -s http://127.0.0.1:9799/metrics").out;
  const std::string sample = "\nrsagent_network_replans_total ";
  const auto pos = metrics.find(sample);
  REQUIRE(pos != std::string::npos);
  return std::strtoull(metrics.c_str() + pos + sample.size(), nullptr, 10);
}
}  // namespace

TEST_CASE("10,000 address changes elsewhere make a few dozen re-plans and do not hide the deletion of a VIP") {
  AgentNode n(R"({"vips": ["198.51.100.100"]})");
  n.ns.ip("link add flood0 type veth peer name flood1");
  n.ns.ip("link set flood0 up");
  start_node(n);
  std::string batch;
  for (int i = 0; i < 5000; ++i)
    batch += "address add 198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "/32 dev flood0\n";
  for (int i = 0; i < 5000; ++i)
    batch += "address del 198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "/32 dev flood0\n";
  n.write_file("flood.batch", batch);
  const auto before = replans(n);
  std::atomic<bool> flooding{true};
  std::thread flood([&] {
    n.ns.run("ip -batch " + n.dir() + "/flood.batch");
    flooding = false;
  });
  REQUIRE(wait_until([&] { return n.ns.run("ip -o addr show dev flood0 | wc -l").out != "0\n"; }, 10s));
  n.ns.ip("addr del 198.51.100.100/32 dev lo");
  const auto t0 = std::chrono::steady_clock::now();
  const bool still_flooding = flooding;  // the deletion came in the middle of the burst
  CHECK(wait_until([&] { return has_vip(n, "198.51.100.100", 32); }, 5s));
  const auto restore_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  flood.join();
  const auto made = replans(n) - before;
  MESSAGE("during the flood the VIP was back within " << restore_ms << " ms (polled with ip, "
          << (still_flooding ? "deleted while" : "deleted after") << " the flood ran); 10,000 address changes made "
          << made << " re-plan(s)");
  CHECK(still_flooding);
  CHECK(made <= 60);      // one per burst (100 ms at most) and the periodic check, not one per event
  CHECK(n.rsagent("status").code == 0);
}

namespace {

// What `rsagent run` writes from start to SIGTERM, with extra environment and options.
std::string run_log(const AgentNode& n, const std::string& env, const std::string& opts) {
  const std::string log = n.run_in_background(env, opts);
  // The pidfile is written once the daemon has converged and serves.
  REQUIRE(wait_until([&] { return n.daemon_pid() > 0; }, 5s));
  REQUIRE(::kill(n.daemon_pid(), SIGTERM) == 0);
  REQUIRE(wait_until([&] { return n.rsagent("status").code == 3; }, 5s));
  return sh("cat " + log).out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("under journald each line carries its syslog priority, one per change, and --log-level filters") {
  AgentNode n(R"({"vips": ["198.51.100.100", "2001:db8::100"]})");
  const auto lines = lines_of(run_log(n, "JOURNAL_STREAM=8:1234", ""));
  CAPTURE(lines.size());
  REQUIRE(!lines.empty());
  for (const auto& line : lines) {
    CAPTURE(line);
    // journald reads "<N>" as the priority: 3 error, 4 warning, 5 notice, 6 info, 7 debug.
    CHECK(line.size() > 3);
    CHECK(line[0] == '<');
    CHECK(line[1] >= '0');
    CHECK(line[1] <= '7');
    CHECK(line[2] == '>');
  }
  const auto count = [&](const std::string& what) {
    return std::count_if(lines.begin(), lines.end(), [&](const auto& l) { return l.find(what) != std::string::npos; });
  };
  // Each change to the system is one line naming the object, on the way in and on the way out.
  CHECK(count("<6>added address 198.51.100.100/32 dev lo") == 1);
  CHECK(count("<6>added address 2001:db8::100/128 dev lo") == 1);
  CHECK(count("<6>added route 198.51.100.100/32 dev lo") == 1);
  CHECK(count("<6>added route 2001:db8::100/128 dev lo") == 1);
  CHECK(count("<6>set net.ipv4.conf.all.arp_ignore = 1 (was 0)") == 1);
  CHECK(count("<6>deleted address 198.51.100.100/32 dev lo") == 1);
  CHECK(count("<6>deleted route 2001:db8::100/128 dev lo") == 1);
  CHECK(count("<6>set net.ipv4.conf.all.arp_ignore = 0 (was 1)") == 1);

  // Outside journald the lines are plain; --log-level warning keeps only warnings and errors.
  const auto quiet = lines_of(run_log(n, "", "--log-level warning"));
  for (const auto& line : quiet) {
    CAPTURE(line);
    CHECK(line.rfind("rsagent: ", 0) == 0);
    CHECK((line.find("warning: ") != std::string::npos || line.find("error: ") != std::string::npos));
  }
  const auto plain = lines_of(run_log(n, "", "--log-level info"));
  CHECK(std::count(plain.begin(), plain.end(), "rsagent: added address 198.51.100.100/32 dev lo label lo:0") == 1);
  CHECK_FALSE(has_vip(n, "198.51.100.100", 32));
}
