// The checker census, the flow attribution's pure parts (the kernel filter
// run by a BPF interpreter here, the sender table, the join with the census)
// and the drain violation alarm, with times passed in (a fake clock).
#include "rsagent/attribution/senders.hpp"
#include "rsagent/attribution/syn_filter.hpp"
#include "rsagent/health/census.hpp"
#include "rsagent/health/directors.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::health;

namespace {

PollNote poll(const std::string& source, const std::string& state, std::int64_t at, const std::string& ua = "",
              const std::string& method = "OPTIONS") {
  return {source, method, "/healthz", ua, classify_checker(method, ua), {state, state == "ready" ? 200 : 503, at}};
}

}  // namespace

TEST_CASE("the census names the checker, estimates its interval and keeps the answer it was given last") {
  Census c;
  c.note(poll("203.0.113.1", "ready", 1000), 1000);
  CHECK(c.rows().at(0).interval_ms == 0);
  c.note(poll("203.0.113.1", "ready", 3000), 3000);
  c.note(poll("203.0.113.1", "ready", 5000), 5000);
  // One extra poll (a manual curl from the director) does not move the estimate.
  c.note(poll("203.0.113.1", "ready", 5200), 5200);
  c.note(poll("203.0.113.1", "drain", 7000), 7000);
  const auto rows = c.rows();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].kind == CheckerKind::kHaproxy);
  CHECK(rows[0].count == 5);
  CHECK(rows[0].interval_ms == 2000);
  CHECK(rows[0].last_unix_ms == 7000);
  CHECK(rows[0].last_answer.state == "drain");
  CHECK(rows[0].last_answer.status == 503);
  CHECK(rows[0].last_answer.at_unix_ms == 7000);
}

TEST_CASE("checkers are told apart by what they send") {
  CHECK(classify_checker("GET", "KeepAliveClient") == CheckerKind::kKeepalived);
  CHECK(classify_checker("GET", "libwww-perl/6.68") == CheckerKind::kLdirectord);
  CHECK(classify_checker("GET", "ldirectord/4.0") == CheckerKind::kLdirectord);
  CHECK(classify_checker("OPTIONS", "") == CheckerKind::kHaproxy);
  CHECK(classify_checker("GET", "HAProxy health check") == CheckerKind::kHaproxy);
  CHECK(classify_checker("GET", "curl/8.0") == CheckerKind::kOther);
  CHECK(std::string(checker_kind_name(CheckerKind::kAgentCheck)) == "agent-check");
}

TEST_CASE("the census stays bounded: a new checker past the bound replaces the one silent the longest") {
  Census c;
  for (std::size_t i = 0; i < Census::kMaxRows + 10; ++i)
    c.note(poll("198.51.100." + std::to_string(i), "ready", static_cast<std::int64_t>(i)),
           static_cast<std::int64_t>(i));
  const auto rows = c.rows();
  CHECK(rows.size() == Census::kMaxRows);
  CHECK(c.evicted() == 10);
  for (const auto& r : rows) CHECK(r.source != "198.51.100.0");
}

TEST_CASE("a dual-stack listener's IPv4-mapped peer is counted under its IPv4 address") {
  Census c;
  c.note(poll("::ffff:203.0.113.1", "ready", 1), 1);
  CHECK(c.rows().at(0).source == "203.0.113.1");
}

TEST_CASE("the directors JSON carries the fields drain --wait reads, with no sender and no attribution") {
  Census c;
  c.note(poll("203.0.113.1", "drain", 1000, "KeepAliveClient", "GET"), 1000);
  AttributionView off;
  off.reason = "no CAP_NET_RAW";
  const auto j = directors_json(join_directors(c.rows(), off), off, 1234);
  REQUIRE(j["directors"].size() == 1);
  const auto& d = j["directors"][0];
  CHECK(d["address"] == "203.0.113.1");
  CHECK(d["mac"] == "");
  CHECK(d["polls"]["count"] == 1);
  CHECK(d["polls"]["method"] == "GET");
  CHECK(d["polls"]["path"] == "/healthz");
  CHECK(d["polls"]["kind"] == "keepalived");
  CHECK(d["polls"]["user_agent"] == "KeepAliveClient");
  CHECK(d["polls"]["last_poll_unix_ms"] == 1000);
  CHECK(d["polls"]["interval_ms"] == 0);
  CHECK(d["polls"]["last_answer"]["state"] == "drain");
  CHECK(d["polls"]["last_answer"]["status"] == 503);
  CHECK(d["polls"]["last_answer"]["at_unix_ms"] == 1000);
  CHECK(d["sends"].is_null());
  CHECK(d["violation"].is_null());
  CHECK(j["directors_other"]["syns_total"] == 0);
  CHECK(j["attribution"]["enabled"] == false);
  CHECK(j["attribution"]["reason"] == "no CAP_NET_RAW");
  CHECK(j["now_unix_ms"] == 1234);
}
