// The drain confirmation, driven by hand-made status samples on a fake
// clock: who saw the drain, who still sends, what is left open.
#include "rsagent/cli/commands.hpp"
#include "rsagent/drain/confirm.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

using namespace rsagent;
using namespace rsagent::drain;
using nlohmann::json;

namespace {

constexpr UnixMs kT0 = 1764936000000;  // 12:00:00.0 UTC

Director poller(const std::string& ip, const std::string& mac, UnixMs last, const std::string& state,
                UnixMs answered) {
  Director d;
  d.address = ip;
  d.mac = mac;
  d.polls = Poll{"haproxy", last, 2000, state, answered};
  d.checkers = {*d.polls};
  return d;
}

Director& sending(Director& d, std::uint64_t syns, UnixMs last_syn) {
  d.sends = Sends{syns, last_syn};
  return d;
}

Sample sample(UnixMs now, std::vector<Director> dirs, std::size_t established = 0) {
  Sample s;
  s.now_ms = now;
  s.directors = std::move(dirs);
  s.established = established;
  s.state = "drain";
  return s;
}

// Times in UTC, and confirmed on the first sample where everything holds
// (the settling time has a test of its own).
Settings utc() {
  Settings s;
  s.utc = true;
  s.settle = std::chrono::milliseconds(0);
  return s;
}

bool has(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("a drain is confirmed once both directors polled again and were answered drain") {
  Confirmation c(utc(), kT0);
  auto d1 = poller("203.0.113.1", "aa:bb:cc:dd:ee:01", kT0 - 1500, "ready", kT0 - 1500);
  auto d2 = poller("203.0.113.2", "aa:bb:cc:dd:ee:02", kT0 - 800, "ready", kT0 - 800);
  auto lines = c.observe(sample(kT0 + 100, {d1, d2}));
  CHECK_FALSE(c.confirmed());
  CHECK(lines == std::vector<std::string>{"0 connections to the VIPs open (0 allowed)"});
  auto p = c.pending();
  CHECK(p.size() == 2);
  CHECK(has(p, "203.0.113.1 (aa:bb:cc:dd:ee:01) has not polled (haproxy) since 11:59:58.5, before the drain"));

  d1.polls = Poll{"haproxy", kT0 + 1200, 2000, "drain", kT0 + 1200};
  d1.checkers = {*d1.polls};
  lines = c.observe(sample(kT0 + 1300, {d1, d2}));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "203.0.113.1 (aa:bb:cc:dd:ee:01) saw the drain at 12:00:01.2");
  CHECK_FALSE(c.confirmed());
  CHECK(c.pending() == std::vector<std::string>{
                           "203.0.113.2 (aa:bb:cc:dd:ee:02) has not polled (haproxy) since 11:59:59.2, before the drain"});

  d2.polls = Poll{"haproxy", kT0 + 1250, 2000, "drain", kT0 + 1250};
  d2.checkers = {*d2.polls};
  lines = c.observe(sample(kT0 + 1500, {d1, d2}));
  CHECK(lines == std::vector<std::string>{"203.0.113.2 (aa:bb:cc:dd:ee:02) saw the drain at 12:00:01.2"});
  CHECK(c.confirmed());
  CHECK(c.pending().empty());
  CHECK(c.summary() == "confirmed: 2 directors saw the drain, no new connection for 5 s, 0 connections to the VIPs open");
}

TEST_CASE("an answer given before the drain was set does not count, even a drain answer") {
  Confirmation c(utc(), kT0);
  // Drained already before this wait: the answer predates it.
  auto d1 = poller("203.0.113.1", "aa:bb:cc:dd:ee:01", kT0 - 100, "drain", kT0 - 100);
  (void)c.observe(sample(kT0 + 100, {d1}));
  CHECK_FALSE(c.confirmed());
  d1.polls = Poll{"haproxy", kT0 + 1900, 2000, "drain", kT0 + 1900};
  d1.checkers = {*d1.polls};
  (void)c.observe(sample(kT0 + 2000, {d1}));
  CHECK(c.confirmed());
}

TEST_CASE("a director that polled again but was answered ready has not seen the drain") {
  Confirmation c(utc(), kT0);
  // A poll answered in the instant between the request and the change.
  auto d1 = poller("203.0.113.1", "aa:bb:cc:dd:ee:01", kT0 + 5, "ready", kT0 + 5);
  (void)c.observe(sample(kT0 + 100, {d1}));
  CHECK_FALSE(c.confirmed());
  CHECK(c.pending() == std::vector<std::string>{
                           "203.0.113.1 (aa:bb:cc:dd:ee:01) has not seen the drain: its last poll (haproxy) at "
                           "12:00:00.0 was answered ready"});
}

TEST_CASE("a maint answer and a down answer also take the node out") {
  Settings s = utc();
  s.wanted = "maint";
  Confirmation c(s, kT0);
  auto d1 = poller("203.0.113.1", "", kT0 + 300, "maint", kT0 + 300);
  auto d2 = poller("203.0.113.2", "", kT0 + 400, "down", kT0 + 400);
  auto lines = c.observe(sample(kT0 + 500, {d1, d2}));
  CHECK(has(lines, "203.0.113.1 saw maint at 12:00:00.3"));
  CHECK(has(lines, "203.0.113.2 saw down at 12:00:00.4"));
  CHECK(c.confirmed());
}

TEST_CASE("a director that last polled more than a minute before the drain is not waited for") {
  Confirmation c(utc(), kT0);
  auto gone = poller("203.0.113.3", "aa:bb:cc:dd:ee:03", kT0 - 61000, "ready", kT0 - 61000);
  auto lines = c.observe(sample(kT0 + 100, {gone}));
  CHECK(has(lines, "no director polled in the last 60 s"));
  CHECK(c.confirmed());
}

TEST_CASE("a director that keeps sending new connections after it saw the drain is named until it stops") {
  Confirmation c(utc(), kT0);
  auto d1 = poller("203.0.113.1", "aa:bb:cc:dd:ee:01", kT0 + 500, "drain", kT0 + 500);
  auto d2 = poller("203.0.113.2", "aa:bb:cc:dd:ee:02", kT0 + 600, "drain", kT0 + 600);
  sending(d1, 100, kT0 - 6000);  // its last came before the drain, long enough ago
  sending(d2, 200, kT0 + 700);
  auto lines = c.observe(sample(kT0 + 1000, {d1, d2}));
  CHECK(has(lines, "203.0.113.2 (aa:bb:cc:dd:ee:02) still sends: a new connection at 12:00:00.7"));
  CHECK_FALSE(c.confirmed());
  // One new connection a second, for 6 s.
  for (int i = 1; i <= 6; ++i) {
    sending(d2, 200 + i, kT0 + 1000 + i * 1000 - 50);
    lines = c.observe(sample(kT0 + 1000 + i * 1000, {d1, d2}));
    CHECK_FALSE(c.confirmed());
    // Said again once per quiet period, not every sample.
    if (i == 5) CHECK(has(lines, "203.0.113.2 (aa:bb:cc:dd:ee:02) still sends: 5 new connections in the last 5 s"));
    if (i != 5) CHECK_FALSE(has(lines, "still sends"));
  }
  CHECK(has(c.pending(), "203.0.113.2 (aa:bb:cc:dd:ee:02) still sends: 5 new connections in the last 5 s"));
  // It stops: 5 s after its last SYN the drain is confirmed.
  const UnixMs last = kT0 + 6950;
  lines = c.observe(sample(last + 4000, {d1, d2}));
  CHECK_FALSE(c.confirmed());
  lines = c.observe(sample(last + 5000, {d1, d2}));
  CHECK(lines == std::vector<std::string>{"203.0.113.2 (aa:bb:cc:dd:ee:02) stopped sending: its last new connection came at 12:00:06.9"});
  CHECK(c.confirmed());
}

TEST_CASE("a MAC that sends without polling holds the drain back and is named as not polling") {
  Confirmation c(utc(), kT0);
  Director ghost;
  ghost.mac = "aa:bb:cc:dd:ee:09";
  ghost.address = "203.0.113.9";
  sending(ghost, 3, kT0 + 900);
  auto lines = c.observe(sample(kT0 + 1000, {ghost}));
  CHECK(has(lines, "203.0.113.9 (aa:bb:cc:dd:ee:09) still sends: a new connection at 12:00:00.9 (it does not poll this node)"));
  CHECK_FALSE(c.confirmed());
  (void)c.observe(sample(kT0 + 5900, {ghost}));
  CHECK(c.confirmed());
}

TEST_CASE("new connections from senders beyond the table keep the drain unconfirmed for the quiet period") {
  Settings s = utc();
  s.quiet = std::chrono::milliseconds(2000);
  Confirmation c(s, kT0);
  Sample a = sample(kT0 + 100, {});
  a.other_syns = 10;
  (void)c.observe(a);
  CHECK(c.confirmed());  // nothing new seen yet
  a.now_ms = kT0 + 600;
  a.other_syns = 12;
  (void)c.observe(a);
  CHECK_FALSE(c.confirmed());
  CHECK(has(c.pending(), "senders beyond the daemon's table still send"));
  a.now_ms = kT0 + 2600;
  (void)c.observe(a);
  CHECK(c.confirmed());
}

TEST_CASE("open connections above --connections hold the drain back; N allows N") {
  Settings s = utc();
  s.connections = 2;
  Confirmation c(s, kT0);
  auto lines = c.observe(sample(kT0 + 100, {}, 5));
  CHECK(has(lines, "5 connections to the VIPs still open"));
  CHECK_FALSE(c.confirmed());
  CHECK(has(c.pending(), "5 connections to the VIPs still open (2 allowed; --connections N allows more)"));
  lines = c.observe(sample(kT0 + 300, {}, 4));
  CHECK(lines.empty());  // a moving count is said at most once a second
  lines = c.observe(sample(kT0 + 400, {}, 2));
  CHECK(lines.empty());
  CHECK(c.confirmed());  // confirmed whether said or not
  lines = c.observe(sample(kT0 + 1100, {}, 2));
  CHECK(lines == std::vector<std::string>{"2 connections to the VIPs open (2 allowed)"});
}

TEST_CASE("connections that cannot be counted are never taken for none") {
  Confirmation c(utc(), kT0);
  Sample s = sample(kT0 + 100, {});
  s.established.reset();
  s.established_error = "sock_diag dump: Operation not permitted";
  auto lines = c.observe(s);
  CHECK(has(lines, "cannot be counted: sock_diag dump: Operation not permitted"));
  CHECK_FALSE(c.confirmed());
  CHECK(has(c.pending(), "cannot be counted"));
}

TEST_CASE("a node made ready while waiting ends the wait unconfirmed") {
  Confirmation c(utc(), kT0);
  auto d1 = poller("203.0.113.1", "", kT0 + 500, "drain", kT0 + 500);
  Sample s = sample(kT0 + 600, {d1});
  s.state = "ready";
  auto lines = c.observe(s);
  CHECK(has(lines, "the drain was undone"));
  CHECK(c.undone());
  CHECK_FALSE(c.confirmed());
}

TEST_CASE("without attribution new connections are not waited for, and that is said once") {
  Confirmation c(utc(), kT0);
  Sample s = sample(kT0 + 100, {poller("203.0.113.1", "", kT0 + 50, "drain", kT0 + 50)});
  s.attribution = false;
  s.attribution_reason = "no CAP_NET_RAW";
  auto lines = c.observe(s);
  CHECK(has(lines, "cannot be told apart by director (no CAP_NET_RAW)"));
  CHECK(c.confirmed());
  s.now_ms += 200;
  CHECK_FALSE(has(c.observe(s), "cannot be told apart"));
  CHECK(c.summary().find("new connections not observed") != std::string::npos);
}

TEST_CASE("a director the daemon stops listing is still waited for when it had to see the drain") {
  Confirmation c(utc(), kT0);
  auto d1 = poller("203.0.113.1", "aa:bb:cc:dd:ee:01", kT0 - 1000, "ready", kT0 - 1000);
  (void)c.observe(sample(kT0 + 100, {d1}));
  (void)c.observe(sample(kT0 + 200, {}));
  CHECK_FALSE(c.confirmed());
  CHECK(has(c.pending(), "203.0.113.1 (aa:bb:cc:dd:ee:01) has not polled (haproxy) since"));
}

TEST_CASE("each director's history stays bounded over a long wait") {
  Settings s = utc();
  s.quiet = std::chrono::milliseconds(600000);
  Confirmation c(s, kT0);
  auto d = poller("203.0.113.1", "aa:bb:cc:dd:ee:01", kT0 + 1, "drain", kT0 + 1);
  for (int i = 0; i < 5000; ++i) {
    sending(d, static_cast<std::uint64_t>(i), kT0 + i * 100);
    (void)c.observe(sample(kT0 + i * 100 + 50, {d}));
  }
  // The window reaches back past what is kept: counted from the oldest kept.
  CHECK(has(c.pending(), "still sends: 511 new connections in the last 600 s"));
}

TEST_CASE("the status JSON of the contract reads into a sample") {
  const json j = json::parse(R"({
    "health": {"state": "drain", "reason": "operator"},
    "now_unix_ms": 1764930000999,
    "directors": [
      {"address": "203.0.113.1", "mac": "aa:bb:cc:dd:ee:01",
       "polls": {"count": 12, "method": "GET", "path": "/healthz", "kind": "haproxy", "user_agent": "x",
                 "last_poll_unix_ms": 1764930000123, "interval_ms": 2000,
                 "last_answer": {"state": "drain", "status": 503, "at_unix_ms": 1764930000124}},
       "sends": {"syns_total": 42, "rate_10s": 3.2, "last_syn_unix_ms": 1764930000456, "vips": ["198.51.100.100"]},
       "violation": null},
      {"address": "", "mac": "aa:bb:cc:dd:ee:09", "polls": null,
       "sends": {"syns_total": 1, "rate_10s": 0.1, "last_syn_unix_ms": 1764930000000, "vips": []}, "violation": null}
    ],
    "directors_other": {"syns_total": 7},
    "attribution": {"enabled": true, "reason": ""},
    "vip_connections": {"established": 3}
  })");
  auto s = parse_sample(j);
  REQUIRE(s);
  CHECK(s->now_ms == 1764930000999);
  CHECK(s->state == "drain");
  REQUIRE(s->directors.size() == 2);
  CHECK(s->directors[0].name() == "203.0.113.1 (aa:bb:cc:dd:ee:01)");
  CHECK(s->directors[0].polls->answer_state == "drain");
  CHECK(s->directors[0].polls->answer_at_ms == 1764930000124);
  CHECK(s->directors[0].sends->syns_total == 42);
  CHECK(s->directors[1].name() == "aa:bb:cc:dd:ee:09");
  CHECK_FALSE(s->directors[1].polls);
  CHECK(s->other_syns == 7);
  CHECK(s->attribution);
  CHECK(s->established == 3u);
}

TEST_CASE("a status without the census reads as attribution off; a wrong field is named") {
  auto s = parse_sample(json::parse(R"({"health": {"state": "drain"}, "vip_connections": {"established": 0}})"));
  REQUIRE(s);
  CHECK_FALSE(s->attribution);
  CHECK(s->now_ms > 0);
  auto bad = parse_sample(json::parse(R"({"directors": [{"polls": {"last_poll_unix_ms": "soon"}}]})"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().str().find("status.directors[0].polls.last_poll_unix_ms") != std::string::npos);
  CHECK_FALSE(parse_sample(json::parse(R"({"directors": {}})")));
  auto no_count = parse_sample(json::parse(R"({"directors": []})"));
  REQUIRE(no_count);
  CHECK_FALSE(no_count->established);
  CHECK_FALSE(no_count->attribution);  // a census without "attribution" cannot see new connections
}

TEST_CASE("a director with an HTTP check and an agent-check has seen the drain once both were answered") {
  Confirmation c(utc(), kT0);
  Director d;
  d.address = "203.0.113.1";
  d.checkers = {Poll{"other", kT0 + 300, 200, "drain", kT0 + 300}, Poll{"agent-check", kT0 - 100, 200, "ready", kT0 - 100}};
  d.polls = d.checkers[0];
  CHECK(c.observe(sample(kT0 + 350, {d})).size() == 1);  // only the connections line
  CHECK_FALSE(c.confirmed());
  CHECK(c.pending() == std::vector<std::string>{"203.0.113.1 has not polled (agent-check) since 11:59:59.9, before the drain"});
  d.checkers[1] = Poll{"agent-check", kT0 + 400, 200, "drain", kT0 + 400};
  CHECK(c.observe(sample(kT0 + 450, {d})) == std::vector<std::string>{"203.0.113.1 saw the drain at 12:00:00.4"});
  CHECK(c.confirmed());
  // A checker it ran long before the drain (its last poll 2 minutes old) is not waited for.
  Confirmation c2(utc(), kT0);
  d.checkers[1] = Poll{"agent-check", kT0 - 120000, 200, "ready", kT0 - 120000};
  CHECK(has(c2.observe(sample(kT0 + 450, {d})), "203.0.113.1 saw the drain at 12:00:00.3"));
  CHECK(c2.confirmed());
}

TEST_CASE("a confirmation settles: everything must hold for the settling time, a SYN reported late resets it") {
  Settings s = utc();
  s.settle = std::chrono::milliseconds(1500);
  Confirmation c(s, kT0);
  auto d = poller("203.0.113.1", "", kT0 + 100, "drain", kT0 + 100);
  sending(d, 10, kT0 - 6000);
  (void)c.observe(sample(kT0 + 200, {d}));
  CHECK_FALSE(c.confirmed());
  (void)c.observe(sample(kT0 + 1000, {d}));
  CHECK_FALSE(c.confirmed());
  // A SYN that arrived at +900 is reported only now.
  sending(d, 11, kT0 + 900);
  (void)c.observe(sample(kT0 + 1600, {d}));
  CHECK_FALSE(c.confirmed());
  (void)c.observe(sample(kT0 + 5900, {d}));  // quiet again from here
  CHECK_FALSE(c.confirmed());
  (void)c.observe(sample(kT0 + 7400, {d}));
  CHECK(c.confirmed());
}

TEST_CASE("--timeout and --quiet take the config's duration words") {
  using rsagent::cli::duration_text;
  using rsagent::cli::parse_duration_arg;
  CHECK(parse_duration_arg("500ms") == std::chrono::milliseconds(500));
  CHECK(parse_duration_arg("20s") == std::chrono::milliseconds(20000));
  CHECK(parse_duration_arg("10m") == std::chrono::milliseconds(600000));
  CHECK(parse_duration_arg("1h") == std::chrono::milliseconds(3600000));
  for (const char* bad : {"", "20", "s", "1.5s", "-1s", "20 s", "1000000000s", "5sec"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration_arg(bad));
  }
  CHECK(duration_text(std::chrono::milliseconds(600000)) == "10m");
  CHECK(duration_text(std::chrono::milliseconds(20000)) == "20s");
  CHECK(duration_text(std::chrono::milliseconds(1500)) == "1500ms");
  CHECK(duration_text(std::chrono::milliseconds(0)) == "0s");
}

TEST_CASE("a source that polled only once (a curl of /healthz, not a checker) is not waited for") {
  Confirmation c(utc(), kT0);
  auto once = poller("203.0.113.9", "", kT0 - 5000, "ready", kT0 - 5000);
  once.polls->interval_ms = 0;
  once.checkers = {*once.polls};
  auto lines = c.observe(sample(kT0 + 100, {once}));
  CHECK(c.confirmed());
  CHECK_FALSE(has(lines, "203.0.113.9 has not polled"));
}
