// VIP modes: "mode" per VIP, "vip_mode" for the rest, and route-mode ranges.
#include "rsagent/config/config.hpp"

#include <doctest/doctest.h>

using namespace rsagent::config;

namespace {

LoadResult one(const std::string& text) { return parse_sources({Source{"rsagent.json", text}}); }

std::string errors(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.errors) out += d.str() + "\n";
  return out;
}

}  // namespace

TEST_CASE("address mode is the default; mode and vip_mode choose route mode") {
  auto r = one(R"({"vips": ["198.51.100.1", {"address": "198.51.100.16/28", "mode": "route"}]})");
  REQUIRE_MESSAGE(r.config, errors(r));
  CHECK(r.config->vip_mode == VipMode::kAddress);
  CHECK(r.config->vips[0].mode == VipMode::kAddress);
  CHECK(r.config->vips[0].label == "lo:0");
  CHECK(r.config->vips[1].mode == VipMode::kRoute);
  CHECK(r.config->vips[1].prefix == 28);
  CHECK(r.config->vips[1].label.empty());

  r = one(R"({"vip_mode": "route", "vips": ["198.51.100.0/24", "2001:db8:1::/64",
             {"address": "203.0.113.5", "mode": "address"}]})");
  REQUIRE_MESSAGE(r.config, errors(r));
  CHECK(r.config->vips[0].mode == VipMode::kRoute);
  CHECK(r.config->vips[1].mode == VipMode::kRoute);
  CHECK(r.config->vips[1].prefix == 64);
  CHECK(r.config->vips[2].mode == VipMode::kAddress);
  CHECK(r.config->vips[2].label == "lo:0");
}

TEST_CASE("vip_mode from a later file applies to VIPs of every file") {
  const auto r = parse_sources({Source{"main.json", R"({"vips": ["198.51.100.0/24"]})"},
                                Source{"conf.d/10.json", R"({"vip_mode": "route"})"}});
  REQUIRE_MESSAGE(r.config, errors(r));
  CHECK(r.config->vips[0].mode == VipMode::kRoute);
  CHECK(r.config->origins.at("vip_mode").str() == "conf.d/10.json:1:14");
}

TEST_CASE("route-mode ranges: host bits, width and unusable blocks are refused with the fix") {
  const auto r = one(R"({"vip_mode": "route", "vips": [
    "198.51.100.5/24",
    "198.18.0.0/15",
    "2001:db8::/47",
    "169.254.0.0/16",
    "224.1.0.0/16",
    "fe80::/64",
    "::/64",
    "127.0.0.0/16"
  ]})");
  const std::string e = errors(r);
  CHECK_FALSE(r.config);
  CHECK(e.find("rsagent.json:2:5: 198.51.100.5/24 has host bits set; the range it names is written "
               "\"198.51.100.0/24\"") != std::string::npos);
  CHECK(e.find("rsagent.json:3:5: 198.18.0.0/15 is wider than a VIP range may be") != std::string::npos);
  CHECK(e.find("rsagent.json:4:5: 2001:db8::/47 is wider") != std::string::npos);
  CHECK(e.find("rsagent.json:5:5: 169.254.0.0/16 includes 169.254.0.0, which is link-local") !=
        std::string::npos);
  CHECK(e.find("rsagent.json:6:5: 224.1.0.0/16 includes 224.1.0.0, which is multicast") != std::string::npos);
  CHECK(e.find("rsagent.json:7:5: fe80::/64 includes fe80::, which is link-local") != std::string::npos);
  CHECK(e.find("rsagent.json:8:5: ::/64 includes ::, which is the unspecified address") != std::string::npos);
  CHECK(e.find("rsagent.json:9:5: 127.0.0.0/16 includes 127.0.0.0, which is a loopback address") !=
        std::string::npos);
  CHECK(r.errors.size() == 8);
}

TEST_CASE("a range in address mode is still a network, with route mode named as the way") {
  const auto r = one(R"({"vips": ["198.51.100.0/24"]})");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str().find("rsagent.json:1:11: \"198.51.100.0/24\" is a network, not a host address") == 0);
  CHECK(r.errors[0].message.find("\"mode\": \"route\"") != std::string::npos);
}

TEST_CASE("a label on a route-mode VIP is an error at the label") {
  const auto r = one(R"({"vips": [{"address": "198.51.100.1", "mode": "route", "label": "lo:x"}]})");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str().find("rsagent.json:1:65: label on route-mode VIP 198.51.100.1") == 0);
}

TEST_CASE("a bad mode or vip_mode names both choices") {
  const auto r = one(R"({"vip_mode": "local", "vips": [{"address": "198.51.100.1", "mode": 1}]})");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].str().find("rsagent.json:1:14: \"vip_mode\" must be \"address\"") == 0);
  CHECK(r.errors[1].message.find("\"route\" (a local route on lo), found a number") != std::string::npos);
}

TEST_CASE("overlapping VIPs are errors naming both, across modes and files") {
  const auto r = parse_sources(
      {Source{"main.json", R"({"vip_mode": "route", "vips": ["198.51.100.0/24", "2001:db8::/64"]})"},
       Source{"conf.d/a.json", R"({"vips": [{"address": "198.51.100.7", "mode": "address"},
  "198.51.100.16/28", "203.0.113.0/28", "203.0.113.16/28", "2001:db8::5"]})"}});
  const std::string e = errors(r);
  CHECK_FALSE(r.config);
  CHECK(e.find("conf.d/a.json:1:23: VIP 198.51.100.7 overlaps VIP 198.51.100.0/24 (declared at "
               "main.json:1:32)") != std::string::npos);
  CHECK(e.find("conf.d/a.json:2:3: VIP 198.51.100.16/28 overlaps VIP 198.51.100.0/24") != std::string::npos);
  CHECK(e.find("VIP 2001:db8::5 overlaps VIP 2001:db8::/64") != std::string::npos);
  CHECK(e.find("203.0.113") == std::string::npos);  // adjacent ranges do not overlap
  CHECK(r.errors.size() == 3);
}

TEST_CASE("check-config --print shows vip_mode and each VIP's own mode, and reads back the same") {
  const auto r = one(R"({"vip_mode": "route", "vips": ["198.51.100.0/28",
    {"address": "203.0.113.5", "mode": "address", "label": "lo:web"}, {"address": "203.0.113.6", "mode": "address"}]})");
  REQUIRE_MESSAGE(r.config, errors(r));
  const std::string out = render(*r.config);
  CHECK(out.find("\"vip_mode\": \"route\",  // rsagent.json:1:14") != std::string::npos);
  CHECK(out.find("\"198.51.100.0/28\",  // rsagent.json:1:32") != std::string::npos);
  CHECK(out.find(R"({"address": "203.0.113.5", "label": "lo:web", "mode": "address"})") != std::string::npos);
  CHECK(out.find(R"({"address": "203.0.113.6", "mode": "address"})") != std::string::npos);
  const auto again = one(out);
  REQUIRE_MESSAGE(again.config, errors(again));
  CHECK(*again.config == *r.config);
}
