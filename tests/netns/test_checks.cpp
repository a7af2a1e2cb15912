// Checks, the agent-check port and `rsagent status` against the real binary
// in a namespace: an exec check's deadline is on the process, the agent-check
// port honours health.allow, status shows the verdict, the operator state
// and each check and says when it may not read the state, and systemd's
// STATUS= follows the verdict.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

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
  n.write_file("check.sh",
               "#!/bin/sh\n[ -e " + flag + " ] || exit 0\nexec >/dev/null 2>&1\nsleep 986\n");
  n.ns.run("chmod +x " + n.dir() + "/check.sh");
}

}  // namespace

TEST_CASE(
    "an exec check that closes its output and hangs fails at its timeout, goes down after "
    "fall, and stop does not wait for it") {
  AgentNode n("{}");
  const std::string flag = n.dir() + "/hang";
  write_hanging_check(n, flag);
  n.write_config(R"({"vips": ["198.51.100.100"], "health": {"checks": [
    {"name": "app", "type": "exec", "command": [")" +
                 n.dir() + R"(/check.sh"],
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

TEST_CASE(
    "the agent-check port answers sources in health.allow and closes on others without a word") {
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
  const auto metrics =
      n.ns.run("curl -s --interface 203.0.113.12 http://203.0.113.11:9799/metrics").out;
  CHECK(metrics.find("rsagent_agent_checks_denied_total 2\n") != std::string::npos);
}

TEST_CASE(
    "status shows the verdict, the operator state and each check, and exits 4 for a user "
    "who cannot read the state") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "health": {"checks": [
    {"name": "good", "type": "exec", "command": ["/bin/sh", "-c", "echo fine"], "interval": "300ms", "rise": 1},
    {"name": "bad", "type": "exec", "command": ["/bin/sh", "-c", "printf 'disk \\377 full'; exit 2"],
     "interval": "300ms", "fall": 1}]}})");
  start_node(n);
  REQUIRE(n.rsagent("drain --reason 'db migration'").code == 0);
  nlohmann::json st;
  REQUIRE(wait_until([&] {
    const auto r = n.rsagent("status --json");
    st = nlohmann::json::parse(r.out, nullptr, false);
    return r.code == 0 && st.is_object() && st["checks"].size() == 2 &&
           st["checks"][0].contains("ok") && st["checks"][1].contains("ok");
  }));
  CHECK(st["running"] == true);
  CHECK(st["health"]["state"] == "down");
  CHECK(st["health"]["reason"] == "check bad is down: exit 2: disk \\xff full");
  CHECK(st["operator"]["state"] == "drain");
  CHECK(st["operator"]["reason"] == "db migration");
  CHECK(st["operator"]["since"].get<std::int64_t>() > 0);
  CHECK(st["checks"][0]["name"] == "good");
  CHECK(st["checks"][0]["state"] == "up");
  CHECK(st["checks"][0]["detail"] == "fine");
  CHECK(st["checks"][1]["state"] == "down");
  CHECK(st["checks"][1]["detail"] == "exit 2: disk \\xff full");
  CHECK(st["vips"].size() == 1);

  const auto text = n.rsagent("status");
  CHECK(text.code == 0);
  CHECK(text.out.find("health: down (check bad is down: exit 2: disk \\xff full)") !=
        std::string::npos);
  CHECK(text.out.find("operator: drain since ") != std::string::npos);
  CHECK(text.out.find("(db migration)") != std::string::npos);
  CHECK(text.out.find("good (exec)  up  fine") != std::string::npos);

  // As in /run/rsagent: the folder is open to all, the lock and journal are 0600.
  n.ns.run("chmod 755 " + n.dir() + " " + n.state_dir());
  for (const std::string args : {"status", "status --json"}) {
    CAPTURE(args);
    const auto denied =
        n.ns.run("setpriv --reuid=65534 --regid=65534 --clear-groups " + std::string(RSAGENT_BIN) +
                 " --config " + n.config_path() + " --state-dir " + n.state_dir() + " " + args);
    CHECK(denied.code == 4);
    CHECK(denied.out.find("cannot read " + n.state_dir() + ": permission denied (run as root)") !=
          std::string::npos);
  }

  REQUIRE(n.rsagent("stop").code == 0);
  const auto after = n.rsagent("status --json");
  CHECK(after.code == 3);
  const auto stopped = nlohmann::json::parse(after.out, nullptr, false);
  CHECK(stopped["health"]["reason"] == "rsagent is not running");
  CHECK(stopped["operator"]["state"] == "drain");  // recorded for the next start
}

TEST_CASE("systemd's STATUS= follows the verdict: drain, then ready again") {
  AgentNode n(R"({"vips": ["198.51.100.100"]})");
  const std::string path = n.dir() + "/notify.sock";
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  timeval tv{0, 100'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<std::string> statuses;  // every STATUS= value, in order
  const auto status_seen = [&](const std::string& want) {
    return wait_until(
        [&] {
          char buf[4096];
          const ssize_t k = ::recv(fd, buf, sizeof buf, 0);
          if (k > 0) {
            const std::string m(buf, static_cast<std::size_t>(k));
            const auto at = m.find("STATUS=");
            if (at != std::string::npos)
              statuses.push_back(m.substr(at + 7, m.find('\n', at) - at - 7));
          }
          return !statuses.empty() && statuses.back() == want;
        },
        10s, 0ms);
  };
  n.run_in_background("NOTIFY_SOCKET=" + path);
  CHECK(status_seen("ready; 1 VIP(s) in place"));
  REQUIRE(n.rsagent("drain --reason 'db migration'").code == 0);
  CHECK(status_seen("drain: operator drained this node: db migration; 1 VIP(s) in place"));
  REQUIRE(n.rsagent("ready").code == 0);
  CHECK(status_seen("ready; 1 VIP(s) in place"));
  INFO("STATUS= seen: " << nlohmann::json(statuses).dump());
  CHECK(n.rsagent("stop").code == 0);
  ::close(fd);
}
