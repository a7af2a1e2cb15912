// The fleet against a real etcd (Debian's etcd-server): etcd runs in a
// namespace of its own on a documentation address, bridged to the nodes'
// namespaces; every node is a real rsagent publishing its record under a
// lease. `rsagent fleet` runs from a namespace with only a config file (no
// daemon), as an operator's workstation would.
#include "../support/netns.hpp"
#include "../support/etcd_fixture.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <set>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto kTtl = 3s;

std::string node_ip(int i) { return "203.0.113." + std::to_string(20 + i); }
std::string vip(int i) { return "198.51.100." + std::to_string(10 + i); }
std::string node_name(int i) { return "node-" + std::to_string(i); }

std::string fleet_section(const std::string& name) {
  return std::string(R"("fleet": {"etcd": {"endpoints": ["http://)") + kEtcdIp + R"(:2379"]}, "ttl": "3s")" +
         (name.empty() ? "" : R"(, "name": ")" + name + "\"") + "}";
}


// Node i: a VIP, an endpoint the director can reach, the fleet section.
// `check`: a tcp check against a port nobody listens on (the node is down).
std::unique_ptr<AgentNode> make_node(Lan& lan, int i, bool failing_check = false) {
  std::string cfg = "{\"vips\": [\"" + vip(i) + "\"], \"health\": {\"listen\": [\"0.0.0.0:9797\"]";
  if (failing_check)
    cfg += R"(, "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8081", "interval": "500ms",)"
           R"( "timeout": "200ms"}])";
  cfg += "}, " + fleet_section(node_name(i)) + "}";
  auto n = std::make_unique<AgentNode>(cfg);
  lan.attach(n->ns, node_ip(i) + "/24");
  const auto r = n->rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  return n;
}

// `rsagent fleet --json` from a namespace that runs no daemon.
nlohmann::json fleet_json(const AgentNode& op, CmdResult* raw = nullptr) {
  const auto r = op.rsagent("fleet --json");
  if (raw) *raw = r;
  if (r.code != 0) return nullptr;
  return nlohmann::json::parse(r.out, nullptr, false);
}

std::map<std::string, std::string> verdicts(const nlohmann::json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object() || !j.contains("nodes")) return out;
  for (const auto& n : j["nodes"]) out[n["name"].get<std::string>()] = n["verdict"].get<std::string>();
  return out;
}

}  // namespace

TEST_CASE("ten nodes publish their verdicts to etcd, and a killed node's record leaves within its TTL") {
  if (!have_etcd()) {
    FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  }
  Lan lan;
  Etcd etcd(lan);
  std::vector<std::unique_ptr<AgentNode>> nodes;
  for (int i = 0; i < 10; ++i) nodes.push_back(make_node(lan, i, /*failing_check=*/i == 0));
  REQUIRE(nodes[1]->rsagent("drain --reason upgrade").code == 0);
  AgentNode op("{" + fleet_section("") + "}");
  lan.attach(op.ns, "203.0.113.99/24");

  std::map<std::string, std::string> want;
  for (int i = 0; i < 10; ++i) want[node_name(i)] = i == 0 ? "down" : i == 1 ? "drain" : "ready";
  CmdResult raw;
  REQUIRE_MESSAGE(wait_until([&] { return verdicts(fleet_json(op, &raw)) == want; }, 20s, 200ms), raw.out);
  const auto j = fleet_json(op);
  // What needs attention comes first; each record carries its VIP.
  CHECK(j["nodes"][0]["name"] == "node-0");
  CHECK(j["nodes"][1]["name"] == "node-1");
  CHECK(j["nodes"][1]["state_reason"] == "upgrade");
  for (const auto& n : j["nodes"]) {
    const int i = std::stoi(n["name"].get<std::string>().substr(5));
    CHECK(n["vips"] == nlohmann::json::array({vip(i)}));
    CHECK(n["addresses"] == nlohmann::json::array({node_ip(i)}));
  }
  // The table reads the same records.
  const auto table = op.rsagent("fleet");
  CHECK(table.code == 0);
  CHECK(table.out.find("node-9") != std::string::npos);

  // kill -9: no clean stop, so no revoke; the lease ends on its own.
  const int pid = nodes[3]->daemon_pid();
  REQUIRE(pid > 0);
  const std::string key = "/rsagent/nodes/node-3";
  REQUIRE(etcd.has(key));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  CHECK(wait_until([&] { return !etcd.has(key); }, kTtl + 1s, 50ms));
  want.erase("node-3");
  CHECK(wait_until([&] { return verdicts(fleet_json(op)) == want; }, 5s, 200ms));
  // A clean stop revokes the lease: the record leaves at once.
  REQUIRE(nodes[4]->rsagent("stop").code == 0);
  CHECK_FALSE(etcd.has("/rsagent/nodes/node-4"));
}

TEST_CASE("with etcd gone every node stays ready and keeps its VIP; the records return when etcd does") {
  if (!have_etcd()) {
    FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  }
  Lan lan;
  Etcd etcd(lan);
  Netns director;
  lan.attach(director, "203.0.113.1/24");
  std::vector<std::unique_ptr<AgentNode>> nodes;
  constexpr int kNodes = 4;
  for (int i = 0; i < kNodes; ++i) nodes.push_back(make_node(lan, i));
  AgentNode op("{" + fleet_section("") + "}");
  lan.attach(op.ns, "203.0.113.99/24");
  REQUIRE(wait_until([&] { return verdicts(fleet_json(op)).size() == kNodes; }, 20s, 200ms));

  const auto healthz = [&](int i) {
    return director.run("curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://" + node_ip(i) + ":9797/healthz")
        .out;
  };
  etcd.stop();
  // Two TTLs without etcd: every keep-alive has failed by then.
  const auto until = std::chrono::steady_clock::now() + 2 * kTtl;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < kNodes; ++i) {
      CHECK(healthz(i) == "200");
      CHECK(has_addr(nodes[i]->ns.addresses(), vip(i), 32));
    }
  }
  CmdResult raw;
  CHECK(fleet_json(op, &raw).is_null());
  CHECK(raw.code == 1);
  CHECK(raw.out.find("etcd is unreachable") != std::string::npos);

  // etcd back with none of its data (a rebuilt member): each node grants a
  // new lease and publishes again.
  etcd.start(/*wipe=*/true);
  CHECK_MESSAGE(wait_until([&] { return verdicts(fleet_json(op, &raw)).size() == kNodes; }, 20s, 200ms),
                raw.out << "\n" << etcd.log());
  for (int i = 0; i < kNodes; ++i) CHECK(healthz(i) == "200");
}

TEST_CASE("a reload that adds the fleet section starts publishing, and fleet --watch follows a drain") {
  if (!have_etcd()) {
    FAIL("etcd is not installed (tests/install-deps.sh installs etcd-server)");
  }
  Lan lan;
  Etcd etcd(lan);
  AgentNode node(R"({"vips": ["198.51.100.30"], "health": {"listen": ["0.0.0.0:9797"]}})");
  lan.attach(node.ns, node_ip(0) + "/24");
  REQUIRE(node.rsagent("start").code == 0);
  AgentNode op("{" + fleet_section("") + "}");
  lan.attach(op.ns, "203.0.113.99/24");
  CHECK(verdicts(fleet_json(op)).empty());

  node.write_config(R"({"vips": ["198.51.100.30"], "health": {"listen": ["0.0.0.0:9797"]}, )" +
                    fleet_section("late") + "}");
  REQUIRE(node.rsagent("reload").code == 0);
  const std::map<std::string, std::string> ready{{"late", "ready"}};
  CHECK(wait_until([&] { return verdicts(fleet_json(op)) == ready; }, 10s, 200ms));

  // --watch prints a line of JSON at the start and again on each change.
  const std::string out = op.dir() + "/watch.jsonl";
  op.ns.run("sh -c '" + std::string(RSAGENT_BIN) + " --config " + op.config_path() + " fleet --watch --json >" +
            out + " 2>&1 &'");
  const auto last_line = [&] {
    const auto lines = sh("tail -1 " + out).out;
    return verdicts(nlohmann::json::parse(lines, nullptr, false));
  };
  CHECK(wait_until([&] { return last_line() == ready; }, 10s, 100ms));
  REQUIRE(node.rsagent("drain").code == 0);
  const std::map<std::string, std::string> drained{{"late", "drain"}};
  CHECK(wait_until([&] { return last_line() == drained; }, 10s, 100ms));
  op.ns.kill_all_processes();
}
