// The director's checkers as operators configure them, against a real
// rsagent: HAProxy's three `option httpchk` forms and its agent-check,
// ldirectord's negotiate request and keepalived's HTTP_GET (genhash), each
// from a director namespace across a bridge. These configurations are the
// README's ready-to-paste table; keep the two in step.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <memory>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

constexpr auto kInter = 500ms;  // the local check's interval; fall 2
const char* const kNode = R"({
  "vips": ["198.51.100.100"],
  "health": {
    "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8080",
                "interval": "500ms", "timeout": "200ms", "rise": 2, "fall": 2}],
    "agent_check": {"listen": "0.0.0.0:9798"}
  }
})";

// A real server running rsagent, a director on the same LAN, and HAProxy
// there with `server_line` under `backend_lines`.
struct Cluster {
  AgentNode node{kNode};
  Netns director;
  Lan lan;
  NsService web{node.ns, "127.0.0.1", 8080};

  std::unique_ptr<Haproxy> haproxy;

  Cluster(const std::string& backend_lines, const std::string& server_options) {
    lan.attach(director, "203.0.113.1/24");
    lan.attach(node.ns, "203.0.113.11/24");
    auto r = node.rsagent("start");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    haproxy = std::make_unique<Haproxy>(director, node.dir(),
                                        "global\n  log stderr local0 notice\n"
                                        "defaults\n  mode http\n  log global\n  timeout connect 1s\n"
                                        "  timeout client 5s\n  timeout server 5s\n"
                                        "frontend stats\n  bind 127.0.0.1:8404\n  stats enable\n  stats uri /stats\n"
                                        "backend web\n" + backend_lines +
                                        "  server rs1 203.0.113.11:80 " + server_options + "\n");
  }

  std::string state() const { return haproxy->state("web", "rs1"); }
  bool up() const { return state() == "UP"; }
  std::string log() const { return haproxy->log(); }
};

// What every form must do: UP when ready; DOWN within fall x inter + 1 s of
// the local service dying; UP again; never UP while drained or in
// maintenance; UP after `rsagent ready`.
void follows_the_verdict(Cluster& c) {
  REQUIRE_MESSAGE(wait_until([&] { return c.up(); }, 10s), c.state() << "\n" << c.log());

  const auto killed = std::chrono::steady_clock::now();
  c.web.stop();
  REQUIRE_MESSAGE(wait_until([&] { return c.state().rfind("DOWN", 0) == 0; }, 10s), c.state());
  const auto took = std::chrono::steady_clock::now() - killed;
  MESSAGE("DOWN " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms after the service died");
  CHECK(took <= 2 * kInter + 1s + 500ms);  // + HAProxy's own 200 ms polling and our sampling

  c.web.start();
  REQUIRE(wait_until([&] { return c.up(); }, 10s));

  for (const char* mode : {"drain", "maint"}) {
    CAPTURE(mode);
    REQUIRE(c.node.rsagent(mode).code == 0);
    CHECK(wait_until([&] { return !c.up() && !c.state().empty(); }, 5s));
    // And it stays out: sample for a few check intervals.
    bool stayed_out = true;
    for (int i = 0; i < 8; ++i) {
      stayed_out = stayed_out && !c.up();
      std::this_thread::sleep_for(100ms);
    }
    CHECK(stayed_out);
    REQUIRE(c.node.rsagent("ready").code == 0);
    CHECK(wait_until([&] { return c.up(); }, 5s));
  }
}

const char* const kServer = "check port 9799 inter 200ms fall 1 rise 1";

}  // namespace

TEST_CASE("HAProxy `option httpchk` (OPTIONS /) follows the verdict") {
  Cluster c("  option httpchk\n", kServer);
  follows_the_verdict(c);
}

TEST_CASE("HAProxy `option httpchk /healthz` (OPTIONS /healthz) follows the verdict") {
  Cluster c("  option httpchk /healthz\n", kServer);
  follows_the_verdict(c);
}

TEST_CASE("HAProxy `option httpchk GET /healthz` with `http-check expect status 200` follows the verdict") {
  Cluster c("  option httpchk GET /healthz\n  http-check expect status 200\n", kServer);
  follows_the_verdict(c);
}

TEST_CASE("HAProxy agent-check follows the verdict and shows drain and maintenance as such") {
  Cluster c("", "check port 9799 inter 200ms fall 1 rise 1 agent-check agent-port 9798 agent-inter 200ms");
  follows_the_verdict(c);
  REQUIRE(c.node.rsagent("drain").code == 0);
  CHECK(wait_until([&] { return c.state().rfind("DRAIN", 0) == 0; }, 5s));
  REQUIRE(c.node.rsagent("maint").code == 0);
  CHECK(wait_until([&] { return c.state().rfind("MAINT", 0) == 0; }, 5s));
  REQUIRE(c.node.rsagent("ready").code == 0);
  CHECK(wait_until([&] { return c.up(); }, 5s));
}

TEST_CASE("ldirectord's negotiate request (GET /, receive \"ready\") and keepalived's genhash see each state") {
  Cluster c("", "");
  const auto get_root = [&] {
    return c.director.run("curl -s --max-time 2 -w ' %{http_code}' http://203.0.113.11:9799/").out;
  };
  const auto digest = [&] { return c.director.run("genhash -s 203.0.113.11 -p 9799 -u /healthz").out; };
  REQUIRE(wait_until([&] { return get_root() == "ready\n 200"; }, 10s));
  const std::string ready = digest();
  CHECK(ready.size() >= 32);  // the MD5 of the body, in hex
  CHECK(digest() == ready);
  REQUIRE(c.node.rsagent("drain").code == 0);
  CHECK(get_root() == "drain\n 503");
  const std::string drained = digest();
  CHECK(drained != ready);
  CHECK(digest() == drained);
  REQUIRE(c.node.rsagent("ready").code == 0);
  CHECK(get_root() == "ready\n 200");
  CHECK(digest() == ready);
}
