// The ARP guard's pure parts: frames built and parsed, leaks and
// responders told apart, the sweep planner's rate limit and jitter, the
// "arp_guard" configuration, and what the Board and /status make of a report.
#include "rsagent/arp_guard/frames.hpp"
#include "rsagent/arp_guard/ledger.hpp"
#include "rsagent/arp_guard/scheduler.hpp"
#include "rsagent/config/config.hpp"
#include "rsagent/verdict/board.hpp"
#include "rsagent/endpoint/report.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace rsagent;
using namespace rsagent::arp_guard;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
const Mac kMac{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
const Mac kOther{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};

std::vector<std::uint8_t> arp(std::uint16_t op, const Mac& sha, const char* spa, const char* tpa) {
  auto f = build_arp_request(sha, ip(spa), ip(tpa));
  f[21] = static_cast<std::uint8_t>(op);
  return f;
}

// A neighbour advertisement as Linux sends one: target option, hop limit 255.
std::vector<std::uint8_t> na(const Mac& from, const char* src, const char* target) {
  auto f = build_neighbor_solicit(from, ip(src), ip(target));
  f[14 + 40] = 136;  // NA
  f[14 + 40 + 24] = 2;  // target link-layer address option
  return f;
}

config::LoadResult one(const std::string& text) {
  return config::parse_sources({config::Source{"rsagent.json", text}});
}

}  // namespace

TEST_CASE("an ARP probe asks who has the VIP from the interface's own address, broadcast") {
  const auto f = build_arp_request(kMac, ip("203.0.113.11"), ip("198.51.100.100"));
  REQUIRE(f.size() == 42);
  CHECK(std::vector<std::uint8_t>(f.begin(), f.begin() + 6) == std::vector<std::uint8_t>(6, 0xff));
  const auto p = parse_frame(f);
  REQUIRE(p);
  CHECK(p->kind == FrameKind::kArpRequest);
  CHECK(p->sender_ip == ip("203.0.113.11"));
  CHECK(p->target_ip == ip("198.51.100.100"));
  CHECK(p->sender_mac == kMac);
  CHECK_FALSE(classify_outgoing(*p, {ip("198.51.100.100")}));
}

TEST_CASE("a neighbour solicitation goes to the solicited-node group, hop limit 255, checksum right") {
  const auto f = build_neighbor_solicit(kMac, ip("fe80::1"), ip("2001:db8::100"));
  REQUIRE(f.size() == 14 + 40 + 32);
  const std::vector<std::uint8_t> dst_mac{0x33, 0x33, 0xff, 0x00, 0x01, 0x00};
  CHECK(std::vector<std::uint8_t>(f.begin(), f.begin() + 6) == dst_mac);
  CHECK(f[14 + 7] == 255);
  IpAddress group = ip("ff02::1:ff00:100");
  CHECK(std::equal(group.bytes.begin(), group.bytes.end(), f.begin() + 14 + 24));
  // Summing the message with its checksum in place gives 0xffff (RFC 1071).
  const std::span<const std::uint8_t> icmp(f.data() + 54, 32);
  const std::uint16_t stored = static_cast<std::uint16_t>((icmp[2] << 8) | icmp[3]);
  CHECK(stored == icmpv6_checksum(ip("fe80::1"), group, icmp));
  CHECK(stored != 0);
  const auto p = parse_frame(f);
  REQUIRE(p);
  CHECK(p->kind == FrameKind::kNeighborSolicit);
  CHECK(p->target_ip == ip("2001:db8::100"));
  CHECK(p->sender_mac == kMac);
}

TEST_CASE("the ICMPv6 checksum matches a known neighbour solicitation") {
  // From a capture: NS from fe80::200:ff:fe00:1 for 2001:db8::100.
  const Mac m{0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
  const auto f = build_neighbor_solicit(m, ip("fe80::200:ff:fe00:1"), ip("2001:db8::100"));
  // Recompute independently: one's complement sum over the pseudo-header and message.
  std::uint32_t sum = 0;
  const auto add16 = [&](std::uint8_t hi, std::uint8_t lo) { sum += static_cast<std::uint32_t>((hi << 8) | lo); };
  for (int i = 0; i < 32; i += 2) add16(f[22 + i], f[23 + i]);  // src and dst
  add16(0, 32);
  add16(0, 58);
  for (int i = 0; i < 32; i += 2) add16(f[54 + i], f[55 + i]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  CHECK(sum == 0xffff);
}

TEST_CASE("an outgoing ARP reply, gratuitous ARP or request with a VIP as sender is a leak") {
  const std::set<IpAddress> vips{ip("198.51.100.100"), ip("2001:db8::100")};
  const auto reply = parse_frame(arp(2, kMac, "198.51.100.100", "203.0.113.1"));
  REQUIRE(reply);
  REQUIRE(classify_outgoing(*reply, vips));
  CHECK(classify_outgoing(*reply, vips)->kind == FrameKind::kArpReply);
  const auto garp = parse_frame(arp(1, kMac, "198.51.100.100", "198.51.100.100"));
  REQUIRE(garp);
  CHECK(classify_outgoing(*garp, vips)->kind == FrameKind::kGratuitousArp);
  CHECK(std::string(kind_name(FrameKind::kGratuitousArp)) == "gratuitous ARP");
  const auto req = parse_frame(arp(1, kMac, "198.51.100.100", "203.0.113.1"));
  REQUIRE(req);
  CHECK(classify_outgoing(*req, vips)->kind == FrameKind::kArpRequest);
  const auto own = parse_frame(arp(2, kMac, "203.0.113.11", "203.0.113.1"));
  REQUIRE(own);
  CHECK_FALSE(classify_outgoing(*own, vips));
  const auto adv = parse_frame(na(kMac, "2001:db8::100", "2001:db8::100"));
  REQUIRE(adv);
  CHECK(adv->kind == FrameKind::kNeighborAdvert);
  CHECK(classify_outgoing(*adv, vips)->vip == ip("2001:db8::100"));
  const auto adv_own = parse_frame(na(kMac, "fe80::1", "2001:db8:1::11"));
  REQUIRE(adv_own);
  CHECK_FALSE(classify_outgoing(*adv_own, vips));
}

TEST_CASE("any address of a route-mode range sent as an ARP sender is a leak; one outside is not") {
  VipSet vips{ip("198.51.100.100")};
  vips.add_range(ip("198.51.100.112"), 28);
  vips.add_range(ip("2001:db8:1::"), 64);
  const auto inside = parse_frame(arp(2, kMac, "198.51.100.120", "203.0.113.1"));
  REQUIRE(inside);
  REQUIRE(classify_outgoing(*inside, vips));
  CHECK(classify_outgoing(*inside, vips)->vip == ip("198.51.100.120"));
  const auto outside = parse_frame(arp(2, kMac, "198.51.100.128", "203.0.113.1"));
  REQUIRE(outside);
  CHECK_FALSE(classify_outgoing(*outside, vips));
  const auto adv = parse_frame(na(kMac, "2001:db8:1::77", "2001:db8:1::77"));
  REQUIRE(adv);
  CHECK(classify_outgoing(*adv, vips));
  CHECK(vips.count(ip("2001:db8:2::1")) == 0);
  CHECK(vips.count(ip("198.51.100.100")) == 1);
}

TEST_CASE("a responder is the MAC of an ARP reply from the VIP or of an NA for it") {
  const auto reply = parse_frame(arp(2, kOther, "198.51.100.100", "203.0.113.11"));
  REQUIRE(reply);
  CHECK(responder_of(*reply, ip("198.51.100.100")) == kOther);
  CHECK_FALSE(responder_of(*reply, ip("198.51.100.101")));
  const auto request = parse_frame(arp(1, kOther, "203.0.113.1", "198.51.100.100"));
  REQUIRE(request);
  CHECK_FALSE(responder_of(*request, ip("198.51.100.100")));
  auto f = na(kOther, "2001:db8::100", "2001:db8::100");
  // The target option names the MAC even when the Ethernet source differs.
  f[6] = 0x0a;
  const auto adv = parse_frame(f);
  REQUIRE(adv);
  CHECK(responder_of(*adv, ip("2001:db8::100")) == kOther);
}

TEST_CASE("truncated, foreign and malformed frames are refused, never read past their end") {
  const auto good = arp(2, kMac, "198.51.100.100", "203.0.113.1");
  for (std::size_t n = 0; n < good.size(); ++n)
    CHECK_FALSE(parse_frame(std::span<const std::uint8_t>(good.data(), n)));
  auto v6 = na(kMac, "fe80::1", "2001:db8::100");
  for (std::size_t n = 0; n < v6.size(); ++n)
    CHECK_FALSE(parse_frame(std::span<const std::uint8_t>(v6.data(), n)));
  auto hop = v6;
  hop[14 + 7] = 64;  // forwarded ND is not ND
  CHECK_FALSE(parse_frame(hop));
  auto zero_opt = v6;
  zero_opt[14 + 40 + 25] = 0;  // option length 0 (RFC 4861: discard)
  CHECK_FALSE(parse_frame(zero_opt));
  auto long_opt = v6;
  long_opt[14 + 40 + 25] = 9;  // runs past the message
  CHECK_FALSE(parse_frame(long_opt));
  auto ipv4_frame = good;
  ipv4_frame[12] = 0x08;
  ipv4_frame[13] = 0x00;
  CHECK_FALSE(parse_frame(ipv4_frame));
  auto ieee802 = good;
  ieee802[15] = 3;  // hardware length 3: not Ethernet ARP
  CHECK_FALSE(parse_frame(ieee802));
  // One VLAN tag is skipped.
  std::vector<std::uint8_t> tagged(good.begin(), good.begin() + 12);
  for (std::uint8_t b : {0x81, 0x00, 0x00, 0x0a}) tagged.push_back(b);
  tagged.insert(tagged.end(), good.begin() + 12, good.end());
  const auto t = parse_frame(tagged);
  REQUIRE(t);
  CHECK(t->sender_ip == ip("198.51.100.100"));
}

TEST_CASE("a sweep never probes faster than probes_per_second and repeats after the interval") {
  using namespace std::chrono;
  Scheduler s({seconds(60), 5, milliseconds(0)}, 42);
  const Scheduler::TimePoint t0{};
  s.start(t0, 1000);
  std::vector<Scheduler::TimePoint> sent;
  // Step a fake clock by 10 ms for 500 s.
  for (auto t = t0; t < t0 + seconds(500); t += milliseconds(10))
    while (auto i = s.poll(t)) sent.push_back(t);
  REQUIRE(sent.size() >= 2000);
  for (std::size_t i = 1; i < sent.size(); ++i) CHECK(sent[i] - sent[i - 1] >= milliseconds(200));
  // 1000 VIPs at 5/s: the first sweep takes about 200 s.
  CHECK(sent[999] - sent[0] >= seconds(199));
  CHECK(sent[999] - sent[0] <= seconds(201));
}

TEST_CASE("small sweeps start an interval apart, moved by at most 10% jitter, not all in step") {
  using namespace std::chrono;
  std::map<std::uint64_t, std::vector<Scheduler::TimePoint>> starts;
  for (std::uint64_t seed : {1, 2, 3}) {
    Scheduler s({seconds(60), 5, milliseconds(1000)}, seed);
    const Scheduler::TimePoint t0{};
    s.start(t0, 3);
    Scheduler::TimePoint last{};
    for (auto t = t0; t < t0 + seconds(600); t += milliseconds(50))
      while (auto i = s.poll(t))
        if (*i == 0) starts[seed].push_back(t);
    (void)last;
    REQUIRE(starts[seed].size() >= 9);
    CHECK(starts[seed][0] - t0 <= seconds(1));
    for (std::size_t i = 1; i < starts[seed].size(); ++i) {
      CHECK(starts[seed][i] - starts[seed][i - 1] >= seconds(54) - milliseconds(50));
      CHECK(starts[seed][i] - starts[seed][i - 1] <= seconds(66) + milliseconds(100));
    }
  }
  CHECK(starts[1] != starts[2]);
}

TEST_CASE("VIPs removed mid-sweep end the sweep early; none makes the planner return an index out of range") {
  using namespace std::chrono;
  Scheduler s({seconds(1), 1000, milliseconds(0)}, 7);
  const Scheduler::TimePoint t0{};
  s.start(t0, 10);
  for (int k = 0; k < 5; ++k) CHECK(s.poll(t0 + milliseconds(k)).has_value());
  s.set_count(3);
  for (auto t = t0 + milliseconds(5); t < t0 + seconds(5); t += milliseconds(1))
    if (auto i = s.poll(t)) CHECK(*i < 3);
  s.set_count(0);
  for (auto t = t0 + seconds(5); t < t0 + seconds(10); t += milliseconds(1)) CHECK_FALSE(s.poll(t));
}

TEST_CASE("arp_guard: defaults, every setting, and errors with file, line and column") {
  const auto d = one(R"({"vips": ["198.51.100.1"]})");
  REQUIRE(d.config);
  CHECK(d.config->arp_guard == config::ArpGuard{});
  CHECK(d.config->arp_guard.probe);
  CHECK(d.config->arp_guard.interval == std::chrono::seconds(60));
  CHECK(d.config->arp_guard.probes_per_second == 5);
  CHECK(d.config->arp_guard.window == std::chrono::seconds(1));
  CHECK(d.config->arp_guard.on_leak == config::ArpGuard::OnLeak::kWarn);
  const auto all = one(R"({"arp_guard": {"probe": false, "interval": "1s", "probes_per_second": 50,
                                          "window": "200ms", "on_leak": "not-ready"}})");
  REQUIRE(all.config);
  CHECK_FALSE(all.config->arp_guard.probe);
  CHECK(all.config->arp_guard.interval == std::chrono::seconds(1));
  CHECK(all.config->arp_guard.probes_per_second == 50);
  CHECK(all.config->arp_guard.window == std::chrono::milliseconds(200));
  CHECK(all.config->arp_guard.on_leak == config::ArpGuard::OnLeak::kNotReady);
  const auto bad = one("{\"arp_guard\": {\"probe\": 1, \"interval\": \"500ms\",\n"
                       " \"probes_per_second\": 0, \"window\": \"1m\", \"on_leak\": \"drain\", \"probes\": 1}}");
  CHECK_FALSE(bad.config);
  REQUIRE(bad.errors.size() == 6);
  CHECK(bad.errors[0].str().rfind("rsagent.json:1:", 0) == 0);
  CHECK(bad.errors[0].message.find("arp_guard.probe") != std::string::npos);
  CHECK(bad.errors[2].pos.line == 2);
  CHECK(one(R"({"arp_guard": true})").errors.size() == 1);
}

TEST_CASE("check-config --print shows arp_guard, and reads back as the same configuration") {
  const auto r = one(R"({"arp_guard": {"interval": "2m", "on_leak": "not-ready"}})");
  REQUIRE(r.config);
  const std::string text = config::render(*r.config);
  CHECK(text.find("\"arp_guard\": {") != std::string::npos);
  CHECK(text.find("\"interval\": \"2m\",  // rsagent.json:1:") != std::string::npos);
  CHECK(text.find("\"probes_per_second\": 5,  // default") != std::string::npos);
  CHECK(text.find("\"on_leak\": \"not-ready\"  // rsagent.json:1:") != std::string::npos);
  const auto back = one(text);
  REQUIRE(back.config);
  CHECK(back.config->arp_guard == r.config->arp_guard);
}

TEST_CASE("a leak with on_leak not-ready makes a ready or drained node down; maintenance wins") {
  verdict::Board board({}, "/nonexistent/maintenance");
  verdict::NetHealth net;
  net.known = true;
  net.ok = true;
  board.set_net(net, {});
  REQUIRE(board.snapshot()->verdict.ready());
  verdict::ArpGuardView v;
  v.enabled = true;
  v.not_ready = "this node sent a gratuitous ARP for VIP 198.51.100.100 on eth0 (arping -U?)";
  board.set_arp_guard(v);
  CHECK(board.snapshot()->verdict.mode == verdict::Mode::kDown);
  CHECK(board.snapshot()->verdict.reason == v.not_ready);
  board.set_operator({verdict::Admin::kDrain, "x", 0});
  CHECK(board.snapshot()->verdict.mode == verdict::Mode::kDown);
  board.set_maintenance_file(true);
  CHECK(board.snapshot()->verdict.mode == verdict::Mode::kMaint);
  board.set_maintenance_file(false);
  board.set_operator({});
  v.not_ready.clear();
  board.set_arp_guard(v);
  CHECK(board.snapshot()->verdict.ready());
}

TEST_CASE("/status and /metrics show leaks and responders per VIP and interface") {
  verdict::Board board({}, "/nonexistent/maintenance");
  verdict::ArpGuardView v;
  v.enabled = true;
  v.probing = true;
  v.leaks.push_back({"198.51.100.100", "eth0", "gratuitous ARP", 3, 1700000000});
  v.segments.push_back({"198.51.100.100", "eth0",
                        {{"02:00:5e:10:00:01", "203.0.113.1", 1700000000, 1700000100},
                         {"02:00:5e:10:00:02", "", 1700000050, 1700000100}},
                        1700000100});
  board.set_arp_guard(v);
  const auto snap = board.snapshot();
  const auto st = endpoint::status_json(*snap, board);
  REQUIRE(st.contains("arp_guard"));
  CHECK(st["arp_guard"]["leaks"][0]["count"] == 3);
  CHECK(st["arp_guard"]["segments"][0]["flux"] == true);
  CHECK(st["arp_guard"]["segments"][0]["responders"][0]["ip"] == "203.0.113.1");
  CHECK(st["arp_guard"]["segments"][0]["responders"][1]["ip"].is_null());
  const std::string m = endpoint::metrics_text(*snap, board);
  CHECK(m.find("rsagent_arp_leaks_total{vip=\"198.51.100.100\",interface=\"eth0\"} 3\n") != std::string::npos);
  CHECK(m.find("rsagent_arp_responders{vip=\"198.51.100.100\",interface=\"eth0\"} 2\n") != std::string::npos);
  verdict::ArpGuardView off;
  off.off_reason = "cannot open a packet socket: Operation not permitted";
  board.set_arp_guard(off);
  const auto st2 = endpoint::status_json(*board.snapshot(), board);
  CHECK(st2["arp_guard"]["enabled"] == false);
  CHECK(st2["arp_guard"]["off_reason"] == off.off_reason);
}

TEST_CASE("the ledger: two MACs answering one probe is flux; a fixed neighbour is gone after the next probe") {
  using namespace std::chrono;
  Ledger ledger(config::ArpGuard{}, [](const std::string&, const Mac& m) {
    return m == kMac ? std::string("203.0.113.1") : std::string();
  });
  ledger.set_vips({ip("198.51.100.100")});
  const Ledger::TimePoint t0{};
  const auto reply = [](const Mac& m) { return *parse_frame(arp(2, m, "198.51.100.100", "203.0.113.11")); };
  ledger.opened(ip("198.51.100.100"), 2, "eth0", t0 + seconds(1));
  CHECK(ledger.next_deadline() == t0 + seconds(1));
  ledger.frame(2, "eth0", reply(kMac), false, t0, 1000);
  ledger.frame(2, "eth0", reply(kOther), false, t0, 1000);
  ledger.frame(3, "eth1", reply(kOther), false, t0, 1000);  // another interface: not this window's
  // The other host said who it is in an ARP request of its own.
  ledger.frame(2, "eth0", *parse_frame(arp(1, kOther, "203.0.113.13", "203.0.113.11")), false, t0, 1000);
  ledger.close_windows(t0 + milliseconds(500), 1000);
  verdict::ArpGuardView v;
  ledger.fill(v);
  CHECK(v.segments.empty());  // the window is still open
  ledger.close_windows(t0 + seconds(1), 1001);
  v = {};
  ledger.fill(v);
  REQUIRE(v.segments.size() == 1);
  REQUIRE(v.segments[0].responders.size() == 2);
  CHECK(v.segments[0].responders[0].mac == mac_str(kMac));
  CHECK(v.segments[0].responders[0].ip == "203.0.113.1");   // from the neighbour table
  CHECK(v.segments[0].responders[1].ip == "203.0.113.13");  // learnt from its ARP
  CHECK(v.segments[0].responders[1].first_seen_unix == 1001);
  // Next probe: only the director answers.
  ledger.opened(ip("198.51.100.100"), 2, "eth0", t0 + seconds(61));
  ledger.frame(2, "eth0", reply(kMac), false, t0 + seconds(60), 1060);
  ledger.close_windows(t0 + seconds(61), 1061);
  v = {};
  ledger.fill(v);
  REQUIRE(v.segments[0].responders.size() == 1);
  CHECK(v.segments[0].responders[0].first_seen_unix == 1001);
  CHECK(v.segments[0].responders[0].last_seen_unix == 1061);
  CHECK_FALSE(ledger.next_deadline());
  // A VIP dropped by a reload, and an interface gone, leave no rows.
  ledger.set_vips({ip("198.51.100.101")});
  v = {};
  ledger.fill(v);
  CHECK(v.segments.empty());
}

TEST_CASE("the ledger: a leak is counted per VIP and interface and, with not-ready, holds for kLeakHold") {
  using namespace std::chrono;
  config::ArpGuard cfg;
  Ledger ledger(cfg);
  ledger.set_vips({ip("198.51.100.100")});
  const Ledger::TimePoint t0{};
  const auto garp = *parse_frame(arp(1, kMac, "198.51.100.100", "198.51.100.100"));
  ledger.frame(2, "eth0", garp, true, t0, 1000);
  ledger.frame(2, "eth0", garp, false, t0, 1000);  // received, not sent: not ours
  CHECK(ledger.not_ready(t0).empty());  // on_leak warn
  cfg.on_leak = config::ArpGuard::OnLeak::kNotReady;
  ledger.set_config(cfg);
  ledger.frame(2, "eth0", garp, true, t0 + seconds(1), 1001);
  CHECK(ledger.not_ready(t0 + seconds(2)) ==
        "this node sent a gratuitous ARP for VIP 198.51.100.100 on eth0 (arping -U?)");
  CHECK(ledger.not_ready_until() == t0 + seconds(1) + kLeakHold);
  CHECK_FALSE(ledger.not_ready(t0 + seconds(1) + kLeakHold - milliseconds(1)).empty());
  CHECK(ledger.not_ready(t0 + seconds(1) + kLeakHold).empty());
  verdict::ArpGuardView v;
  ledger.fill(v);
  REQUIRE(v.leaks.size() == 1);
  CHECK(v.leaks[0].count == 2);
  CHECK(v.leaks[0].interface == "eth0");
  CHECK(v.leaks[0].last_unix == 1001);
}
