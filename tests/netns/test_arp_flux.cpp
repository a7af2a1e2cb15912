// ARP flux, end to end: a client and two real servers on one bridge. Real
// servers holding the VIP on lo answer "who has VIP?" until rsagent tames ARP.
#include "../support/netns.hpp"

#include <doctest/doctest.h>

using namespace rsagent::testing;

TEST_CASE("ARP for the VIP is answered by the real servers before start, by none while running, "
          "and again after stop") {
  const std::string vip = "198.51.100.100";
  const std::string cfg = R"({"vips": ["198.51.100.100"]})";
  Lan lan;
  Netns client;
  AgentNode rs1(cfg);
  AgentNode rs2(cfg);
  lan.attach(client, "203.0.113.10/24");
  lan.attach(rs1.ns, "203.0.113.11/24");
  lan.attach(rs2.ns, "203.0.113.12/24");
  // What a real server looks like with the copied script's VIP but no ARP
  // tuning: the VIP on lo, sysctls at their defaults.
  for (const AgentNode* n : {&rs1, &rs2}) n->ns.ip("addr add " + vip + "/32 dev lo label lo:0");
  std::vector<std::string> both{mac_of(rs1.ns), mac_of(rs2.ns)};
  std::sort(both.begin(), both.end());

  CHECK(arp_responders(client, vip) == both);

  for (const AgentNode* n : {&rs1, &rs2}) {
    auto r = n->rsagent("start");
    REQUIRE_MESSAGE(r.code == 0, r.out);
  }
  CHECK(arp_responders(client, vip).empty());
  // The real servers still answer for their own addresses.
  CHECK(arp_responders(client, "203.0.113.11") == std::vector<std::string>{mac_of(rs1.ns)});

  for (const AgentNode* n : {&rs1, &rs2}) {
    auto r = n->rsagent("stop");
    REQUIRE_MESSAGE(r.code == 0, r.out);
  }
  // The adopted VIP stays (rsagent did not create it); the flux is back.
  CHECK(has_addr(rs1.ns.addresses(), vip, 32, "lo:0"));
  CHECK(arp_responders(client, vip) == both);
}
