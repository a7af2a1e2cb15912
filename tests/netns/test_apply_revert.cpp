// The real binary against the real kernel, each test in fresh namespaces.
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <filesystem>

#include <csignal>
#include <thread>

using namespace rsagent::testing;

namespace {

const char* const kIssueConfig = R"({
  // VIPs this node serves in direct-routing mode
  "vips": ["198.51.100.100", {"address": "2001:db8::100"}, {"address": "198.51.100.101", "label": "lo:web"}],
  "arp": {"ignore": 1, "announce": 2, "interfaces": ["all", "lo"]},
  "routes": true
})";

void expect_ok(const CmdResult& r) { REQUIRE_MESSAGE(r.code == 0, r.out); }

}  // namespace

TEST_CASE("start applies exactly the configured addresses, labels, routes and sysctls") {
  AgentNode n(kIssueConfig);
  expect_ok(n.rsagent("start"));
  const auto lo = n.ns.addresses();
  CHECK(has_addr(lo, "198.51.100.100", 32, "lo:0"));
  CHECK(has_addr(lo, "198.51.100.101", 32, "lo:web"));
  CHECK(has_addr(lo, "2001:db8::100", 128));
  CHECK(has_addr(lo, "127.0.0.1", 8));
  CHECK(has_addr(lo, "::1", 128));
  CHECK(lo.size() == 5);
  for (const auto& a : lo)
    if (a["local"] == "2001:db8::100") {
      CHECK(a.value("nodad", false));
    }
  const auto r4 = n.ns.routes("-4");
  const auto r6 = n.ns.routes("-6");
  CHECK(has_route(r4, "198.51.100.100"));
  CHECK(has_route(r4, "198.51.100.101"));
  CHECK(has_route(r6, "2001:db8::100"));
  CHECK(r4.size() == 2);
  CHECK(n.ns.sysctl("all", "arp_ignore") == 1);
  CHECK(n.ns.sysctl("all", "arp_announce") == 2);
  CHECK(n.ns.sysctl("lo", "arp_ignore") == 1);
  CHECK(n.ns.sysctl("lo", "arp_announce") == 2);
  CHECK(n.ns.sysctl("default", "arp_ignore") == 0);

  // Applying the same config again changes nothing.
  auto plan = n.rsagent("plan");
  expect_ok(plan);
  CHECK(plan.out.find("nothing to change") != std::string::npos);
  auto again = n.rsagent("start");
  expect_ok(again);
  CHECK(again.out.find("already running") != std::string::npos);
  expect_ok(n.rsagent("stop"));
}

TEST_CASE("stop puts back the exact state from before start, unusual originals included") {
  AgentNode n(kIssueConfig);
  n.ns.set_sysctl("all", "arp_ignore", 2);
  n.ns.set_sysctl("lo", "arp_announce", 1);
  const std::string before = n.ns.snapshot();
  expect_ok(n.rsagent("start"));
  CHECK(n.ns.snapshot() != before);
  expect_ok(n.rsagent("stop"));
  CHECK(n.ns.snapshot() == before);
  CHECK(n.ns.sysctl("all", "arp_ignore") == 2);
  CHECK(n.ns.sysctl("lo", "arp_announce") == 1);
}

TEST_CASE("a foreign address and route on lo, and a VIP left by the old script, stay untouched") {
  AgentNode n(R"({"vips": ["198.51.100.100", "198.51.100.102"]})");
  n.ns.ip("addr add 203.0.113.50/32 dev lo label lo:other");
  n.ns.ip("route add 203.0.113.0/28 dev lo proto static");
  // What the copied init script leaves: the VIP on lo:0 with its host route.
  n.ns.ip("addr add 198.51.100.102/32 dev lo label lo:0");
  n.ns.ip("route add 198.51.100.102/32 dev lo scope link proto boot");
  const std::string before = n.ns.snapshot();
  auto start = n.rsagent("start");
  expect_ok(start);
  auto status = n.rsagent("status --json");
  CHECK(status.code == 0);
  const auto st = nlohmann::json::parse(status.out);
  for (const auto& v : st["vips"]) {
    CHECK(v["present"] == true);
    CHECK(v["owned"] == (v["address"] == "198.51.100.100"));
  }
  expect_ok(n.rsagent("stop"));
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("kill -9 then stop reverts everything from the journal alone") {
  AgentNode n(kIssueConfig);
  const std::string before = n.ns.snapshot();
  expect_ok(n.rsagent("start"));
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGKILL) == 0);
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(n.rsagent("status").code == 1);  // dead, but its changes are in place
  auto stop = n.rsagent("stop");
  expect_ok(stop);
  CHECK(stop.out.find("no longer running") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
  CHECK(n.rsagent("status").code == 3);
}

TEST_CASE("kill -9, start, stop still restores the first originals") {
  AgentNode n(kIssueConfig);
  n.ns.set_sysctl("all", "arp_ignore", 2);
  n.ns.set_sysctl("lo", "arp_announce", 1);
  const std::string before = n.ns.snapshot();
  expect_ok(n.rsagent("start"));
  REQUIRE(::kill(n.daemon_pid(), SIGKILL) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto restart = n.rsagent("start");
  expect_ok(restart);
  CHECK(restart.out.find("0 change(s) made") != std::string::npos);
  expect_ok(n.rsagent("stop"));
  CHECK(n.ns.snapshot() == before);
}

// While the daemon runs it heals such a change (test_ownership.cpp); a
// change it cannot heal is one made after it died.
TEST_CASE("a sysctl the admin changed after the daemon died keeps the admin's value after stop") {
  AgentNode n(kIssueConfig);
  expect_ok(n.rsagent("start"));
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGKILL) == 0);
  for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  n.ns.set_sysctl("all", "arp_announce", 1);
  auto stop = n.rsagent("stop");
  expect_ok(stop);
  CHECK(n.ns.sysctl("all", "arp_announce") == 1);
  CHECK(n.ns.sysctl("all", "arp_ignore") == 0);
  CHECK(n.ns.sysctl("lo", "arp_announce") == 0);
}

TEST_CASE("a VIP already on a non-loopback interface is refused and nothing changes") {
  AgentNode n(kIssueConfig);
  n.ns.ip("link add eth0 type veth peer name eth0peer");  // no dummy module here
  n.ns.ip("link set eth0 up");
  n.ns.ip("addr add 198.51.100.100/24 dev eth0");
  const std::string before = n.ns.snapshot();
  auto r = n.rsagent("start");
  CHECK(r.code == 1);
  CHECK(r.out.find("198.51.100.100 is already on eth0") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
  CHECK(n.rsagent("status").code == 3);
}

TEST_CASE("every bad configuration exits 6 and leaves the namespace byte-identical") {
  const std::vector<std::pair<std::string, std::string>> bad{
      {R"({"vips": ["198.51.100.300"]})", "rsagent.json:1:11: \"198.51.100.300\" is not"},
      {R"({"vips": ["198.51.100.1", "198.51.100.1"]})", "duplicate VIP"},
      {R"({"vips": ["127.0.0.5"]})", "loopback"},
      {R"({"vips": [{"address": "198.51.100.1", "label": "eth0:1"}]})", "must start with \"lo:\""},
      {R"({"vips": [{"address": "2001:db8::1", "label": "lo:1"}]})", "label on IPv6"},
      {R"({"vipz": []})", "did you mean \"vips\""},
      {R"({"arp": {"ignore": 9}, "vips": ["198.51.100.1"]})", "0-8"},
      {R"({"arp": {"announce": 3}, "vips": ["198.51.100.1"]})", "0-2"},
      {R"({"arp": {"interfaces": ["bad name"]}, "vips": ["198.51.100.1"]})", "interface name"},
      {"{\"vips\": [\"198.51.100.1\",]}", "trailing comma"},
  };
  AgentNode n("{}");
  const std::string before = n.ns.snapshot();
  for (const auto& b : bad) {
    const std::string& text = b.first;
    const std::string& words = b.second;
    CAPTURE(text);
    n.write_config(text);
    for (const char* cmd : {"start", "run", "plan", "check-config"}) {
      CAPTURE(cmd);
      auto r = n.rsagent(cmd);
      CHECK(r.code == 6);
      CHECK_MESSAGE(r.out.find(words) != std::string::npos, r.out);
    }
    CHECK(n.ns.snapshot() == before);
  }
  // A bad conf.d file stops a good main file, naming its own path.
  n.write_config(R"({"vips": ["198.51.100.1"]})");
  n.write_file("conf.d/50-bad.json", R"({"vips": ["198.51.100.1"]})");
  auto r = n.rsagent("start");
  CHECK(r.code == 6);
  CHECK(r.out.find(n.dir() + "/conf.d/50-bad.json:1:11: duplicate VIP") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("arp interfaces with dots in their names are configured") {
  AgentNode n(R"({"vips": ["198.51.100.1"], "arp": {"interfaces": ["all", "lo", "eth0.100"]}})");
  n.ns.ip("link add eth0.100 type veth peer name peer100");
  n.ns.set_sysctl("eth0.100", "arp_ignore", 0);
  const std::string before = n.ns.snapshot();
  expect_ok(n.rsagent("start"));
  CHECK(n.ns.sysctl("eth0.100", "arp_ignore") == 1);
  CHECK(n.ns.sysctl("eth0.100", "arp_announce") == 2);
  expect_ok(n.rsagent("stop"));
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("a missing arp interface is refused before anything changes") {
  AgentNode n(R"({"vips": ["198.51.100.1"], "arp": {"interfaces": ["all", "eth7"]}})");
  const std::string before = n.ns.snapshot();
  auto r = n.rsagent("start");
  CHECK(r.code == 1);
  CHECK(r.out.find("no such interface") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("with no IPv4 VIP no sysctl changes, with no VIP nothing changes") {
  AgentNode n(R"({"vips": ["2001:db8::7"]})");
  const std::string sysctls_before = n.ns.run("sh -c 'grep -r . /proc/sys/net/ipv4/conf/'").out;
  expect_ok(n.rsagent("start"));
  CHECK(has_addr(n.ns.addresses(), "2001:db8::7", 128));
  CHECK(n.ns.run("sh -c 'grep -r . /proc/sys/net/ipv4/conf/'").out == sysctls_before);
  expect_ok(n.rsagent("stop"));

  n.write_config("{}");
  const std::string before = n.ns.snapshot();
  expect_ok(n.rsagent("start"));
  CHECK(n.ns.snapshot() == before);
  expect_ok(n.rsagent("stop"));
}

TEST_CASE("status codes follow LSB: 0 running, 1 dead with state left, 3 not running") {
  AgentNode n(kIssueConfig);
  CHECK(n.rsagent("status").code == 3);
  expect_ok(n.rsagent("start"));
  CHECK(n.rsagent("status").code == 0);
  auto js = n.rsagent("status --json");
  const auto st = nlohmann::json::parse(js.out);
  CHECK(st["running"] == true);
  CHECK(st["drift"].empty());
  // Freeze the daemon so it cannot heal what we take away, and look.
  REQUIRE(::kill(n.daemon_pid(), SIGSTOP) == 0);
  n.ns.ip("addr del 198.51.100.101/32 dev lo");
  const auto drifted = nlohmann::json::parse(n.rsagent("status --json").out);
  CHECK(drifted["drift"].size() == 1);
  REQUIRE(::kill(n.daemon_pid(), SIGCONT) == 0);
  expect_ok(n.rsagent("stop"));
  CHECK(n.rsagent("status").code == 3);
  auto stop_again = n.rsagent("stop");
  CHECK(stop_again.code == 0);
  CHECK(stop_again.out.find("not running") != std::string::npos);
}

TEST_CASE("relative --config and --state-dir mean where they were typed, also for the daemon") {
  AgentNode n(kIssueConfig);
  const std::string before = n.ns.snapshot();
  // The daemon works from /: a relative state folder must not become /state.
  const auto in_dir = [&](const std::string& args) {
    return n.ns.run("sh -c 'cd " + n.dir() + " && " + RSAGENT_BIN + " --config rsagent.json --state-dir state " +
                    args + "'");
  };
  REQUIRE(::access("/state", F_OK) != 0);
  // Should the bug come back, do not leave its folder on the host.
  struct RemoveStrayState {
    ~RemoveStrayState() {
      std::error_code ec;
      std::filesystem::remove_all("/state", ec);
    }
  } remove_stray;
  expect_ok(in_dir("start"));
  CHECK(::access("/state", F_OK) != 0);
  CHECK(::access((n.state_dir() + "/journal.json").c_str(), F_OK) == 0);
  CHECK(in_dir("status").code == 0);
  // The daemon re-reads its configuration on reload: the same file.
  CHECK(in_dir("reload").code == 0);
  const auto stop = in_dir("stop");
  CHECK(stop.code == 0);
  CHECK(stop.out.find("stopped") != std::string::npos);
  CHECK(n.ns.snapshot() == before);
  CHECK(::access("/state", F_OK) != 0);
}

TEST_CASE("SIGTERM to a foreground daemon reverts, as systemd's stop does") {
  AgentNode n(kIssueConfig);
  const std::string before = n.ns.snapshot();
  n.run_in_background();
  for (int i = 0; i < 500 && n.rsagent("status").code != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(n.rsagent("status").code == 0);
  // Readiness is reported after the pidfile; wait until the state is in place.
  for (int i = 0; i < 500 && !has_route(n.ns.routes("-4"), "198.51.100.101"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(::kill(n.daemon_pid(), SIGTERM) == 0);
  for (int i = 0; i < 500 && n.rsagent("status").code != 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("commands that change the system refuse without CAP_NET_ADMIN, exit 4") {
  AgentNode n(kIssueConfig);
  const std::string before = n.ns.snapshot();
  // (`stop` with nothing running exits 0 before it asks for privileges:
  // test_faults.cpp, "stop without privileges ...".)
  for (const char* cmd : {"start", "run"}) {
    CAPTURE(cmd);
    auto r = n.ns.run("setpriv --reuid=65534 --regid=65534 --clear-groups " +
                      std::string(RSAGENT_BIN) + " --config " + n.config_path() +
                      " --state-dir " + n.state_dir() + " " + cmd);
    CHECK(r.code == 4);
    CHECK(r.out.find("CAP_NET_ADMIN") != std::string::npos);
  }
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("usage errors exit 2") {
  AgentNode n("{}");
  CHECK(n.rsagent("frobnicate").code == 2);
  CHECK(n.rsagent("status --bogus").code == 2);
  CHECK(n.ns.run(std::string(RSAGENT_BIN)).code == 2);
  CHECK(n.ns.run(std::string(RSAGENT_BIN) + " --help").code == 0);
  CHECK(n.ns.run(std::string(RSAGENT_BIN) + " version").code == 0);
}

TEST_CASE("a kernel refusal halfway through start rolls everything back and says why") {
  AgentNode n(kIssueConfig);
  // IPv6 off on lo: the kernel refuses the IPv6 VIP after the sysctls and the
  // first IPv4 VIP went in.
  n.ns.run("sysctl -qw net.ipv6.conf.lo.disable_ipv6=1");
  const std::string before = n.ns.snapshot();
  auto r = n.rsagent("start");
  CHECK(r.code == 1);
  CHECK_MESSAGE(r.out.find("add address 2001:db8::100/128 dev lo nodad") != std::string::npos, r.out);
  CHECK_MESSAGE(r.out.find("IPv6 is disabled") != std::string::npos, r.out);  // the kernel's ext-ack text
  CHECK(n.ns.snapshot() == before);
  CHECK(n.rsagent("status").code == 3);
}
