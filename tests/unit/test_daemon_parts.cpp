// The daemon's pure parts: when a netlink burst is due, and what a reload
// may change in place.
#include "rsagent/daemon/event_loop.hpp"
#include "rsagent/daemon/handover.hpp"
#include "rsagent/daemon/network_keeper.hpp"

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::daemon;
using namespace std::chrono_literals;

TEST_CASE("a burst of netlink events is due once it has been quiet for 10 ms") {
  Coalescer c;
  const auto t0 = Coalescer::Clock::time_point{} + 1s;
  CHECK_FALSE(c.due());
  CHECK_FALSE(c.take(t0));
  c.event(t0);
  c.event(t0 + 4ms);
  REQUIRE(c.due());
  CHECK(*c.due() == t0 + 14ms);
  CHECK_FALSE(c.take(t0 + 13ms));
  CHECK(c.take(t0 + 14ms));
  CHECK_FALSE(c.due());  // taken once
  CHECK_FALSE(c.take(t0 + 15ms));
}

TEST_CASE("a burst that never goes quiet is still due 100 ms after its first event") {
  Coalescer c;
  const auto t0 = Coalescer::Clock::time_point{} + 1s;
  int replans = 0;
  // 10,000 events, one every 50 us, for half a second: five re-plans, not 10,000.
  for (int i = 0; i < 10000; ++i) {
    const auto now = t0 + std::chrono::microseconds(50 * i);
    if (c.take(now)) ++replans;
    c.event(now);
  }
  CHECK(replans == 4);
  CHECK(*c.due() <= t0 + 500ms + 10ms);
}

TEST_CASE("a reload keeps the bound listeners and says so, and restarts changed checks") {
  config::Config running;
  config::Config next = running;
  next.health.listen = {*config::parse_endpoint("127.0.0.1:9800")};
  next.health.allow = {*parse_cidr("203.0.113.0/24")};
  config::Check c;
  c.name = "web";
  next.health.checks.push_back(c);
  const auto rp = plan_reload(running, next);
  CHECK(rp.next.health.listen == running.health.listen);
  CHECK(rp.next.health.allow == running.health.allow);
  CHECK(rp.checks_changed);
  CHECK(rp.next.health.checks == next.health.checks);
  CHECK(rp.note.find("next restart") != std::string::npos);
  CHECK(rp.note.find("checks restarted") != std::string::npos);
}

TEST_CASE("a reload that changes only VIPs leaves the checks running") {
  config::Config running;
  config::Config next = running;
  next.vips.push_back({*IpAddress::parse("198.51.100.7"), "lo:0", {}});
  const auto rp = plan_reload(running, next);
  CHECK_FALSE(rp.checks_changed);
  CHECK(rp.note.empty());
  CHECK(rp.next.vips.size() == 1);
}

TEST_CASE("refusals are a list, formatted where they are shown") {
  const std::vector<std::string> r{"198.51.100.1 is already on eth0", "lo is down"};
  CHECK(refusal_text(r, false) ==
        "refusing to change anything:\n  198.51.100.1 is already on eth0\n  lo is down");
  CHECK(refusal_text(r, true) ==
        "refusing to change anything: 198.51.100.1 is already on eth0; lo is down");
}
