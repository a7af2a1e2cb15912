// Tunnel mode without root: the rp_filter decision table, the tunnel phase
// against hand-built kernels, the config section, the journal's link entry,
// and apply/revert through the engine on the fake kernel (including a
// kernel without ipip, which must refuse and change nothing).
#include "fake_kernel.hpp"
#include "plan_helpers.hpp"
#include "rsagent/config/config.hpp"
#include "rsagent/verdict/net_health.hpp"
#include "rsagent/net/engine.hpp"
#include "rsagent/net/journal.hpp"
#include "rsagent/net/plan_phases.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::net;
using test::cfg_of;
using test::observe;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

const char* kTunnelCfg = R"({"vips": ["198.51.100.1"], "tunnel": {"device": "tunl0"}})";

// The fake kernel with tunl0 present (an operator's own device), down.
void add_tunl0(test::FakeKernel& k, test::FakeSysctls& s, bool up = false) {
  k.state.links.push_back({3, "tunl0", up, false});
  s.at("tunl0", "rp_filter") = 0;
}

void debian_rp_filter(test::FakeSysctls& s) {
  s.at("all", "rp_filter") = 1;  // Debian's default through sysctl.d
  s.at("default", "rp_filter") = 1;
}

}  // namespace

TEST_CASE("rp_filter decision: strict anywhere with an address becomes loose on the device only") {
  CHECK(decide_rp_filter(1, 0, true) == RpFilterDecision{2, std::nullopt});
  CHECK(decide_rp_filter(0, 1, true) == RpFilterDecision{2, std::nullopt});
  CHECK(decide_rp_filter(1, 1, true) == RpFilterDecision{2, std::nullopt});
}

TEST_CASE("rp_filter decision: values that already pass are left alone") {
  CHECK(decide_rp_filter(0, 0, true) == RpFilterDecision{});
  CHECK(decide_rp_filter(0, 0, false) == RpFilterDecision{});
  CHECK(decide_rp_filter(2, 0, true) == RpFilterDecision{});
  CHECK(decide_rp_filter(0, 2, true) == RpFilterDecision{});
}

TEST_CASE("rp_filter decision: without an address only off passes, and all is touched only if it must") {
  CHECK(decide_rp_filter(0, 1, false) == RpFilterDecision{0, std::nullopt});
  CHECK(decide_rp_filter(0, 2, false) == RpFilterDecision{0, std::nullopt});
  CHECK(decide_rp_filter(1, 0, false) == RpFilterDecision{std::nullopt, 0});
  CHECK(decide_rp_filter(2, 2, false) == RpFilterDecision{0, 0});
}

TEST_CASE("rp_filter passes: loose needs an address, strict never passes") {
  CHECK(rp_filter_passes(0, 0, false));
  CHECK_FALSE(rp_filter_passes(1, 0, true));
  CHECK_FALSE(rp_filter_passes(0, 2, false));
  CHECK(rp_filter_passes(0, 2, true));
  CHECK(rp_filter_passes(2, 1, true));  // max(2, 1) is 2
}

TEST_CASE("tunnel config: off by default, on with a section, defaults filled in") {
  CHECK_FALSE(cfg_of(R"({"vips": ["198.51.100.1"]})").tunnel);
  const auto cfg = cfg_of(R"({"tunnel": {}})");
  REQUIRE(cfg.tunnel);
  CHECK(cfg.tunnel->device == "tunl0");
  CHECK(cfg.tunnel->type == "ipip");
  CHECK(cfg.tunnel->device6.empty());
  REQUIRE(cfg.tunnel->address);
  CHECK(cfg.tunnel->address->str() == "127.0.0.42/32");
  CHECK_FALSE(cfg_of(R"({"tunnel": {"address": false}})").tunnel->address);
  CHECK(cfg_of(R"({"tunnel": {"device6": "ip6tnl0"}})").tunnel->device6 == "ip6tnl0");
}

TEST_CASE("tunnel config: every error with FILE:LINE:COL, and no config") {
  const auto r = config::parse_sources({config::Source{"t.json", R"({
  "tunnel": {
    "device": "lo",
    "type": "gre",
    "address": "127.0.0.42/24",
    "mtu": 1400
  }
})"}});
  CHECK_FALSE(r.config);
  REQUIRE(r.errors.size() == 4);
  CHECK(r.errors[0].str().rfind("t.json:3:15: tunnel.device \"lo\" is not a tunnel device name", 0) == 0);
  CHECK(r.errors[1].str().rfind("t.json:4:13: tunnel.type \"gre\" is not supported", 0) == 0);
  CHECK(r.errors[2].str().rfind("t.json:5:16: tunnel.address", 0) == 0);
  CHECK(r.errors[3].str().rfind("t.json:6:5:", 0) == 0);
  const auto same = config::parse_sources(
      {config::Source{"t.json", R"({"tunnel": {"device": "tunl0", "device6": "tunl0"}})"}});
  CHECK_FALSE(same.config);
  REQUIRE(same.errors.size() == 1);
  CHECK(same.errors[0].message.find("IPv6 needs its own ip6tnl device") != std::string::npos);
}

TEST_CASE("tunnel config: a drop-in can turn tunnel mode on and set one key") {
  auto r = config::parse_sources({config::Source{"main.json", R"({"vips": ["198.51.100.1"]})"},
                                  config::Source{"conf.d/tun.json", R"({"tunnel": {"address": false}})"}});
  REQUIRE(r.config);
  REQUIRE(r.config->tunnel);
  CHECK(r.config->tunnel->device == "tunl0");
  CHECK_FALSE(r.config->tunnel->address);
}

TEST_CASE("check-config --print shows the tunnel section, or that it is off") {
  CHECK(config::render(cfg_of(R"({"vips": []})")).find("\"tunnel\" is off") != std::string::npos);
  const std::string out = config::render(cfg_of(R"({"tunnel": {"device": "ipip0"}})"));
  CHECK(out.find("\"device\": \"ipip0\"") != std::string::npos);
  CHECK(out.find("\"address\": \"127.0.0.42/32\"") != std::string::npos);
}

TEST_CASE("journal: a link entry and a device address survive a round trip; a bad kind is refused") {
  Journal j;
  j.entries.emplace_back(LinkEntry{LinkSpec{"tunl0", "ipip"}, false, true});
  j.entries.emplace_back(AddressEntry{AddressSpec{ip("127.0.0.42"), 32, "", "tunl0"}, true});
  j.entries.emplace_back(SysctlEntry{{"tunl0", "rp_filter"}, 1, 2, 3});
  auto back = decode_journal(encode_journal(j));
  REQUIRE(back);
  CHECK(*back == j);
  CHECK_FALSE(decode_journal(
      R"({"version": 1, "entries": [{"type": "link", "name": "tunl0", "kind": "gre", "created": true, "raised": false}]})"));
  CHECK_FALSE(decode_journal(
      R"({"version": 1, "entries": [{"type": "link", "name": "a/b", "kind": "ipip", "created": true, "raised": false}]})"));
}

TEST_CASE("tunnel phase: an existing device of any type is adopted and brought up, never created") {
  test::FakeKernel k;
  test::FakeSysctls s;
  debian_rp_filter(s);
  add_tunl0(k, s);
  const auto want = desired_state(cfg_of(kTunnelCfg));
  const TunnelPhase t = plan_tunnel(want, observe(k, s, want, {}), {});
  REQUIRE(t.links.actions.size() == 1);
  CHECK(t.links.actions[0].str() == "set link tunl0 up");
  REQUIRE(t.links.entries.size() == 1);
  CHECK(std::get<LinkEntry>(t.links.entries[0]) == LinkEntry{LinkSpec{"tunl0", "ipip"}, false, true});
  // No IPv4 address on it: rsagent gives it one, and loose rp_filter suffices.
  REQUIRE(t.address.actions.size() == 1);
  CHECK(t.address.actions[0].str() == "add address 127.0.0.42/32 dev tunl0");
  REQUIRE(t.sysctls.size() == 1);
  CHECK(t.sysctls[0] == SysctlSetting{{"tunl0", "rp_filter"}, 2});
}

TEST_CASE("tunnel phase: a device with its own IPv4 address gets none from rsagent") {
  test::FakeKernel k;
  test::FakeSysctls s;
  add_tunl0(k, s, true);
  k.state.addresses.push_back({ip("203.0.113.7"), 32, 3, "tunl0"});
  s.at("tunl0", "rp_filter") = 1;
  const auto want = desired_state(cfg_of(kTunnelCfg));
  const TunnelPhase t = plan_tunnel(want, observe(k, s, want, {}), {});
  CHECK(t.links.actions.empty());
  CHECK(t.address.actions.empty());
  CHECK_FALSE(t.wanted_address);
  REQUIRE(t.sysctls.size() == 1);
  CHECK(t.sysctls[0] == SysctlSetting{{"tunl0", "rp_filter"}, 2});
}

TEST_CASE("tunnel phase: with \"address\": false, rp_filter goes off, on all only because all is strict") {
  test::FakeKernel k;
  test::FakeSysctls s;
  debian_rp_filter(s);
  add_tunl0(k, s, true);
  const auto want = desired_state(cfg_of(R"({"tunnel": {"address": false}})"));
  const TunnelPhase t = plan_tunnel(want, observe(k, s, want, {}), {});
  CHECK(t.address.actions.empty());
  REQUIRE(t.sysctls.size() == 1);
  CHECK(t.sysctls[0] == SysctlSetting{{"all", "rp_filter"}, 0});
}

TEST_CASE("tunnel phase: a missing device is created up, its rp_filter written after it exists") {
  test::FakeKernel k;
  test::FakeSysctls s;
  debian_rp_filter(s);
  const auto want = desired_state(cfg_of(R"({"tunnel": {"device6": "ip6tnl0"}})"));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(p.errors.empty());
  std::vector<std::string> steps;
  for (const auto& a : p.actions) steps.push_back(a.str());
  CHECK(steps == std::vector<std::string>{"add link tunl0 type ipip up", "add link ip6tnl0 type ip6tnl up",
                                          "set net.ipv4.conf.tunl0.rp_filter 1 -> 2",
                                          "add address 127.0.0.42/32 dev tunl0"});
}

TEST_CASE("tunnel apply and revert on the fake kernel: created, loosened, addressed, then all undone") {
  test::FakeKernel k;
  test::FakeSysctls s;
  debian_rp_filter(s);
  // The kernel makes the device's /proc/sys files with the device, from default's.
  k.on_link_added = [&](const LinkSpec& l) { s.at(l.name, "rp_filter") = s.at("default", "rp_filter"); };
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  const auto cfg = cfg_of(kTunnelCfg);
  const auto want = desired_state(cfg);
  const Plan first = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(first.errors.empty());
  REQUIRE(e.apply(first, {}));
  const Link* tunl0 = k.state.links.size() > 2 ? &k.state.links[2] : nullptr;
  REQUIRE(tunl0 != nullptr);
  CHECK(tunl0->name == "tunl0");
  CHECK(tunl0->up);
  CHECK(s.at("tunl0", "rp_filter") == 2);
  CHECK(k.has_address("127.0.0.42"));
  CHECK(k.has_address("198.51.100.1"));

  // Converged: nothing more to do, and health agrees.
  const ObservedState now = observe(k, s, want, first.journal);
  CHECK(make_plan(want, now, first.journal).actions.empty());
  const auto detail = verdict::describe_state(first.journal, now);
  CHECK(detail.drift.empty());
  CHECK(verdict::judge_network(detail, now, verdict::net_policy(cfg), "").ok);

  // Someone deletes the device address: drift, and the next plan puts it back.
  std::erase_if(k.state.addresses, [](const ObservedAddress& o) { return o.address == ip("127.0.0.42"); });
  const ObservedState drifted = observe(k, s, want, first.journal);
  CHECK_FALSE(verdict::describe_state(first.journal, drifted).drift.empty());
  const Plan heal = make_plan(want, drifted, first.journal);
  REQUIRE(heal.actions.size() == 1);
  CHECK(heal.actions[0].str() == "add address 127.0.0.42/32 dev tunl0");
  REQUIRE(e.apply(heal, first.journal));

  REQUIRE(e.revert(heal.journal));
  CHECK(k.state.links.size() == 2);  // the device rsagent made is gone
  CHECK_FALSE(k.has_address("127.0.0.42"));
  CHECK(s.at("all", "rp_filter") == 1);
}

TEST_CASE("a kernel without ipip refuses the start with the module to load and changes nothing") {
  test::FakeKernel k;
  k.link_kinds = {};
  test::FakeSysctls s;
  debian_rp_filter(s);
  const auto before_links = k.state.links;
  const auto before_addrs = k.state.addresses;
  const auto before_sysctls = s.values;
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  const auto want = desired_state(cfg_of(kTunnelCfg));
  const Plan p = make_plan(want, observe(k, s, want, {}), {});
  auto r = e.apply(p, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().str().find("modprobe ipip") != std::string::npos);
  CHECK(r.error().str().find("modules-load.d") != std::string::npos);
  CHECK(k.state.links == before_links);
  CHECK(k.state.addresses == before_addrs);
  CHECK(s.values == before_sysctls);
  auto left = js.load();
  REQUIRE(left);
  CHECK_FALSE(left->has_value());
}

TEST_CASE("removing the tunnel section takes down what rsagent raised and keeps the adopted device") {
  test::FakeKernel k;
  test::FakeSysctls s;
  debian_rp_filter(s);
  add_tunl0(k, s);
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  const auto want = desired_state(cfg_of(kTunnelCfg));
  const Plan first = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(e.apply(first, {}));
  CHECK(k.state.links[2].up);
  const auto off = desired_state(cfg_of(R"({"vips": ["198.51.100.1"]})"));
  const Plan p = make_plan(off, observe(k, s, off, first.journal), first.journal);
  REQUIRE(e.apply(p, first.journal));
  REQUIRE(k.state.links.size() == 3);
  CHECK_FALSE(k.state.links[2].up);
  CHECK(s.at("tunl0", "rp_filter") == 0);
  CHECK_FALSE(k.has_address("127.0.0.42"));
}

TEST_CASE("mss clamp: rsagent's own table replaced whole, healed when gone or changed, deleted on revert") {
  test::FakeKernel k;
  test::FakeSysctls s;
  add_tunl0(k, s, true);
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  const auto want = desired_state(
      cfg_of(R"({"vips": ["198.51.100.100", "2001:db8::100"], "tunnel": {"device": "tunl0", "mss": 1440}})"));
  REQUIRE(want.tunnel->clamp);
  const std::string rules = want.tunnel->clamp->ruleset();
  CHECK(rules.find("ip saddr { 198.51.100.100/32 } tcp flags & (syn | ack) == syn | ack tcp option maxseg size > "
                   "1440 tcp option maxseg size set 1440") != std::string::npos);
  CHECK(rules.find("ip6 saddr { 2001:db8::100/128 }") != std::string::npos);
  CHECK(rules.rfind("table inet rsagent_tunnel {}\ndelete table inet rsagent_tunnel\n", 0) == 0);

  auto obs = [&](const Journal& j) {
    auto o = e.observe(want, j);
    REQUIRE(o);
    return *o;
  };
  const Plan first = make_plan(want, obs({}), {});
  REQUIRE(e.apply(first, {}));
  REQUIRE(k.clamp);
  // As nft lists it: the comment and the statement are what planning looks for.
  k.clamp = "table inet rsagent_tunnel {\n\tcomment \"" + want.tunnel->clamp->tag() +
            "\"\n\tchain clamp {\n\t\tip saddr 198.51.100.100 tcp flags syn,ack / syn,ack tcp option maxseg size > 1440 "
            "tcp option maxseg size set 1440\n\t}\n}\n";
  CHECK(make_plan(want, obs(first.journal), first.journal).actions.empty());
  CHECK(verdict::describe_state(first.journal, obs(first.journal)).drift.empty());

  k.clamp.reset();  // `nft delete table inet rsagent_tunnel`
  CHECK_FALSE(verdict::describe_state(first.journal, obs(first.journal)).drift.empty());
  const Plan heal = make_plan(want, obs(first.journal), first.journal);
  REQUIRE(heal.actions.size() == 1);
  CHECK(heal.actions[0].kind == Action::Kind::kSetClamp);

  // Another VIP list: another tag, so the table is replaced.
  const auto more = desired_state(cfg_of(
      R"({"vips": ["198.51.100.100", "198.51.100.101"], "tunnel": {"device": "tunl0", "mss": 1440}})"));
  CHECK(more.tunnel->clamp->tag() != want.tunnel->clamp->tag());

  REQUIRE(e.apply(heal, first.journal));
  REQUIRE(e.revert(heal.journal));
  CHECK_FALSE(k.clamp);
}

TEST_CASE("tunnel config: mss is 536-65495, and absent means no clamp") {
  CHECK(cfg_of(R"({"tunnel": {"mss": 1440}})").tunnel->mss == 1440);
  CHECK_FALSE(desired_state(cfg_of(R"({"vips": ["198.51.100.1"], "tunnel": {}})")).tunnel->clamp);
  const auto r = config::parse_sources({config::Source{"t.json", R"({"tunnel": {"mss": 100}})"}});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str().rfind("t.json:1:20: tunnel.mss", 0) == 0);
}
