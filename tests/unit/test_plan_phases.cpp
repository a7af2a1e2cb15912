// Each phase of make_plan on its own, against hand-built observed states.
#include "rsagent/net/plan_phases.hpp"

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::net;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

const Link kLo{1, "lo", true, true};

ObservedState two_links() {
  ObservedState st;
  st.links = {kLo, {2, "eth0", true, false}};
  return st;
}

AddressSpec v4(const char* a, const char* label = "lo:0") { return AddressSpec{ip(a), 32, label, ""}; }

}  // namespace

TEST_CASE("sysctl phase: writes only what differs and records every wanted key") {
  ObservedState have = two_links();
  have.sysctls[{"all", "arp_ignore"}] = 0;
  have.sysctls[{"lo", "arp_ignore"}] = 1;
  DesiredState want;
  want.sysctls = {{{"all", "arp_ignore"}, 1}, {{"lo", "arp_ignore"}, 1}};
  const Phase p = plan_sysctls(want, have, {});
  CHECK(p.errors.empty());
  REQUIRE(p.actions.size() == 1);
  CHECK(p.actions[0].str() == "set net.ipv4.conf.all.arp_ignore 0 -> 1");
  REQUIRE(p.entries.size() == 2);
  CHECK(std::get<SysctlEntry>(p.entries[1]) == SysctlEntry{{"lo", "arp_ignore"}, 1, 1, 1});
}

TEST_CASE("sysctl phase: keeps the first original and heals a value someone else wrote") {
  ObservedState have = two_links();
  have.sysctls[{"all", "arp_ignore"}] = 1;
  DesiredState want;
  want.sysctls = {{{"all", "arp_ignore"}, 1}};
  Journal prior;
  prior.entries.push_back(SysctlEntry{{"all", "arp_ignore"}, 3, 1, 0});
  CHECK(std::get<SysctlEntry>(plan_sysctls(want, have, prior).entries[0]).original == 3);
  have.sysctls[{"all", "arp_ignore"}] = 8;  // someone else wrote since: healed, never the original
  const Phase p = plan_sysctls(want, have, prior);
  REQUIRE(p.actions.size() == 1);
  CHECK(p.actions[0].str() == "set net.ipv4.conf.all.arp_ignore 8 -> 1");
  CHECK(std::get<SysctlEntry>(p.entries[0]) == SysctlEntry{{"all", "arp_ignore"}, 3, 1, 0});
}

TEST_CASE("sysctl phase: an interface made again under the same name gets a fresh original") {
  ObservedState have = two_links();  // eth0 is index 2
  have.sysctls[{"eth0", "arp_ignore"}] = 2;
  DesiredState want;
  want.sysctls = {{{"eth0", "arp_ignore"}, 1}};
  Journal prior;
  prior.entries.push_back(SysctlEntry{{"eth0", "arp_ignore"}, 0, 1, 2});
  CHECK(std::get<SysctlEntry>(plan_sysctls(want, have, prior).entries[0]).original == 0);
  // The eth0 rsagent wrote to was index 7: this one is another interface.
  prior.entries[0] = SysctlEntry{{"eth0", "arp_ignore"}, 0, 1, 7};
  CHECK(std::get<SysctlEntry>(plan_sysctls(want, have, prior).entries[0]) ==
        SysctlEntry{{"eth0", "arp_ignore"}, 2, 1, 2});
}

TEST_CASE("sysctl phase: an interface renamed since rsagent wrote it is followed by its index") {
  ObservedState have;
  have.links = {kLo, {2, "eth9", true, false}};  // eth0 renamed: same index
  have.sysctls[{"eth9", "arp_ignore"}] = 0;  // and its value changed meanwhile
  DesiredState want;
  want.sysctls = {{{"eth0", "arp_ignore"}, 1}};
  Journal prior;
  prior.entries.emplace_back(SysctlEntry{{"eth0", "arp_ignore"}, 0, 1, 2});
  const Phase p = plan_sysctls(want, have, prior);
  CHECK(p.errors.empty());
  REQUIRE(p.actions.size() == 1);
  CHECK(p.actions[0].str() == "set net.ipv4.conf.eth9.arp_ignore 0 -> 1");
  // The configured name and the index stay in the journal, with the first original.
  REQUIRE(p.entries.size() == 1);
  CHECK(std::get<SysctlEntry>(p.entries[0]) == SysctlEntry{{"eth0", "arp_ignore"}, 0, 1, 2});
  CHECK(p.notes.size() == 1);
}

TEST_CASE("sysctl phase: an interface without /proc/sys entries is refused") {
  DesiredState want;
  want.sysctls = {{{"eth9", "arp_ignore"}, 1}};
  const Phase p = plan_sysctls(want, two_links(), {});
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].find("\"eth9\"") != std::string::npos);
  CHECK(p.entries.empty());
}

TEST_CASE("address phase: adds the missing, adopts the present, refuses one on a NIC") {
  ObservedState have = two_links();
  have.addresses.push_back({ip("198.51.100.2"), 32, 1, "lo:old"});
  have.addresses.push_back({ip("198.51.100.3"), 24, 2, "eth0"});
  DesiredState want;
  want.addresses = {v4("198.51.100.1"), v4("198.51.100.2"), v4("198.51.100.3")};
  const Phase p = plan_addresses(want, have, {}, kLo);
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].find("198.51.100.3 is already on eth0") == 0);
  REQUIRE(p.notes.size() == 1);
  CHECK(p.notes[0].find("adopting 198.51.100.2 already on lo (label lo:old)") == 0);
  REQUIRE(p.actions.size() == 2);  // .1 and .3 (the refusal stops the whole plan, not the phase)
  CHECK(p.actions[0].str() == "add address 198.51.100.1/32 dev lo label lo:0");
  CHECK(std::get<AddressEntry>(p.entries[1]) == AddressEntry{v4("198.51.100.2"), false});
}

TEST_CASE("address phase: a new label on an address rsagent created is a delete and an add") {
  ObservedState have = two_links();
  have.addresses.push_back({ip("198.51.100.1"), 32, 1, "lo:0"});
  Journal prior;
  prior.entries.push_back(AddressEntry{v4("198.51.100.1"), true});
  DesiredState want;
  want.addresses = {v4("198.51.100.1", "lo:web")};
  const Phase p = plan_addresses(want, have, prior, kLo);
  REQUIRE(p.actions.size() == 2);
  CHECK(p.actions[0].str() == "delete address 198.51.100.1/32 dev lo label lo:0");
  CHECK(p.actions[1].str() == "add address 198.51.100.1/32 dev lo label lo:web");
  CHECK(std::get<AddressEntry>(p.entries[0]).created);
}

TEST_CASE("route phase: adds the missing, adopts one on lo, refuses one elsewhere") {
  ObservedState have = two_links();
  have.routes.push_back({ip("198.51.100.2"), 32, kMainTable, 0, 3, 1});
  have.routes.push_back({ip("198.51.100.3"), 32, kMainTable, 0, 4, 2});
  DesiredState want;
  for (const char* a : {"198.51.100.1", "198.51.100.2", "198.51.100.3"})
    want.routes.push_back(RouteSpec{ip(a), 32, kMainTable, 0});
  const Phase p = plan_routes(want, have, {}, kLo);
  REQUIRE(p.errors.size() == 1);
  CHECK(p.errors[0].find("routes 198.51.100.3/32 via eth0") != std::string::npos);
  REQUIRE(p.actions.size() == 1);
  CHECK(p.actions[0].str() == "add route 198.51.100.1/32 dev lo proto rsagent");
  REQUIRE(p.entries.size() == 2);
  CHECK_FALSE(std::get<RouteEntry>(p.entries[1]).created);
  CHECK(p.notes.size() == 1);
}

TEST_CASE("leaving phase: removes only what rsagent created, routes before addresses") {
  ObservedState have = two_links();
  have.sysctls[{"all", "arp_ignore"}] = 1;
  Journal prior;
  prior.entries.push_back(SysctlEntry{{"all", "arp_ignore"}, 0, 1, 0});
  prior.entries.push_back(AddressEntry{v4("198.51.100.1"), true});
  prior.entries.push_back(AddressEntry{v4("198.51.100.2"), false});
  prior.entries.push_back(RouteEntry{RouteSpec{ip("198.51.100.1"), 32}, true});
  prior.entries.push_back(AddressEntry{AddressSpec{ip("127.0.0.1"), 8, "lo", ""}, true});
  const Phase p = plan_leaving(DesiredState{}, have, prior);
  REQUIRE(p.actions.size() == 3);
  CHECK(p.actions[0].str() == "delete route 198.51.100.1/32 dev lo proto rsagent");
  CHECK(p.actions[1].str() == "delete address 198.51.100.1/32 dev lo label lo:0");
  CHECK(p.actions[2].str() == "set net.ipv4.conf.all.arp_ignore 1 -> 0");
  // In journal order, so the write-ahead record keeps application order.
  REQUIRE(p.leaving.size() == 3);
  CHECK(std::holds_alternative<SysctlEntry>(p.leaving[0]));
  CHECK(std::holds_alternative<RouteEntry>(p.leaving[2]));
}

TEST_CASE("leaving phase: keeps what is still wanted and warns on a sysctl changed since") {
  ObservedState have = two_links();
  have.sysctls[{"all", "arp_ignore"}] = 2;
  Journal prior;
  prior.entries.push_back(SysctlEntry{{"all", "arp_ignore"}, 0, 1, 0});
  prior.entries.push_back(AddressEntry{v4("198.51.100.1"), true});
  DesiredState want;
  want.addresses = {v4("198.51.100.1")};
  const Phase p = plan_leaving(want, have, prior);
  CHECK(p.actions.empty());
  CHECK(p.leaving.empty());
  REQUIRE(p.warnings.size() == 1);
  CHECK(p.warnings[0].find("net.ipv4.conf.all.arp_ignore is 2, not the 1") == 0);
}
