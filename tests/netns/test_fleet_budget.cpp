// The drain budget against a real etcd (Debian's etcd-server) in its own
// namespace: real rsagent nodes on one LAN sharing a VIP, their drains
// taking slots under their leases. What the tests assert is read from etcd
// itself and from each node's own /healthz, as a director would.
#include "../support/etcd_fixture.hpp"
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto kTtl = 3s;
constexpr const char* kSharedVip = "198.51.100.100";
const std::string kSlots = "/rsagent/budget/";

std::string node_ip(int i) { return "203.0.113." + std::to_string(20 + i); }
std::string own_vip(int i) { return "198.51.100." + std::to_string(10 + i); }
std::string node_name(int i) { return "node-" + std::to_string(i); }

// Node i: the shared VIP and one of its own, the endpoint, the fleet with
// a budget. `failing_check`: a tcp check nobody answers (down on its own).
std::unique_ptr<AgentNode> make_node(Lan& lan, int i, const std::string& budget, bool failing_check = false,
                                     const std::string& extra = "") {
  std::string cfg = std::string("{\"vips\": [\"") + kSharedVip + "\", \"" + own_vip(i) +
                    "\"], \"health\": {\"listen\": [\"0.0.0.0:9797\"]";
  if (failing_check)
    cfg += R"(, "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8081", "interval": "500ms",)"
           R"( "timeout": "200ms"}])";
  cfg += std::string("}, \"fleet\": {\"etcd\": {\"endpoints\": [\"http://") + kEtcdIp +
         ":2379\"]}, \"ttl\": \"3s\", \"name\": \"" + node_name(i) + "\", \"drain_budget\": " + budget + "}" + extra + "}";
  auto n = std::make_unique<AgentNode>(cfg);
  lan.attach(n->ns, node_ip(i) + "/24");
  const auto r = n->rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  return n;
}

// Every record published: the nodes hold their leases.
void wait_published(const Etcd& etcd, int n) {
  REQUIRE_MESSAGE(wait_until([&] { return etcd.count("/rsagent/nodes/") == n; }, 30s, 200ms), etcd.log());
}

// Each node's /healthz status from `from`, in one curl.
std::vector<std::string> healthz(const Netns& from, int n) {
  std::string cmd = "curl -s --max-time 1";
  for (int i = 0; i < n; ++i) cmd += " -o /dev/null -w '%{http_code}\\n' http://" + node_ip(i) + ":9797/healthz";
  const auto r = from.run(cmd);
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < r.out.size()) {
    const auto nl = r.out.find('\n', at);
    out.push_back(r.out.substr(at, nl - at));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

int not_ready(const std::vector<std::string>& codes) {
  int n = 0;
  for (const auto& c : codes) n += c != "200";
  return n;
}

// Every file under the node's state folder with its bytes.
std::string state_bytes(const AgentNode& node) {
  return sh("cd " + node.state_dir() + " && find . -type f ! -name '*.sock' | sort | xargs md5sum").out;
}

std::string rsagent_cmd(const AgentNode& n) {
  return std::string(RSAGENT_BIN) + " --config " + n.config_path() + " --state-dir " + n.state_dir();
}

}  // namespace

TEST_CASE("ten concurrent drain --wait under a budget of 2 never have more than two nodes out, and all ten finish") {
  if (!have_etcd()) FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  Lan lan;
  Etcd etcd(lan);
  Netns director;
  lan.attach(director, "203.0.113.1/24");
  constexpr int kNodes = 10;
  std::vector<std::unique_ptr<AgentNode>> nodes;
  for (int i = 0; i < kNodes; ++i) nodes.push_back(make_node(lan, i, "2"));
  wait_published(etcd, kNodes);
  REQUIRE(not_ready(healthz(director, kNodes)) == 0);

  // An upgrade on each node at once: drain and wait, hold a moment, ready.
  for (const auto& n : nodes) {
    const std::string d = n->dir();
    n->ns.run("sh -c '" + rsagent_cmd(*n) + " drain --wait --quiet 0s --timeout 3m --reason upgrade >" + d +
              "/drain.log 2>&1; echo $? >" + d + "/drain.rc; sleep 1; " + rsagent_cmd(*n) + " ready >>" + d +
              "/drain.log 2>&1; echo $? >" + d + "/ready.rc' >/dev/null 2>&1 &");
  }
  const auto finished = [&] {
    int done = 0;
    for (const auto& n : nodes) done += std::filesystem::exists(n->dir() + "/ready.rc");
    return done;
  };
  int max_out = 0;
  int max_slots = 0;
  int samples = 0;
  std::vector<std::string> over;  // samples with more than two out
  const auto until = std::chrono::steady_clock::now() + 180s;
  while (finished() < kNodes && std::chrono::steady_clock::now() < until) {
    const auto next = std::chrono::steady_clock::now() + 100ms;
    const int slots = etcd.count(kSlots);
    const auto codes = healthz(director, kNodes);
    const int out = not_ready(codes);
    ++samples;
    max_out = std::max(max_out, out);
    max_slots = std::max(max_slots, slots);
    if (out > 2 || slots > 2) {
      std::string line = "sample " + std::to_string(samples) + ": " + std::to_string(slots) + " slots, healthz";
      for (const auto& c : codes) line += " " + c;
      over.push_back(line);
    }
    std::this_thread::sleep_until(next);
  }
  std::string logs;
  for (const auto& n : nodes) logs += sh("cat " + n->dir() + "/drain.log").out;
  CHECK_MESSAGE(finished() == kNodes, logs);
  std::string over_text;
  for (const auto& line : over) over_text += line + "\n";
  CHECK_MESSAGE(over.empty(), over_text);
  CHECK(max_out <= 2);
  CHECK(max_slots <= 2);
  // The budget was used to its limit: two nodes out at once, others in line.
  CHECK(max_slots == 2);
  CHECK(logs.find("waiting in line") != std::string::npos);
  MESSAGE(samples << " samples; at most " << max_out << " nodes out and " << max_slots << " slots held");
  for (const auto& n : nodes) {
    CHECK(sh("cat " + n->dir() + "/drain.rc").out == "0\n");
    CHECK(sh("cat " + n->dir() + "/ready.rc").out == "0\n");
  }
  // Every slot released, every node ready again.
  CHECK(wait_until([&] { return etcd.count(kSlots) == 0; }, 10s, 200ms));
  CHECK(not_ready(healthz(director, kNodes)) == 0);
}

TEST_CASE("a full budget refuses a drain with who is out, a node down on its own counting too, and changes nothing") {
  if (!have_etcd()) FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  Lan lan;
  Etcd etcd(lan);
  Netns director;
  lan.attach(director, "203.0.113.1/24");
  std::vector<std::unique_ptr<AgentNode>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(make_node(lan, i, "2", /*failing_check=*/i == 3));
  wait_published(etcd, 4);
  // node-3 is down on its own: one of the two places is taken already.
  REQUIRE(wait_until([&] { return healthz(director, 4)[3] == "503"; }, 10s, 200ms));
  const auto drain0 = nodes[0]->rsagent("drain --reason kernel-upgrade");
  REQUIRE_MESSAGE(drain0.code == 0, drain0.out);
  CHECK(drain0.out.find("1 of 2") == std::string::npos);  // the answer counts node-3 too
  CHECK(drain0.out.find("2 of 2 out") != std::string::npos);
  CHECK(etcd.has(kSlots + "node-0"));

  const std::string before = state_bytes(*nodes[1]);
  const auto refused = nodes[1]->rsagent("drain --reason second");
  CHECK(refused.code == 1);
  CHECK(refused.out.find("refused") != std::string::npos);
  CHECK(refused.out.find("node-0  drain  since") != std::string::npos);
  CHECK(refused.out.find("kernel-upgrade") != std::string::npos);
  CHECK(refused.out.find("node-3  down on its own") != std::string::npos);
  CHECK(refused.out.find("--wait") != std::string::npos);
  // Nothing changed: its files, its answer to the directors, etcd.
  CHECK(state_bytes(*nodes[1]) == before);
  CHECK(healthz(director, 4)[1] == "200");
  CHECK_FALSE(etcd.has(kSlots + "node-1"));
  // maint is the same kind of going out.
  CHECK(nodes[1]->rsagent("maint").code == 1);
  CHECK(healthz(director, 4)[1] == "200");

  // `rsagent fleet` from a workstation shows who holds the slots.
  AgentNode op(std::string(R"({"fleet": {"etcd": {"endpoints": ["http://)") + kEtcdIp +
               R"(:2379"]}, "drain_budget": 2}})");
  lan.attach(op.ns, "203.0.113.99/24");
  const auto table = op.rsagent("fleet");
  CHECK_MESSAGE(table.out.find("budget: 2 per VIP; 1 slot held: node-0 (drain since") != std::string::npos,
                table.out);
  CHECK(table.out.find("down on their own (counted too): node-3") != std::string::npos);
  const auto j = nlohmann::json::parse(op.rsagent("fleet --json").out, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["budget"]["limit"] == 2);
  REQUIRE(j["budget"]["holders"].size() == 1);
  CHECK(j["budget"]["holders"][0]["name"] == "node-0");
  CHECK(j["budget"]["holders"][0]["reason"] == "kernel-upgrade");

  // ready gives the slot back; the next drain takes it.
  REQUIRE(nodes[0]->rsagent("ready").code == 0);
  CHECK(wait_until([&] { return !etcd.has(kSlots + "node-0"); }, 10s, 100ms));
  const auto drain1 = nodes[1]->rsagent("drain");
  CHECK_MESSAGE(drain1.code == 0, drain1.out);
  CHECK(etcd.has(kSlots + "node-1"));
}

TEST_CASE("a node killed while holding a slot frees it within its TTL, and a stop over the budget is not refused") {
  if (!have_etcd()) FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  Lan lan;
  Etcd etcd(lan);
  std::vector<std::unique_ptr<AgentNode>> nodes;
  // A graceful stop drains for up to 3 s.
  for (int i = 0; i < 3; ++i) nodes.push_back(make_node(lan, i, "1", false, R"(, "stop": {"drain": "3s"})"));
  wait_published(etcd, 3);
  REQUIRE(nodes[0]->rsagent("drain").code == 0);
  REQUIRE(etcd.has(kSlots + "node-0"));
  CHECK(nodes[1]->rsagent("drain").code == 1);
  // A draining stop holds a slot too, over the budget if it must: shutdown
  // must finish, so it is never refused.
  const std::string rc = nodes[1]->dir() + "/stop.rc";
  nodes[1]->ns.run("sh -c '" + rsagent_cmd(*nodes[1]) + " stop >" + nodes[1]->dir() + "/stop.log 2>&1; echo $? >" +
                   rc + "' >/dev/null 2>&1 &");
  CHECK(wait_until([&] { return etcd.has(kSlots + "node-1"); }, 5s, 50ms));
  REQUIRE(wait_until([&] { return std::filesystem::exists(rc) && sh("cat " + rc).out == "0\n"; }, 30s, 100ms));
  CHECK_FALSE(etcd.has(kSlots + "node-1"));  // its lease was revoked with it
  CHECK(etcd.has(kSlots + "node-0"));

  const int pid = nodes[0]->daemon_pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGKILL) == 0);
  // No revoke: the lease ends on its own, and the slot with it.
  CHECK(wait_until([&] { return !etcd.has(kSlots + "node-0"); }, kTtl + 1s, 50ms));
  const auto r = nodes[2]->rsagent("drain");
  CHECK_MESSAGE(r.code == 0, r.out);
}

TEST_CASE("a percentage budget is of the nodes that share a VIP, rounded down but at least one") {
  if (!have_etcd()) FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  Lan lan;
  Etcd etcd(lan);
  std::vector<std::unique_ptr<AgentNode>> nodes;
  // 50% of 3 nodes: 1.
  for (int i = 0; i < 3; ++i) nodes.push_back(make_node(lan, i, "\"50%\""));
  wait_published(etcd, 3);
  const auto first = nodes[0]->rsagent("maint --reason disk");
  CHECK_MESSAGE(first.code == 0, first.out);
  CHECK(first.out.find("1 of 1 out") != std::string::npos);
  const auto second = nodes[1]->rsagent("drain");
  CHECK(second.code == 1);
  CHECK(second.out.find("1 of the 3 node(s) that share VIP 198.51.100.100 with node-1 are out") != std::string::npos);
  CHECK(second.out.find("node-0  maint  since") != std::string::npos);
}

TEST_CASE("with etcd stopped a budgeted drain is refused as unreachable and changes nothing; --force drains") {
  if (!have_etcd()) FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  Lan lan;
  Etcd etcd(lan);
  Netns director;
  lan.attach(director, "203.0.113.1/24");
  constexpr int kNodes = 3;
  std::vector<std::unique_ptr<AgentNode>> nodes;
  for (int i = 0; i < kNodes; ++i) nodes.push_back(make_node(lan, i, "1"));
  wait_published(etcd, kNodes);
  etcd.stop();

  const std::string before = state_bytes(*nodes[0]);
  const auto refused = nodes[0]->rsagent("drain --reason upgrade");
  CHECK(refused.code == 1);
  CHECK_MESSAGE(refused.out.find("etcd at http://203.0.113.5:2379 is unreachable") != std::string::npos, refused.out);
  CHECK(refused.out.find("--force") != std::string::npos);
  CHECK(state_bytes(*nodes[0]) == before);
  // Every node stays ready and keeps its VIPs: the directors never notice.
  for (int i = 0; i < kNodes; ++i) {
    CHECK(healthz(director, kNodes)[i] == "200");
    CHECK(has_addr(nodes[i]->ns.addresses(), kSharedVip, 32));
    CHECK(has_addr(nodes[i]->ns.addresses(), own_vip(i), 32));
  }

  const auto forced = nodes[0]->rsagent("drain --force --reason upgrade");
  CHECK_MESSAGE(forced.code == 0, forced.out);
  CHECK(forced.out.find("--force: etcd at http://203.0.113.5:2379 is unreachable") != std::string::npos);
  CHECK(forced.out.find("up to 1 other node(s)") != std::string::npos);
  CHECK(healthz(director, kNodes)[0] == "503");
  CHECK(healthz(director, kNodes)[1] == "200");

  // etcd back: the forced node's slot is written, so it counts.
  etcd.start();
  CHECK_MESSAGE(wait_until([&] { return etcd.has(kSlots + "node-0"); }, 20s, 200ms), etcd.log());
  CHECK(nodes[1]->rsagent("drain").code == 1);
}

TEST_CASE("a drained node keeps its slot across a restart, and gives it back on ready") {
  if (!have_etcd()) FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  Lan lan;
  Etcd etcd(lan);
  std::vector<std::unique_ptr<AgentNode>> nodes;
  for (int i = 0; i < 2; ++i) nodes.push_back(make_node(lan, i, "1"));
  wait_published(etcd, 2);
  REQUIRE(nodes[0]->rsagent("drain --reason upgrade").code == 0);
  REQUIRE(etcd.has(kSlots + "node-0"));
  // The restart leaves the lease to run; the new process puts the slot on its own.
  const auto r = nodes[0]->rsagent("restart");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  // Past the old lease's TTL: the slot is there on the new process's lease.
  std::this_thread::sleep_for(kTtl + 1s);
  CHECK(etcd.has(kSlots + "node-0"));
  CHECK(nodes[1]->rsagent("drain").code == 1);
  REQUIRE(nodes[0]->rsagent("ready").code == 0);
  CHECK(wait_until([&] { return !etcd.has(kSlots + "node-0"); }, 10s, 100ms));
  const auto d = nodes[1]->rsagent("drain");
  CHECK_MESSAGE(d.code == 0, d.out);
}
