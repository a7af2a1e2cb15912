#include "fake_kernel.hpp"
#include "plan_helpers.hpp"
#include "rsagent/net/engine.hpp"
#include "rsagent/net/plan.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace rsagent;
using namespace rsagent::net;

namespace {

using test::cfg_of;
using test::observe;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

const char* const kThree =
    R"({"vips": ["198.51.100.100", "2001:db8::100", {"address": "198.51.100.101", "label": "lo:web"}]})";

}  // namespace

TEST_CASE("a fresh plan sets ARP first, then addresses, then routes") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const auto want = desired_state(cfg_of(kThree));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(p.errors.empty());
  REQUIRE(p.actions.size() == 10);
  for (int i = 0; i < 4; ++i) CHECK(p.actions[i].kind == Action::Kind::kWriteSysctl);
  for (int i = 4; i < 7; ++i) CHECK(p.actions[i].kind == Action::Kind::kAddAddress);
  for (int i = 7; i < 10; ++i) CHECK(p.actions[i].kind == Action::Kind::kAddRoute);
  CHECK(p.actions[4].address.str() == "198.51.100.100/32 dev lo label lo:0");
  CHECK(p.actions[5].address.str() == "2001:db8::100/128 dev lo nodad");
  CHECK(p.actions[8].route.metric == 1024);
  CHECK(p.journal.entries.size() == 10);
  CHECK(p.warnings.empty());
}

TEST_CASE("applying twice changes nothing: the second plan is empty") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  const auto want = desired_state(cfg_of(kThree));
  const Plan p1 = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(e.apply(p1, {}));
  const auto prior = *js.load();
  REQUIRE(prior);
  const Plan p2 = make_plan(want, observe(k, s, want, *prior), *prior);
  CHECK(p2.errors.empty());
  CHECK(p2.empty());
  CHECK(p2.journal == *prior);
  REQUIRE(e.revert(*prior));
  CHECK_FALSE(*js.load());
}

TEST_CASE("no IPv4 VIP: no ARP sysctl is planned; no VIP: nothing at all") {
  test::FakeKernel k;
  test::FakeSysctls s;
  auto want = desired_state(cfg_of(R"({"vips": ["2001:db8::1"]})"));
  CHECK(want.sysctls.empty());
  CHECK(make_plan(want, observe(k, s, want, {}), {}).actions.size() == 2);
  want = desired_state(cfg_of("{}"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  CHECK(p.actions.empty());
  CHECK(p.journal.empty());
}

TEST_CASE("routes false plans no routes") {
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.1"], "routes": false})"));
  CHECK(want.routes.empty());
  CHECK(want.addresses.size() == 1);
}

TEST_CASE("a VIP already on lo is adopted, not owned, and survives revert") {
  test::FakeKernel k;
  test::FakeSysctls s;
  k.state.addresses.push_back({ip("198.51.100.100"), 32, 1, "lo:0"});
  k.state.routes.push_back({ip("198.51.100.100"), 32, kMainTable, 0, 3 /* boot */, 1});
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.100"]})"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(p.errors.empty());
  CHECK(p.notes.size() == 2);
  for (const auto& a : p.actions) CHECK(a.kind == Action::Kind::kWriteSysctl);
  const Plan r = make_revert_plan(p.journal, observe(k, s, {}, p.journal));
  for (const auto& a : r.actions) CHECK(a.kind == Action::Kind::kWriteSysctl);
}

TEST_CASE("a VIP on a non-loopback interface is refused naming the interface") {
  test::FakeKernel k;
  test::FakeSysctls s;
  k.state.addresses.push_back({ip("198.51.100.100"), 24, 2, "eth0"});
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.100"]})"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].find("198.51.100.100 is already on eth0") == 0);
  CHECK(p.errors[0].find("director") != std::string::npos);
  CHECK(p.actions.empty());
}

TEST_CASE("a main-table route for the VIP via another interface is refused") {
  test::FakeKernel k;
  test::FakeSysctls s;
  k.state.routes.push_back({ip("198.51.100.100"), 32, kMainTable, 0, 4, 2});
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.100"]})"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].find("via eth0") != std::string::npos);
  CHECK(p.actions.empty());
}

TEST_CASE("lo down and a missing ARP interface are refused before any change") {
  test::FakeKernel k;
  test::FakeSysctls s;
  k.state.links[0].up = false;
  const auto want =
      desired_state(cfg_of(R"({"vips": ["198.51.100.1"], "arp": {"interfaces": ["all", "eth9"]}})"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  CHECK(p.errors.size() == 3);  // lo down; eth9 arp_ignore and arp_announce
  CHECK(p.actions.empty());
}

TEST_CASE("a restart after a crash keeps the first originals") {
  test::FakeKernel k;
  test::FakeSysctls s;
  s.at("all", "arp_ignore") = 2;
  s.at("lo", "arp_announce") = 1;
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.1"]})"));
  const Plan first = make_plan(want, observe(k, s, want, {}), {});
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  REQUIRE(e.apply(first, {}));
  // The daemon dies here; a new one plans against the kernel it left behind.
  const Journal prior = **js.load();
  const Plan second = make_plan(want, observe(k, s, want, prior), prior);
  CHECK(second.empty());
  CHECK(second.journal == prior);
  REQUIRE(e.revert(second.journal));
  CHECK(s.at("all", "arp_ignore") == 2);
  CHECK(s.at("lo", "arp_announce") == 1);
  CHECK(s.at("all", "arp_announce") == 0);
  CHECK_FALSE(k.has_address("198.51.100.1"));
}

TEST_CASE("revert leaves a sysctl the admin changed after start, with a warning") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.1"]})"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  REQUIRE(e.apply(p, {}));
  s.at("all", "arp_ignore") = 3;  // the admin
  const Plan r = make_revert_plan(p.journal, observe(k, s, {}, p.journal));
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("net.ipv4.conf.all.arp_ignore is 3") == 0);
  REQUIRE(e.revert(p.journal));
  CHECK(s.at("all", "arp_ignore") == 3);
  CHECK(s.at("all", "arp_announce") == 0);
}

TEST_CASE("a VIP removed from the config is reverted and the others are untouched") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  const auto want1 = desired_state(cfg_of(R"({"vips": ["198.51.100.1", "198.51.100.2"]})"));
  REQUIRE(e.apply(make_plan(want1, observe(k, s, want1, {}), {}), {}));
  const Journal prior = **js.load();
  const auto want2 = desired_state(cfg_of(R"({"vips": ["198.51.100.2"]})"));
  const Plan p = make_plan(want2, observe(k, s, want2, prior), prior);
  REQUIRE(p.actions.size() == 2);
  CHECK(p.actions[0].str() == "delete route 198.51.100.1/32 dev lo proto rsagent");
  CHECK(p.actions[1].str() == "delete address 198.51.100.1/32 dev lo label lo:0");
  REQUIRE(e.apply(p, prior));
  CHECK_FALSE(k.has_address("198.51.100.1"));
  CHECK(k.has_address("198.51.100.2"));
  CHECK(**js.load() == p.journal);
  REQUIRE(e.revert(p.journal));
  CHECK(s.at("all", "arp_ignore") == 0);
}

TEST_CASE("a failed apply rolls back what it did and restores the previous journal") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  k.fail_on = "198.51.100.2/32 dev lo proto";  // the second route
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.1", "198.51.100.2"]})"));
  auto r = e.apply(make_plan(want, observe(k, s, want, {}), {}), {});
  REQUIRE_FALSE(r);
  CHECK(r.error().str().find("apply: add route 198.51.100.2/32") == 0);
  CHECK_FALSE(k.has_address("198.51.100.1"));
  CHECK_FALSE(k.has_route("198.51.100.1"));
  CHECK(s.at("all", "arp_ignore") == 0);
  CHECK(s.at("lo", "arp_announce") == 0);
  CHECK_FALSE(*js.load());
}

TEST_CASE("a revert that cannot undo something keeps just that in the journal") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.1", "198.51.100.2"]})"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(e.apply(p, {}));
  k.fail_on = "198.51.100.2/32 dev lo label";
  CHECK_FALSE(e.revert(p.journal));
  const Journal left = **js.load();
  REQUIRE(left.entries.size() == 1);
  CHECK(std::get<AddressEntry>(left.entries[0]).spec.address == ip("198.51.100.2"));
  k.fail_on.clear();
  REQUIRE(e.revert(left));
  CHECK_FALSE(k.has_address("198.51.100.2"));
  CHECK_FALSE(*js.load());
}

TEST_CASE("the leak check names each up interface where ARP would still leak") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const auto want =
      desired_state(cfg_of(R"({"vips": ["198.51.100.1"], "arp": {"interfaces": ["lo"]}})"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(p.warnings.size() == 2);
  CHECK(p.warnings[0].find("eth0: effective arp_ignore is 0") == 0);
  CHECK(p.warnings[1].find("eth0: effective arp_announce is 0") == 0);
  s.at("eth0", "arp_ignore") = 1;
  s.at("eth0", "arp_announce") = 2;
  CHECK(make_plan(want, observe(k, s, want, {}), {}).warnings.empty());
  s.at("all", "arp_ignore") = 3;  // max(3, 1) = 3 answers for global addresses
  CHECK(make_plan(want, observe(k, s, want, {}), {}).warnings.size() == 1);
}

TEST_CASE("revert never removes loopback's own addresses, whatever the journal says") {
  Journal j;
  j.entries.emplace_back(AddressEntry{AddressSpec{ip("127.0.0.1"), 8, "lo", ""}, true});
  j.entries.emplace_back(AddressEntry{AddressSpec{ip("::1"), 128, "", ""}, true});
  CHECK(make_revert_plan(j, ObservedState{}).actions.empty());
}

TEST_CASE("after_plan predicts exactly what the kernel holds once a plan is applied") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  auto sorted = [](ObservedState st) {
    auto by_str = [](const auto& a, const auto& b) { return a.address.str() < b.address.str(); };
    std::sort(st.addresses.begin(), st.addresses.end(), by_str);
    std::sort(st.routes.begin(), st.routes.end(),
              [](const auto& a, const auto& b) { return a.dst.str() < b.dst.str(); });
    return st;
  };
  auto same = [&](const ObservedState& a, const ObservedState& b) {
    const auto x = sorted(a);
    const auto y = sorted(b);
    CHECK(x.addresses == y.addresses);
    CHECK(x.routes == y.routes);
    CHECK(x.sysctls == y.sysctls);
  };
  // A first start: sysctls, addresses and routes added.
  const auto want = desired_state(cfg_of(kThree));
  const auto before = observe(k, s, want, {});
  const Plan p1 = make_plan(want, before, {});
  REQUIRE(e.apply(p1, {}));
  same(after_plan(before, p1), observe(k, s, want, p1.journal));
  // A reload that drops two VIPs and adds one: deletions too.
  const auto want2 = desired_state(cfg_of(R"({"vips": ["198.51.100.100", "198.51.100.102"]})"));
  const auto before2 = observe(k, s, want2, p1.journal);
  const Plan p2 = make_plan(want2, before2, p1.journal);
  REQUIRE(p2.errors.empty());
  REQUIRE(e.apply(p2, p1.journal));
  same(after_plan(before2, p2), observe(k, s, want2, p2.journal));
  REQUIRE(e.revert(p2.journal));
}

TEST_CASE("revert follows a renamed interface by its index and drops one that is gone") {
  Journal j;
  j.entries.push_back(SysctlEntry{{"all", "arp_ignore"}, 0, 1, 0});
  j.entries.push_back(SysctlEntry{{"eth0", "arp_ignore"}, 0, 1, 3});
  j.entries.push_back(SysctlEntry{{"eth1", "arp_ignore"}, 0, 1, 4});
  j.entries.push_back(SysctlEntry{{"eth2", "arp_ignore"}, 0, 1, 0});  // an old journal: no index
  const std::vector<Link> links{{1, "lo", true, true}, {3, "eth9", true, false}, {7, "eth1", true, false}};
  std::vector<std::string> notes;
  const Journal moved = follow_renamed_interfaces(j, links, notes);
  REQUIRE(moved.entries.size() == 3);
  CHECK(std::get<SysctlEntry>(moved.entries[0]).key.iface == "all");
  CHECK(std::get<SysctlEntry>(moved.entries[1]).key.iface == "eth9");
  CHECK(std::get<SysctlEntry>(moved.entries[2]).key.iface == "eth2");
  REQUIRE(notes.size() == 2);
  CHECK(notes[0] == "interface eth0 is now called eth9: restoring its arp_ignore there");
  CHECK(notes[1].find("interface eth1 (index 4) is gone") != std::string::npos);
}
