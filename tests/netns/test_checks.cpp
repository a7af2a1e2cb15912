// Checks, the agent-check port and `rsagent status` against the real binary
// in a namespace: an exec check's deadline is on the process, the agent-check
// port honours health.allow, and status shows the verdict, the operator state
// and each check, and says when it may not read the state.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

void start_node(const AgentNode& n) {
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
}

std::string healthz_state(const Netns& ns) {
  return ns.run("curl -s --max-time 5 http://127.0.0.1:9799/healthz").out;
}

nlohmann::json status_of_endpoint(const Netns& ns) {
  const auto r = ns.run("curl -s --max-time 5 http://127.0.0.1:9799/status");
  return nlohmann::json::parse(r.out, nullptr, false);
}

// A check that passes until `flag` exists, then closes its output and hangs:
// the pipe reaches EOF at once while the process lives on.
void write_hanging_check(const AgentNode& n, const std::string& flag) {
  n.write_file("check.sh", "#!/bin/sh\n[ -e " + flag +
                               " ] || exit 0\nexec >/dev/null 2>&1\nsleep 986\n");
  n.ns.run("chmod +x " + n.dir() + "/check.sh");
}

}  // namespace

TEST_CASE("an exec check that closes its output and hangs fails at its timeout, goes down after "
          "fall, and stop does not wait for it") {
  AgentNode n("{}");
  const std::string flag = n.dir() + "/hang";
  write_hanging_check(n, flag);
  n.write_config(R"({"vips": ["198.51.100.100"], "health": {"checks": [
    {"name": "app", "type": "exec", "command": [")" + n.dir() + R"(/check.sh"],
     "interval": "600ms", "timeout": "500ms", "rise": 1, "fall": 2}]}})");
  start_node(n);
  REQUIRE(wait_until([&] { return healthz_state(n.ns) == "ready\n"; }));
  n.write_file("hang", "");
  CHECK(wait_until([&] { return healthz_state(n.ns) == "down\n"; }, 15s));
  const auto st = status_of_endpoint(n.ns);
  REQUIRE(st.is_object());
  const auto& app = st["checks"][0];
  CHECK(app["state"] == "down");
  CHECK(app["consecutive_fail"].get<int>() >= 2);
  CHECK(app["last"]["ok"] == false);
  CHECK(app["last"]["output"] == "timed out after 500ms (process group killed)");
  CHECK(st["reason"].get<std::string>().find("timed out") != std::string::npos);
  // A probe is hanging (or about to) while we stop: stop cuts it short.
  const auto t0 = std::chrono::steady_clock::now();
  const auto stop = n.rsagent("stop");
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK_MESSAGE(stop.code == 0, stop.out);
  CHECK(took < 5s);
  CHECK(wait_until([] { return sh("pgrep -f 'sleep 98[6]'").code == 1; }, 5s));
}

TEST_CASE("the agent-check port answers sources in health.allow and closes on others without a word") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "health": {"allow": ["203.0.113.0/24"],
                  "agent_check": {"listen": "0.0.0.0:9798"}}})");
  Netns director;
  Netns stranger;
  Lan lan;
  lan.attach(director, "203.0.113.1/24");
  lan.attach(stranger, "198.51.100.77/24");
  lan.attach(n.ns, "203.0.113.11/24");
  n.ns.ip("addr add 198.51.100.11/24 dev eth0");
  start_node(n);
  const auto asked = raw_exchange(director, "203.0.113.11", 9798, "", 3s);
  CHECK(asked.eof);
  CHECK((asked.data == "up ready\n" || asked.data.rfind("down #", 0) == 0));
  const auto refused = raw_exchange(stranger, "198.51.100.11", 9798, "", 3s);
  CHECK(refused.eof);
  CHECK(refused.data.empty());
  // Loopback is a source like any other.
  const auto local = raw_exchange(n.ns, "127.0.0.1", 9798, "", 3s);
  CHECK(local.eof);
  CHECK(local.data.empty());
  n.ns.ip("addr add 203.0.113.12/24 dev eth0");
  const auto metrics = n.ns.run("curl -s --interface 203.0.113.12 http://203.0.113.11:9799/metrics").out;
  CHECK(metrics.find("rsagent_agent_checks_denied_total 2\n") != std::string::npos);
}
