#include "rsagent/config/config.hpp"
#include "rsagent/verdict/board.hpp"
#include "rsagent/verdict/state.hpp"

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::verdict;

namespace {
CheckView fresh(int rise, int fall) {
  CheckView v;
  v.name = "web";
  v.rise = rise;
  v.fall = fall;
  return v;
}
const ProbeResult kOk{true, "ok", {}};
const ProbeResult kFail{false, "connection refused", {}};
NetHealth net_ok() { return {true, true, ""}; }

config::LoadResult one(const std::string& text) {
  return config::parse_sources({config::Source{"c.json", text}});
}
}  // namespace

TEST_CASE("a check comes up after rise successes and goes down after fall failures") {
  auto v = fresh(2, 3);
  CHECK_FALSE(v.up);
  v = advance(v, kOk, {});
  CHECK_FALSE(v.up);
  v = advance(v, kOk, {});
  CHECK(v.up);
  v = advance(v, kFail, {});
  v = advance(v, kFail, {});
  CHECK(v.up);
  v = advance(v, kOk, {});  // a success resets the failure streak
  v = advance(v, kFail, {});
  v = advance(v, kFail, {});
  CHECK(v.up);
  v = advance(v, kFail, {});
  CHECK_FALSE(v.up);
  CHECK(v.transitions == 2);
  CHECK(v.failures == 5);
  CHECK(v.probes == 8);
}

TEST_CASE("the verdict ranks maintenance over down over drain over ready") {
  std::vector<CheckView> up{advance(advance(fresh(2, 2), kOk, {}), kOk, {})};
  std::vector<CheckView> down{fresh(2, 2)};
  down[0] = advance(down[0], kFail, {});
  OperatorState ready;
  OperatorState drain{Admin::kDrain, "upgrade", 0};
  OperatorState maint{Admin::kMaint, "", 0};
  CHECK(decide(up, net_ok(), ready, false, "").mode == Mode::kReady);
  CHECK(decide(up, net_ok(), drain, false, "").mode == Mode::kDrain);
  CHECK(decide(down, net_ok(), drain, false, "").mode == Mode::kDown);
  CHECK(decide(down, net_ok(), maint, false, "").mode == Mode::kMaint);
  CHECK(decide(up, net_ok(), ready, true, "/etc/rsagent/maintenance").mode == Mode::kMaint);
  CHECK(decide(up, NetHealth{true, false, "VIP gone"}, ready, false, "").reason == "VIP gone");
  CHECK(decide(up, NetHealth{}, ready, false, "").mode == Mode::kDown);
  const auto v = decide(down, net_ok(), ready, false, "");
  CHECK(v.reason == "check web is down: connection refused");
  CHECK(v.agent_line() == "down #check web is down: connection refused\n");
  CHECK(Verdict{Mode::kReady, ""}.agent_line() == "up ready\n");
  CHECK(Verdict{Mode::kDrain, ""}.agent_line() == "up drain\n");
  CHECK(Verdict{Mode::kMaint, ""}.agent_line() == "maint\n");
}

TEST_CASE("the healthz body depends only on the state, not on the reason") {
  CHECK(Verdict{Mode::kDown, "a"}.body() == Verdict{Mode::kDown, "b"}.body());
  CHECK(Verdict{Mode::kDown, ""}.body() != Verdict{Mode::kReady, ""}.body());
}

TEST_CASE("the board hands out immutable snapshots and recomputes the verdict") {
  config::Check c;
  c.name = "web";
  c.rise = 1;
  Board b({c}, "/nonexistent");
  const auto before = b.snapshot();
  b.set_net(net_ok(), {});
  b.update_check(0, kOk);
  CHECK(before->verdict.mode == Mode::kDown);
  CHECK(b.snapshot()->verdict.mode == Mode::kReady);
  b.set_stopping();
  CHECK(b.snapshot()->verdict.mode == Mode::kDrain);
}

TEST_CASE("health config: defaults, durations and per-type keys") {
  auto r = one(R"({"health": {"checks": [
    {"name": "a", "type": "tcp", "address": "[::1]:80"},
    {"name": "b", "type": "http", "url": "http://127.0.0.1:8080/ping?x=1", "expect": [204], "contains": "pong", "host": "www"},
    {"name": "c", "type": "exec", "command": ["/bin/true"], "interval": "500ms"}]}})");
  REQUIRE_MESSAGE(r.config, (r.errors.empty() ? "" : r.errors[0].str()));
  const auto& h = r.config->health;
  REQUIRE(h.listen.size() == 1);
  CHECK(h.listen[0].str() == "0.0.0.0:9799");
  CHECK(h.checks[0].address.str() == "[::1]:80");
  CHECK(h.checks[0].interval == std::chrono::milliseconds(1000));
  CHECK(h.checks[0].rise == 2);
  CHECK(h.checks[1].address.str() == "127.0.0.1:8080");
  CHECK(h.checks[1].path == "/ping?x=1");
  CHECK(h.checks[1].expect == std::vector<int>{204});
  CHECK(h.checks[2].timeout == std::chrono::milliseconds(500));  // never above the interval
}

TEST_CASE("health config errors are positioned and name the fix") {
  auto r = one(R"({"health": {"checks": [
    {"name": "a", "type": "tcp", "address": "127.0.0.1"},
    {"name": "a", "type": "http", "url": "https://x/"},
    {"name": "b c", "type": "exec", "command": ["check"], "interval": "5 s"},
    {"name": "d", "type": "tcp", "address": "127.0.0.1:1", "url": "http://1.2.3.4/", "timeout": "2s"}],
    "listen": ["0.0.0.0:99999"], "allow": ["10.0.0.0/33"], "agent_check": {"listen": "0.0.0.0:9799"}}})");
  CHECK_FALSE(r.config);
  std::string all;
  for (const auto& d : r.errors) all += d.str() + "\n";
  CAPTURE(all);
  CHECK(all.find("c.json:2:45: address \"127.0.0.1\" is not ADDRESS:PORT") != std::string::npos);
  CHECK(all.find("duplicate check name \"a\"") != std::string::npos);
  CHECK(all.find("must be http://ADDRESS[:PORT]/PATH") != std::string::npos);
  CHECK(all.find("check name \"b c\"") != std::string::npos);
  CHECK(all.find("must be an absolute path") != std::string::npos);
  CHECK(all.find("\"5 s\" is not a duration") != std::string::npos);
  CHECK(all.find("\"url\" is for http checks, not tcp") != std::string::npos);
  CHECK(all.find("must not exceed interval") != std::string::npos);
  CHECK(all.find("health.listen entry \"0.0.0.0:99999\"") != std::string::npos);
  CHECK(all.find("\"10.0.0.0/33\" is not a network") != std::string::npos);
  auto clash = one(R"({"health": {"agent_check": {"listen": "0.0.0.0:9799"}}})");
  REQUIRE(clash.errors.size() == 1);
  CHECK(clash.errors[0].message.find("collides with health.listen 0.0.0.0:9799") != std::string::npos);
}

TEST_CASE("errors are listed in file order, then by line and column") {
  auto r = one("{\"zeta\": 1,\n \"alpha\": 2}");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].pos.line == 1);
  CHECK(r.errors[1].pos.line == 2);
}

TEST_CASE("allow lists match IPv4 clients, also seen as IPv4-mapped IPv6") {
  const auto c = *parse_cidr("198.51.100.0/24");
  CHECK(c.contains(*IpAddress::parse("198.51.100.7")));
  CHECK(c.contains(*IpAddress::parse("::ffff:198.51.100.7")));
  CHECK_FALSE(c.contains(*IpAddress::parse("198.51.101.7")));
  CHECK(parse_cidr("2001:db8::/32")->contains(*IpAddress::parse("2001:db8:1::5")));
}
