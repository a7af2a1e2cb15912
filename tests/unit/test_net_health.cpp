#include "rsagent/verdict/net_health.hpp"

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::verdict;

namespace {
IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// lo (1) and eth0 (2), the VIP on lo, its host route, and the ARP sysctls
// as rsagent wrote them.
struct World {
  net::Journal journal;
  net::ObservedState have;
  World() {
    have.links = {{1, "lo", true, true}, {2, "eth0", true, false}};
    have.addresses = {{ip("198.51.100.100"), 32, 1, "lo:0"}};
    have.routes = {{ip("198.51.100.100"), 32, net::kMainTable, 0, net::kRouteProtocol, 1}};
    for (const char* iface : {"all", "lo", "eth0"}) {
      have.sysctls[{iface, "arp_ignore"}] = 1;
      have.sysctls[{iface, "arp_announce"}] = 2;
    }
    journal.entries = {
        net::SysctlEntry{{"all", "arp_ignore"}, 0, 1, 0},
        net::AddressEntry{{ip("198.51.100.100"), 32, "lo:0", ""}, true},
        net::RouteEntry{{ip("198.51.100.100"), 32, net::kMainTable, 0}, true},
    };
  }
};
const NetPolicy kArp{true, ""};
}  // namespace

TEST_CASE("the network is healthy when everything the journal holds is in place") {
  World w;
  const auto d = describe_state(w.journal, w.have);
  CHECK(d.drift.empty());
  REQUIRE(d.vips.size() == 1);
  CHECK(d.vips[0].present);
  CHECK(d.vips[0].owned);
  REQUIRE(d.routes.size() == 1);
  CHECK(d.routes[0].present);
  const auto nh = judge_network(d, w.have, kArp, "");
  CHECK(nh.known);
  CHECK(nh.ok);
}

TEST_CASE("a VIP missing from lo is drift and the first reason") {
  World w;
  w.have.addresses.clear();
  const auto d = describe_state(w.journal, w.have);
  REQUIRE(d.drift.size() == 1);
  CHECK(d.drift[0] == "VIP 198.51.100.100 is missing from lo");
  CHECK_FALSE(d.vips[0].present);
  const auto nh = judge_network(d, w.have, kArp, "refused");
  CHECK_FALSE(nh.ok);
  CHECK(nh.reason == d.drift[0]);
}

TEST_CASE("a VIP on another interface than lo does not count as present") {
  World w;
  w.have.addresses[0].ifindex = 2;
  CHECK_FALSE(describe_state(w.journal, w.have).vips[0].present);
}

TEST_CASE("a sysctl changed or gone behind rsagent's back is drift naming the value") {
  World w;
  w.have.sysctls[{"all", "arp_ignore"}] = 0;
  auto d = describe_state(w.journal, w.have);
  REQUIRE(d.drift.size() == 1);
  CHECK(d.drift[0] == "net.ipv4.conf.all.arp_ignore is 0, wanted 1");
  w.have.sysctls.erase({"all", "arp_ignore"});
  d = describe_state(w.journal, w.have);
  CHECK(d.drift.at(0) == "net.ipv4.conf.all.arp_ignore no longer exists");
  CHECK_FALSE(d.sysctls.at(0).exists);
}

TEST_CASE("a refused self-heal keeps the node not ready with its reason") {
  World w;
  const auto nh = judge_network(describe_state(w.journal, w.have), w.have, kArp,
                                "198.51.100.100 is already on eth0");
  CHECK_FALSE(nh.ok);
  CHECK(nh.reason == "198.51.100.100 is already on eth0");
}

TEST_CASE("an interface that would answer ARP for a VIP fails the network only under the policy") {
  World w;
  w.have.sysctls[{"eth0", "arp_ignore"}] = 0;
  w.have.sysctls[{"all", "arp_ignore"}] = 0;
  w.journal.entries.erase(w.journal.entries.begin());  // the admin set "all", not rsagent
  const auto d = describe_state(w.journal, w.have);
  CHECK(d.drift.empty());
  const auto nh = judge_network(d, w.have, kArp, "");
  CHECK_FALSE(nh.ok);
  CHECK(nh.reason.find("eth0") != std::string::npos);
  CHECK(judge_network(d, w.have, NetPolicy{false, ""}, "").ok);
}

TEST_CASE("the ARP policy applies only with \"all\" in arp.interfaces and an IPv4 VIP") {
  config::Config cfg;
  cfg.vips.push_back({ip("2001:db8::1"), "", {}});
  CHECK_FALSE(net_policy(cfg).check_arp_leaks);
  cfg.vips.push_back({ip("198.51.100.1"), "lo:0", {}});
  CHECK(net_policy(cfg).check_arp_leaks);
  cfg.arp.interfaces = {"lo"};
  CHECK_FALSE(net_policy(cfg).check_arp_leaks);
}

TEST_CASE("a route-mode VIP is listed with the VIPs, present while its local route is on lo, and drift when it goes") {
  World w;
  const net::RouteSpec range{ip("198.51.100.16"), 28, net::kLocalTable, net::kLocalRouteMetric,
                             net::RouteType::kLocal};
  w.journal.entries.push_back(net::RouteEntry{range, true});
  w.have.routes.push_back({ip("198.51.100.16"), 28, net::kLocalTable, net::kLocalRouteMetric,
                           net::kRouteProtocol, 1, net::RouteType::kLocal});
  auto d = describe_state(w.journal, w.have);
  CHECK(d.drift.empty());
  REQUIRE(d.vips.size() == 2);
  CHECK(d.vips[1].address == "198.51.100.16");
  CHECK(d.vips[1].prefix == 28);
  CHECK(d.vips[1].mode == "route");
  CHECK(d.vips[1].present);
  // The kernel's local route of an address is not the VIP's.
  w.have.routes.back().protocol = net::kKernelProtocol;
  d = describe_state(w.journal, w.have);
  REQUIRE(d.drift.size() == 1);
  CHECK(d.drift[0] == "VIP 198.51.100.16/28 (route mode) is not local: its local route is missing from the local table");
  const auto nh = judge_network(d, w.have, kArp, "");
  CHECK_FALSE(nh.ok);
  CHECK(nh.reason == d.drift[0]);
  // An adopted local route (another metric and protocol) counts as present.
  w.journal.entries.back() = net::RouteEntry{range, false};
  w.have.routes.back() = {ip("198.51.100.16"), 28, net::kLocalTable, 0, 3, 1, net::RouteType::kLocal};
  CHECK(describe_state(w.journal, w.have).drift.empty());
}

TEST_CASE("an adopted local route is shown as the kernel has it, with its owner's metric and protocol") {
  net::Journal j;
  net::RouteSpec spec{ip("198.51.100.0"), 24, net::kLocalTable, net::kLocalRouteMetric, net::RouteType::kLocal};
  j.entries = {net::RouteEntry{spec, false}};
  net::ObservedState have;
  have.links = {{1, "lo", true, true}};
  have.routes = {{ip("198.51.100.0"), 24, net::kLocalTable, 0, 3, 1, net::RouteType::kLocal}};  // proto boot
  const auto d = describe_state(j, have);
  CHECK(d.drift.empty());
  REQUIRE(d.routes.size() == 1);
  CHECK(d.routes[0].route == "local 198.51.100.0/24 dev lo table local proto boot");
  CHECK_FALSE(d.routes[0].owned);
}

TEST_CASE("a sysctl of a renamed interface is read under its new name, found by its index") {
  World w;
  w.journal.entries.push_back(net::SysctlEntry{{"eth0", "arp_ignore"}, 0, 1, 2});
  w.have.links[1].name = "eth9";
  w.have.sysctls.erase({"eth0", "arp_ignore"});
  w.have.sysctls.erase({"eth0", "arp_announce"});
  w.have.sysctls[{"eth9", "arp_ignore"}] = 1;
  w.have.sysctls[{"eth9", "arp_announce"}] = 2;
  const auto d = describe_state(w.journal, w.have);
  CHECK_MESSAGE(d.drift.empty(), (d.drift.empty() ? std::string() : d.drift.front()));
  CHECK(judge_network(d, w.have, kArp, "").ok);
}
