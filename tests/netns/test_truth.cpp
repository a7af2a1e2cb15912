// `stop`, `status` and a second `start` against a daemon they cannot find by
// its files: its state folder removed, or its start still under way. The
// namespace's snapshot (addresses, routes of every table, ARP sysctls) is
// the witness that stop left nothing behind.
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <thread>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

const char* const kConfig = R"({"vips": ["198.51.100.100", "2001:db8::100"]})";

// Processes left in the node's namespace (the daemon, a start).
std::string processes(const AgentNode& n) { return sh("ip netns pids " + n.ns.name()).out; }

std::string bulk_config(int count) {
  std::ostringstream c;
  c << R"({"vips": [)";
  for (int i = 0; i < count; ++i)
    c << (i ? ", " : "") << "\"198.18." << (i / 250) << "." << (i % 250 + 1) << "\"";
  c << "]}";
  return c.str();
}

}  // namespace

TEST_CASE("stop after the state folder was removed stops the daemon and reverts everything") {
  AgentNode n(kConfig);
  const std::string before = n.ns.snapshot();
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  REQUIRE(n.ns.snapshot() != before);
  must("rm -rf " + n.state_dir());
  r = n.rsagent("stop");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("not running") == std::string::npos);
  CHECK(n.ns.snapshot() == before);
  CHECK(processes(n).empty());
}

TEST_CASE("status and a second start find a daemon whose state folder was removed") {
  AgentNode n(kConfig);
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const std::string pids = processes(n);
  must("rm -rf " + n.state_dir());
  r = n.rsagent("status --json");
  CHECK_MESSAGE(r.code == 0, r.out);  // LSB: running
  const auto st = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  CHECK(st["running"] == true);
  CHECK(pids.find(std::to_string(st["pid"].get<int>())) != std::string::npos);
  r = n.rsagent("start");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("already running") != std::string::npos);
  CHECK(processes(n) == pids);  // no second daemon
  r = n.rsagent("stop");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(processes(n).empty());
}

TEST_CASE("stop racing a 2000-VIP start leaves the namespace as it was, every time") {
  AgentNode n(bulk_config(2000));
  const std::string before = n.ns.snapshot();
  const std::string start = std::string(RSAGENT_BIN) + " --config " + n.config_path() +
                            " --state-dir " + n.state_dir() + " start";
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    // The start in the background, the stop 50 ms into it, as automation
    // that runs them back to back does.
    const auto r = n.ns.run("sh -c '" + start + " >" + n.dir() + "/start.log 2>&1 & sleep 0.05; " +
                            RSAGENT_BIN + " --config " + n.config_path() + " --state-dir " +
                            n.state_dir() + " stop; wait'");
    CHECK_MESSAGE(r.code == 0, r.out);
    CHECK_MESSAGE(n.ns.snapshot() == before, (r.out + sh("cat " + n.dir() + "/start.log").out));
    CHECK(wait_until([&] { return processes(n).empty(); }, 10s));
    if (n.ns.snapshot() != before) break;
  }
}

TEST_CASE("a NIC renamed while running keeps its ARP settings and leaves the node ready; stop restores it") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "arp": {"interfaces": ["all", "lo", "eth0"]}})");
  n.ns.ip("link add eth0 type veth peer name peer0");
  n.ns.ip("link set eth0 up");
  n.ns.ip("link set peer0 up");
  const int ignore_before = n.ns.sysctl("eth0", "arp_ignore");
  const int announce_before = n.ns.sysctl("eth0", "arp_announce");
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const auto healthz = [&] {
    return n.ns.run("curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:9799/healthz").out;
  };
  REQUIRE(wait_until([&] { return healthz() == "200"; }, 10s));
  n.ns.ip("link set eth0 down");
  n.ns.ip("link set eth0 name eth9");
  n.ns.ip("link set eth9 up");
  CHECK(n.ns.sysctl("eth9", "arp_ignore") == 1);
  // Past a full re-plan (every few seconds) and the netlink events of the
  // rename: still ready, and nothing reported missing.
  std::this_thread::sleep_for(6s);
  CHECK(healthz() == "200");
  r = n.rsagent("status --json");
  CHECK_MESSAGE(r.code == 0, r.out);
  const auto st = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  CHECK_MESSAGE(st["drift"].empty(), st["drift"].dump());
  CHECK(n.ns.sysctl("eth9", "arp_ignore") == 1);
  CHECK(n.ns.sysctl("eth9", "arp_announce") == 2);
  r = n.rsagent("stop");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(n.ns.sysctl("eth9", "arp_ignore") == ignore_before);
  CHECK(n.ns.sysctl("eth9", "arp_announce") == announce_before);
}

TEST_CASE("the text status shows the TCP gate as the kernel has it and the ARP guard; rsagentd has its own version and help") {
  AgentNode n(R"({"vips": ["198.51.100.100"],
                  "health": {"tcp_gate": {"listen": ["0.0.0.0:9797"]}}})");
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  REQUIRE(wait_until([&] { return n.rsagent("status").out.find("TCP gate: open on 0.0.0.0:9797") != std::string::npos; }, 10s));
  r = n.rsagent("status");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK_MESSAGE(r.out.find("ARP guard: ") != std::string::npos, r.out);
  REQUIRE(n.rsagent("drain").code == 0);
  r = n.rsagent("status");
  CHECK_MESSAGE(r.out.find("TCP gate: closed on 0.0.0.0:9797") != std::string::npos, r.out);
  CHECK(n.rsagent("stop").code == 0);

  const std::string daemon = std::string(RSAGENT_BIN) + "d";
  r = sh(daemon + " version");
  CHECK(r.code == 0);
  CHECK(r.out.rfind("rsagentd ", 0) == 0);
  r = sh(daemon + " --help");
  CHECK(r.code == 0);
  CHECK(r.out.find("usage: rsagentd") != std::string::npos);
  r = sh(std::string(RSAGENT_BIN) + " --help");
  CHECK(r.out.find("3 not running, 4 not privileged") != std::string::npos);  // status
  CHECK(r.out.find("\n  stop [--now]") != std::string::npos);
  CHECK(r.out.find("\n  stop ", r.out.find("\n  stop [--now]") + 1) == std::string::npos);  // listed once
}
