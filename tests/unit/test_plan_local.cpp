// Route-mode VIPs: planning local routes against the fake kernel.
#include "fake_kernel.hpp"
#include "plan_helpers.hpp"
#include "temp_dir.hpp"
#include "rsagent/net/engine.hpp"
#include "rsagent/net/plan_phases.hpp"

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::net;

namespace {

using test::cfg_of;
using test::observe;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

RouteSpec local(const char* a, int prefix) {
  return RouteSpec{ip(a), prefix, kLocalTable, kLocalRouteMetric, RouteType::kLocal};
}

bool has_local(const test::FakeKernel& k, const char* a, int prefix) {
  return std::any_of(k.state.routes.begin(), k.state.routes.end(), [&](const ObservedRoute& o) {
    return o.type == RouteType::kLocal && o.dst == ip(a) && o.prefix == prefix && o.table == kLocalTable;
  });
}

struct Rig {
  test::FakeKernel k;
  test::FakeSysctls s;
  test::TempDir dir;
  JournalStore js{dir.file("journal.json")};
  Engine e{k, s, js};
  Journal journal;

  Plan plan(const std::string& cfg) {
    const auto want = desired_state(cfg_of(cfg));
    return make_plan(want, observe(k, s, want, journal), journal);
  }
  Plan apply(const std::string& cfg) {
    Plan p = plan(cfg);
    REQUIRE(p.errors.empty());
    REQUIRE(e.apply(p, journal));
    journal = p.journal;
    return p;
  }
};

const char* const kRange = R"({"vips": [{"address": "198.51.100.16/28", "mode": "route"}]})";

}  // namespace

TEST_CASE("a route-mode VIP is one local route on lo, after ARP, with no address and no main route") {
  Rig r;
  const Plan p = r.apply(kRange);
  REQUIRE(p.actions.size() == 5);
  for (int i = 0; i < 4; ++i) CHECK(p.actions[i].kind == Action::Kind::kWriteSysctl);
  CHECK(p.actions[4].str() == "add route local 198.51.100.16/28 dev lo table local metric 1024 proto rsagent");
  CHECK(has_local(r.k, "198.51.100.16", 28));
  CHECK(r.k.state.addresses.size() == 1);  // 127.0.0.1 only
  CHECK(r.k.state.routes.size() == 1);  // no main-table route, no address's local route
  CHECK(std::get<RouteEntry>(p.journal.entries.back()) == RouteEntry{local("198.51.100.16", 28), true});
  CHECK(r.plan(kRange).empty());  // in place: nothing to do
  REQUIRE(r.e.revert(r.journal));
  CHECK(r.k.state.routes.empty());
  CHECK(r.s.at("all", "arp_ignore") == 0);
}

TEST_CASE("an IPv6 route-mode VIP needs no ARP sysctl") {
  Rig r;
  const Plan p = r.apply(R"({"vip_mode": "route", "vips": ["2001:db8:1::/64"]})");
  REQUIRE(p.actions.size() == 1);
  CHECK(has_local(r.k, "2001:db8:1::", 64));
}

TEST_CASE("a local route deleted behind rsagent's back is planned again and stays owned") {
  Rig r;
  r.apply(kRange);
  r.k.state.routes.clear();
  const Plan p = r.plan(kRange);
  REQUIRE(p.actions.size() == 1);
  CHECK(p.actions[0].kind == Action::Kind::kAddRoute);
  CHECK(std::get<RouteEntry>(p.journal.entries.back()).created);
}

TEST_CASE("a local route for exactly the VIP already on lo is adopted and survives revert") {
  Rig r;
  r.k.state.routes.push_back({ip("198.51.100.16"), 28, kLocalTable, 0, 3 /* boot */, 1, RouteType::kLocal});
  const Plan p = r.apply(kRange);
  for (const auto& a : p.actions) CHECK(a.kind == Action::Kind::kWriteSysctl);
  REQUIRE(p.notes.size() == 1);
  CHECK(p.notes[0].find("adopting the existing local route 198.51.100.16/28 dev lo (proto 3)") == 0);
  CHECK_FALSE(std::get<RouteEntry>(p.journal.entries.back()).created);
  REQUIRE(r.e.revert(r.journal));
  CHECK(has_local(r.k, "198.51.100.16", 28));
}

TEST_CASE("refusals name the VIP and where it was declared, and nothing is planned") {
  Rig r;
  r.k.state.addresses.push_back({ip("198.51.100.20"), 24, 2, "eth0"});
  r.k.state.addresses.push_back({ip("198.51.100.21"), 32, 1, "lo"});
  r.k.state.routes.push_back({ip("198.51.100.0"), 24, kLocalTable, 0, 3, 1, RouteType::kLocal});
  const Plan p = r.plan(kRange);
  REQUIRE(p.errors.size() == 3);
  CHECK(p.errors[0].find("198.51.100.20 is already on eth0, inside route-mode VIP 198.51.100.16/28 "
                         "(declared at t.json:1:23)") == 0);
  CHECK(p.errors[0].find("is this the director?") != std::string::npos);
  CHECK(p.errors[1].find("198.51.100.21/32 is an address on lo that rsagent does not own") == 0);
  CHECK(p.errors[2].find("route-mode VIP 198.51.100.16/28 (declared at t.json:1:23) overlaps the local "
                         "route 198.51.100.0/24 dev lo") == 0);
  CHECK(p.actions.empty());
}

TEST_CASE("a narrower local route inside the range is an overlap too") {
  Rig r;
  r.k.state.routes.push_back({ip("198.51.100.20"), 32, kLocalTable, 0, 3, 1, RouteType::kLocal});
  const Plan p = r.plan(kRange);
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].find("overlaps the local route 198.51.100.20/32 dev lo (proto 3)") != std::string::npos);
}

TEST_CASE("switching a VIP between modes adds the new form before removing the old") {
  Rig r;
  r.apply(R"({"vips": ["198.51.100.5"]})");
  const Plan to_route = r.apply(R"({"vips": [{"address": "198.51.100.5", "mode": "route"}]})");
  REQUIRE(to_route.actions.size() == 3);
  CHECK(to_route.actions[0].str() == "add route local 198.51.100.5/32 dev lo table local metric 1024 proto rsagent");
  CHECK(to_route.actions[1].str() == "delete route 198.51.100.5/32 dev lo proto rsagent");
  CHECK(to_route.actions[2].str() == "delete address 198.51.100.5/32 dev lo label lo:0");
  CHECK_FALSE(r.k.has_address("198.51.100.5"));
  CHECK(has_local(r.k, "198.51.100.5", 32));
  // Back: the address first; rsagent's local route stays until the kernel
  // has made the address local (IPv6 does that after the add returns), and
  // the next plan (the kernel's route event wakes the daemon) removes it.
  const Plan back = r.apply(R"({"vips": ["198.51.100.5"]})");
  REQUIRE(back.actions.size() == 2);
  CHECK(back.actions[0].kind == Action::Kind::kAddAddress);
  CHECK(back.actions[1].kind == Action::Kind::kAddRoute);
  REQUIRE(back.notes.size() == 1);
  CHECK(back.notes[0].find("keeping the local route local 198.51.100.5/32") == 0);
  const Plan after = r.apply(R"({"vips": ["198.51.100.5"]})");
  REQUIRE(after.actions.size() == 1);
  CHECK(after.actions[0].str() == "delete route local 198.51.100.5/32 dev lo table local metric 1024 proto rsagent");
  CHECK(r.k.has_address("198.51.100.5"));
  CHECK_FALSE(std::any_of(r.k.state.routes.begin(), r.k.state.routes.end(), [](const ObservedRoute& o) {
    return o.protocol == kRouteProtocol && o.type == RouteType::kLocal;
  }));
  CHECK(r.plan(R"({"vips": ["198.51.100.5"]})").empty());
  // The ARP sysctls stay: both forms need them.
  for (const auto& a : back.actions) CHECK(a.kind != Action::Kind::kWriteSysctl);
  for (const auto& a : after.actions) CHECK(a.kind != Action::Kind::kWriteSysctl);
}

TEST_CASE("widening a range replaces rsagent's own narrower route without calling it an overlap") {
  Rig r;
  r.apply(kRange);
  const Plan p = r.apply(R"({"vips": [{"address": "198.51.100.0/24", "mode": "route"}]})");
  REQUIRE(p.actions.size() == 2);
  CHECK(p.actions[0].kind == Action::Kind::kAddRoute);
  CHECK(p.actions[1].str() == "delete route local 198.51.100.16/28 dev lo table local metric 1024 proto rsagent");
  CHECK(has_local(r.k, "198.51.100.0", 24));
  CHECK_FALSE(has_local(r.k, "198.51.100.16", 28));
}

TEST_CASE("the fake kernel fails on local routes as the kernel does: EEXIST and ESRCH") {
  test::FakeKernel k;
  KernelOp add;
  add.kind = KernelOp::Kind::kAddRoute;
  add.route = local("198.51.100.0", 24);
  add.ifindex = 1;
  CHECK(k.execute_one(add));
  const auto again = k.execute_one(add);
  REQUIRE_FALSE(again);
  CHECK(again.error().err == EEXIST);
  KernelOp del = add;
  del.kind = KernelOp::Kind::kDelRoute;
  CHECK(k.execute_one(del));
  const auto gone = k.execute_one(del);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().err == ESRCH);
}

TEST_CASE("after_plan predicts the kernel after a switch between modes") {
  Rig r;
  r.apply(R"({"vips": ["198.51.100.5", "198.51.100.6"]})");
  const auto want = desired_state(cfg_of(R"({"vip_mode": "route", "vips": ["198.51.100.5", "198.51.100.6"]})"));
  const auto before = observe(r.k, r.s, want, r.journal);
  const Plan p = make_plan(want, before, r.journal);
  REQUIRE(r.e.apply(p, r.journal));
  const auto predicted = after_plan(before, p);
  const auto actual = observe(r.k, r.s, want, p.journal);
  CHECK(predicted.addresses == actual.addresses);
  CHECK(predicted.routes == actual.routes);
  r.journal = p.journal;
}
