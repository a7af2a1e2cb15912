// The checker census, the flow attribution's pure parts (the kernel filter
// run by a BPF interpreter here, the sender table, the join with the census)
// and the drain violation alarm, with times passed in (a fake clock).
#include "rsagent/attribution/senders.hpp"
#include "rsagent/attribution/syn_filter.hpp"
#include "rsagent/cli/directors_text.hpp"
#include "rsagent/verdict/census.hpp"
#include "rsagent/verdict/directors.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::verdict;

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

// ---- the kernel filter, run here by a classic BPF interpreter ----

namespace {

using attribution::Filter;
using attribution::Target;

// The subset of classic BPF the filter uses; an out-of-bounds load drops
// the packet, as the kernel does.
std::uint32_t run_bpf(const std::vector<sock_filter>& prog, const std::vector<std::uint8_t>& pkt) {
  std::uint32_t a = 0, x = 0;
  std::uint32_t mem[BPF_MEMWORDS] = {};
  auto load = [&](std::size_t at, std::size_t n, bool& ok) {
    std::uint32_t v = 0;
    if (at + n > pkt.size()) {
      ok = false;
      return v;
    }
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | pkt[at + i];
    return v;
  };
  for (std::size_t pc = 0; pc < prog.size(); ++pc) {
    const sock_filter& i = prog[pc];
    bool ok = true;
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS: a = load(i.k, 4, ok); break;
      case BPF_LD | BPF_H | BPF_ABS: a = load(i.k, 2, ok); break;
      case BPF_LD | BPF_B | BPF_ABS: a = load(i.k, 1, ok); break;
      case BPF_LD | BPF_W | BPF_IND: a = load(x + i.k, 4, ok); break;
      case BPF_LD | BPF_H | BPF_IND: a = load(x + i.k, 2, ok); break;
      case BPF_LD | BPF_B | BPF_IND: a = load(x + i.k, 1, ok); break;
      case BPF_LDX | BPF_B | BPF_MSH: x = 4 * (load(i.k, 1, ok) & 0xf); break;
      case BPF_LDX | BPF_IMM: x = i.k; break;
      case BPF_LDX | BPF_W | BPF_MEM: x = mem[i.k]; break;
      case BPF_STX: mem[i.k] = x; break;
      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_ALU | BPF_AND | BPF_K: a &= i.k; break;
      case BPF_ALU | BPF_LSH | BPF_K: a <<= i.k; break;
      case BPF_ALU | BPF_ADD | BPF_X: a += x; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i.k ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i.k) ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JA: pc += i.k; break;
      case BPF_RET | BPF_K: return i.k;
      default: FAIL("instruction not interpreted: " << i.code); return 0;
    }
    if (!ok) return 0;
  }
  FAIL("the program fell off its end");
  return 0;
}

const attribution::Mac kDirector{0x02, 0xaa, 0, 0, 0, 0x01};

std::vector<std::uint8_t> frame(const std::string& dst, std::uint8_t tcp_flags, std::uint8_t proto = 6,
                                std::uint16_t frag = 0, std::size_t ip_options = 0) {
  const auto a = IpAddress::parse(dst).value();
  std::vector<std::uint8_t> f(14, 0);
  std::copy(kDirector.begin(), kDirector.end(), f.begin() + 6);
  if (a.family == Family::kV4) {
    f[12] = 0x08;
    f[13] = 0x00;
    std::vector<std::uint8_t> ip(20 + ip_options, 0);
    ip[0] = static_cast<std::uint8_t>(0x40 | ((20 + ip_options) / 4));
    ip[6] = static_cast<std::uint8_t>(frag >> 8);
    ip[7] = static_cast<std::uint8_t>(frag);
    ip[9] = proto;
    ip[12] = 203, ip[13] = 0, ip[14] = 113, ip[15] = 9;
    std::copy_n(a.bytes.begin(), 4, ip.begin() + 16);
    f.insert(f.end(), ip.begin(), ip.end());
  } else {
    f[12] = 0x86;
    f[13] = 0xdd;
    std::vector<std::uint8_t> ip(40, 0);
    ip[0] = 0x60;
    ip[6] = proto;
    std::copy_n(a.bytes.begin(), 16, ip.begin() + 24);
    f.insert(f.end(), ip.begin(), ip.end());
  }
  std::vector<std::uint8_t> tcp(20, 0);
  tcp[13] = tcp_flags;
  f.insert(f.end(), tcp.begin(), tcp.end());
  return f;
}

std::vector<Target> targets(std::initializer_list<std::pair<const char*, int>> list) {
  std::vector<config::Vip> vips;
  for (const auto& [a, p] : list) {
    config::Vip v;
    v.address = IpAddress::parse(a).value();
    v.prefix = p;
    vips.push_back(v);
  }
  return attribution::targets_of(vips);
}

constexpr std::uint8_t kSyn = 0x02, kSynAck = 0x12, kAck = 0x10, kSynFin = 0x03;

}  // namespace

TEST_CASE("the kernel filter passes only a SYN without ACK to a VIP or a range, IPv4 and IPv6") {
  const auto t = targets({{"198.51.100.100", 32}, {"203.0.113.0", 24}, {"2001:db8::100", 128}, {"2001:db8:1::", 48}});
  const Filter f4 = attribution::syn_filter(t, Family::kV4);
  const Filter f6 = attribution::syn_filter(t, Family::kV6);
  CHECK(f4.exact);
  CHECK(f6.exact);
  const auto pass4 = [&](const std::vector<std::uint8_t>& p) { return run_bpf(f4.code, p) != 0; };
  const auto pass6 = [&](const std::vector<std::uint8_t>& p) { return run_bpf(f6.code, p) != 0; };
  CHECK(pass4(frame("198.51.100.100", kSyn)));
  CHECK(pass4(frame("198.51.100.100", kSynFin)));
  CHECK(pass4(frame("203.0.113.77", kSyn)));
  CHECK(pass4(frame("198.51.100.100", kSyn, 6, 0, 8)));  // IP options move the TCP header
  CHECK_FALSE(pass4(frame("198.51.100.100", kSynAck)));
  CHECK_FALSE(pass4(frame("198.51.100.100", kAck)));
  CHECK_FALSE(pass4(frame("198.51.100.101", kSyn)));
  CHECK_FALSE(pass4(frame("203.0.114.1", kSyn)));
  CHECK_FALSE(pass4(frame("198.51.100.100", kSyn, 17)));      // UDP
  CHECK_FALSE(pass4(frame("198.51.100.100", kSyn, 6, 0x0010)));  // a later fragment
  CHECK(pass6(frame("2001:db8::100", kSyn)));
  CHECK(pass6(frame("2001:db8:1:ffff::5", kSyn)));
  CHECK_FALSE(pass6(frame("2001:db8::101", kSyn)));
  CHECK_FALSE(pass6(frame("2001:db8:2::5", kSyn)));
  CHECK_FALSE(pass6(frame("2001:db8::100", kSynAck)));
  CHECK_FALSE(pass6(frame("2001:db8::100", kSyn, 17)));
  // Each family's socket drops the other's addresses whatever they hold.
  const auto none = targets({{"2001:db8::100", 128}});
  CHECK_FALSE(run_bpf(attribution::syn_filter(none, Family::kV4).code, frame("198.51.100.100", kSyn)));
}

TEST_CASE("one filter for both families chooses by the ethertype") {
  const auto t = targets({{"198.51.100.100", 32}, {"2001:db8::100", 128}});
  const Filter f = attribution::syn_filter_any(t);
  CHECK(f.exact);
  CHECK(run_bpf(f.code, frame("198.51.100.100", kSyn)) != 0);
  CHECK(run_bpf(f.code, frame("2001:db8::100", kSyn)) != 0);
  CHECK(run_bpf(f.code, frame("198.51.100.101", kSyn)) == 0);
  CHECK(run_bpf(f.code, frame("2001:db8::100", kSynAck)) == 0);
  auto arp = frame("198.51.100.100", kSyn);
  arp[12] = 0x08;
  arp[13] = 0x06;
  CHECK(run_bpf(f.code, arp) == 0);
  // Too big together: the larger family (IPv4, with its IPIP branch)
  // passes every SYN, the other stays exact.
  const std::size_t limit = f.code.size() - 1;
  const Filter small = attribution::syn_filter_any(t, limit);
  CHECK_FALSE(small.exact);
  CHECK(small.code.size() <= limit);
  CHECK(run_bpf(small.code, frame("198.51.100.101", kSyn)) != 0);
  CHECK(run_bpf(small.code, frame("198.51.100.101", kSynAck)) == 0);
  CHECK(run_bpf(small.code, frame("2001:db8::100", kSyn)) != 0);
  CHECK(run_bpf(small.code, frame("2001:db8::101", kSyn)) == 0);
  CHECK(run_bpf(small.code, frame("2001:db8::100", kSynAck)) == 0);
}

TEST_CASE("past the kernel's instruction limit the filter passes every SYN and the parse matches the VIPs") {
  std::vector<config::Vip> vips;
  for (int i = 0; i < 3000; ++i) {
    config::Vip v;
    v.address = IpAddress::parse("198.18." + std::to_string(i / 256) + "." + std::to_string(i % 256)).value();
    v.prefix = 32;
    vips.push_back(v);
  }
  const auto t = attribution::targets_of(vips);
  const Filter f = attribution::syn_filter(t, Family::kV4);
  CHECK_FALSE(f.exact);
  CHECK(f.code.size() <= BPF_MAXINSNS);
  CHECK(run_bpf(f.code, frame("198.51.100.1", kSyn)) != 0);
  CHECK(run_bpf(f.code, frame("198.51.100.1", kSynAck)) == 0);
  const attribution::TargetSet set(t);
  const auto in = frame("198.18.11.183", kSyn);
  const auto syn = attribution::parse_syn(in, set);
  REQUIRE(syn);
  CHECK(syn->target->name == "198.18.11.183");
  CHECK(syn->source == kDirector);
  CHECK_FALSE(attribution::parse_syn(frame("198.51.100.1", kSyn), set));
  CHECK_FALSE(attribution::parse_syn(frame("198.18.11.183", kSynAck), set));
  // A truncated frame is no SYN.
  auto cut = in;
  cut.resize(40);
  CHECK_FALSE(attribution::parse_syn(cut, set));
}

TEST_CASE("the parse names the range a SYN went to, longest prefix first") {
  const attribution::TargetSet set(targets({{"203.0.113.0", 24}, {"203.0.113.128", 25}, {"203.0.113.200", 32}}));
  CHECK(attribution::parse_syn(frame("203.0.113.1", kSyn), set)->target->name == "203.0.113.0/24");
  CHECK(attribution::parse_syn(frame("203.0.113.129", kSyn), set)->target->name == "203.0.113.128/25");
  CHECK(attribution::parse_syn(frame("203.0.113.200", kSyn), set)->target->name == "203.0.113.200");
}

// ---- the sender table ----

TEST_CASE("a sender's SYNs are counted with a rate over the last ten seconds and the VIPs it sent to") {
  attribution::SenderTable table;
  const auto t = targets({{"198.51.100.100", 32}, {"198.51.100.101", 32}});
  for (int i = 0; i < 20; ++i) table.note(kDirector, "eth0", t[0], 100'000 + i * 500);  // 2 a second for 10 s
  table.note(kDirector, "eth0", t[1], 110'000);
  auto v = table.view(110'000);
  REQUIRE(v.size() == 1);
  CHECK(v[0].mac == "02:aa:00:00:00:01");
  CHECK(v[0].syns_total == 21);
  CHECK(v[0].first_syn_unix_ms == 100'000);
  CHECK(v[0].last_syn_unix_ms == 110'000);
  CHECK(v[0].rate_10s == doctest::Approx(1.9));  // the second at 100 s is out of the window
  REQUIRE(v[0].vips.size() == 2);
  CHECK(v[0].vips[0].vip == "198.51.100.100");
  CHECK(v[0].vips[0].syns == 20);
  // Silence: the rate falls to zero, the totals stay.
  v = table.view(130'000);
  CHECK(v[0].rate_10s == 0);
  CHECK(v[0].syns_total == 21);
}

TEST_CASE("the sender table keeps 64 MACs and counts the rest together; a long-silent one makes room") {
  attribution::SenderTable table;
  const auto t = targets({{"198.51.100.100", 32}});
  for (std::size_t i = 0; i < kMaxSenders + 5; ++i) {
    attribution::Mac m{0x02, 0, 0, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    table.note(m, "eth0", t[0], 1000);
  }
  CHECK(table.view(1000).size() == kMaxSenders);
  CHECK(table.other_syns() == 5);
  const attribution::Mac late{0x02, 0xff, 0, 0, 0, 1};
  table.note(late, "eth0", t[0], 1000 + attribution::kForgetAfterMs);
  CHECK(table.knows(late));
  CHECK(table.evicted() == 1);
  CHECK(table.view(1000).size() == kMaxSenders);
}

TEST_CASE("a sender's VIPs are bounded; SYNs to more VIPs are counted, not listed") {
  attribution::SenderTable table;
  std::vector<config::Vip> vips;
  for (int i = 1; i <= 12; ++i) {
    config::Vip v;
    v.address = IpAddress::parse("198.51.100." + std::to_string(i)).value();
    vips.push_back(v);
  }
  const auto t = attribution::targets_of(vips);
  for (const auto& x : t) table.note(kDirector, "eth0", x, 1000);
  const auto v = table.view(1000);
  CHECK(v[0].vips.size() == kMaxVipsPerSender);
  CHECK(v[0].vips_other == 12 - kMaxVipsPerSender);
}

// ---- the join ----

TEST_CASE("a poller and a sender meet through the neighbour table; a MAC that sends without polling is listed too") {
  Census c;
  c.note(poll("203.0.113.1", "ready", 1000), 1000);
  c.note(poll("203.0.113.3", "ready", 1000), 1000);  // polls, sends nothing
  AttributionView v;
  v.enabled = true;
  v.mac_of = {{"203.0.113.1", "02:aa:00:00:00:01"}, {"203.0.113.2", "02:aa:00:00:00:02"}};
  v.addresses_of = {{"02:aa:00:00:00:01", {"203.0.113.1"}}, {"02:aa:00:00:00:02", {"2001:db8::2", "203.0.113.2"}}};
  SenderView s1;
  s1.mac = "02:aa:00:00:00:01";
  s1.syns_total = 5;
  SenderView s2;
  s2.mac = "02:aa:00:00:00:02";
  s2.syns_total = 7;
  SenderView s3;
  s3.mac = "02:aa:00:00:00:09";  // not in the neighbour table
  s3.syns_total = 1;
  v.senders = {s1, s2, s3};
  const auto rows = join_directors(c.rows(), v);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].address == "");
  CHECK(rows[0].mac == "02:aa:00:00:00:09");
  CHECK_FALSE(rows[0].polls);
  CHECK(rows[1].address == "203.0.113.1");
  CHECK(rows[1].mac == "02:aa:00:00:00:01");
  CHECK(rows[1].polls);
  CHECK(rows[1].sends->syns_total == 5);
  CHECK(rows[2].address == "203.0.113.2");  // its IPv4 address, though IPv6 came first
  CHECK_FALSE(rows[2].polls);
  CHECK(rows[2].sends->syns_total == 7);
  CHECK(rows[3].address == "203.0.113.3");
  CHECK(rows[3].mac == "");
  CHECK_FALSE(rows[3].sends);
}

// ---- the drain violation alarm ----

namespace {

// One director polling every 2 s whose sends are given.
std::vector<DirectorRow> director(std::uint64_t syns, std::int64_t first_syn, std::int64_t last_syn,
                                  std::int64_t interval_ms = 2000, const std::string& told = "ready") {
  DirectorRow r;
  r.address = "203.0.113.2";
  r.mac = "02:aa:00:00:00:02";
  Checker c;
  c.source = r.address;
  c.interval_ms = interval_ms;
  c.last_answer = {told, 200, last_syn};
  r.polls = c;
  SenderView s;
  s.mac = r.mac;
  s.syns_total = syns;
  s.first_syn_unix_ms = first_syn;
  s.last_syn_unix_ms = last_syn;
  r.sends = s;
  return {r};
}

}  // namespace

TEST_CASE("a director that stops sending within three of its poll intervals after the drain is no violation") {
  attribution::ViolationTracker t;
  CHECK(t.update(director(100, 0, 9'000), false, 10'000).empty());
  CHECK(t.update(director(103, 0, 11'000), true, 10'000).empty());  // drained at 10 s
  CHECK(t.update(director(105, 0, 15'000), true, 15'000).empty());  // still within 6 s
  CHECK(t.update(director(105, 0, 15'000), true, 16'000).empty());  // grace over, silent since
  CHECK(t.update(director(105, 0, 15'000), true, 30'000).empty());
  CHECK(t.current().empty());
  CHECK(t.totals().empty());
}

TEST_CASE("a director still sending after its grace is a violation: counted, listed, warned once a minute") {
  attribution::ViolationTracker t;
  CHECK(t.update(director(100, 0, 9'000), true, 10'000).empty());
  CHECK(t.update(director(110, 0, 15'500), true, 15'500).empty());  // within the 6 s grace
  auto w = t.update(director(113, 0, 16'500), true, 17'000);
  REQUIRE(w.size() == 1);
  CHECK(w[0].find("203.0.113.2 (02:aa:00:00:00:02)") != std::string::npos);
  REQUIRE(t.current().count("02:aa:00:00:00:02"));
  CHECK(t.current().at("02:aa:00:00:00:02").count == 3);
  CHECK(t.totals().at("203.0.113.2") == 3);
  // Still sending: the count rises, no second warning within the minute.
  CHECK(t.update(director(120, 0, 30'000), true, 30'000).empty());
  CHECK(t.current().at("02:aa:00:00:00:02").count == 10);
  CHECK(t.totals().at("203.0.113.2") == 10);
  CHECK(t.update(director(125, 0, 77'000), true, 77'000).size() == 1);
  // Ready again: the episode ends, the total stays.
  CHECK(t.update(director(130, 0, 78'000), false, 78'000).empty());
  CHECK(t.current().empty());
  CHECK(t.totals().at("203.0.113.2") == 15);
}

TEST_CASE("the grace follows the director's own poll interval") {
  attribution::ViolationTracker t;
  // Polls every 10 s: a SYN 20 s after the drain is within its 30 s grace.
  CHECK(t.update(director(100, 0, 9'000, 10'000), true, 10'000).empty());
  CHECK(t.update(director(101, 0, 30'000, 10'000), true, 30'000).empty());
  CHECK(t.update(director(102, 0, 41'000, 10'000), true, 41'000).size() == 1);
}

TEST_CASE("a MAC that first sends during the drain and never polls is a violation after the default grace") {
  attribution::ViolationTracker t;
  std::vector<DirectorRow> none;
  CHECK(t.update(none, true, 10'000).empty());
  auto rows = director(4, 12'000, 20'000);
  rows[0].polls.reset();
  rows[0].address.clear();
  const auto w = t.update(rows, true, 20'000);
  REQUIRE(w.size() == 1);
  CHECK(w[0].find("does not poll") != std::string::npos);
  CHECK(t.current().at("02:aa:00:00:00:02").count == 4);
  CHECK(t.totals().at("02:aa:00:00:00:02") == 4);
}

// ---- rsagent status's table ----

TEST_CASE("rsagent status prints each director's polls, sends and violation, and never throws on odd JSON") {
  Census c;
  c.note(poll("203.0.113.1", "ready", 1000), 1000);
  c.note(poll("203.0.113.1", "drain", 3000), 3000);
  AttributionView v;
  v.enabled = true;
  v.interfaces = {"eth0"};
  v.mac_of = {{"203.0.113.1", "02:aa:00:00:00:01"}};
  SenderView s;
  s.mac = "02:aa:00:00:00:01";
  s.syns_total = 42;
  s.rate_10s = 3.2;
  s.last_syn_unix_ms = 4000;
  s.vips = {{"198.51.100.100", 42}};
  v.senders = {s};
  v.violations["02:aa:00:00:00:01"] = {3500, 5};
  const auto st = directors_json(join_directors(c.rows(), v), v, 5000);
  const std::string t = cli::directors_text(st);
  INFO(t);
  CHECK(t.find("203.0.113.1 (02:aa:00:00:00:01)") != std::string::npos);
  CHECK(t.find("every 2.0 s") != std::string::npos);
  CHECK(t.find("told \"drain\" (503)") != std::string::npos);
  CHECK(t.find("3.2 new connections/s") != std::string::npos);
  CHECK(t.find("42 in all") != std::string::npos);
  CHECK(t.find("to 198.51.100.100") != std::string::npos);
  CHECK(t.find("DRAIN VIOLATION: 5") != std::string::npos);
  for (const char* odd : {R"({"directors": 3})", R"({"directors": [1, "x", null, {"polls": 7, "sends": []}]})",
                          R"({"directors": [{"address": 5, "polls": {"last_answer": 1, "count": "x"}}],
                              "attribution": {"enabled": "yes", "interfaces": 4}, "directors_other": []})",
                          "[]", "null"})
    CHECK_NOTHROW((void)cli::directors_text(nlohmann::json::parse(odd)));
}

// ---- tunnel mode: SYNs that come in IPIP ----

namespace {

const attribution::Mac kRouter{0x02, 0xbb, 0, 0, 0, 0xfe};

// An IPIP frame from the last router: the outer IPv4 header (from the
// director 203.0.113.1 to this node, `outer_options` bytes of options,
// `outer_frag` its fragment field) around the inner packet of frame().
std::vector<std::uint8_t> ipip(const std::vector<std::uint8_t>& inner_frame, std::size_t outer_options = 0,
                               std::uint16_t outer_frag = 0) {
  std::vector<std::uint8_t> f(inner_frame.begin(), inner_frame.begin() + 14);
  std::copy(kRouter.begin(), kRouter.end(), f.begin() + 6);
  std::vector<std::uint8_t> outer(20 + outer_options, 0);
  outer[0] = static_cast<std::uint8_t>(0x40 | ((20 + outer_options) / 4));
  outer[6] = static_cast<std::uint8_t>(outer_frag >> 8);
  outer[7] = static_cast<std::uint8_t>(outer_frag);
  outer[9] = 4;
  outer[12] = 203, outer[13] = 0, outer[14] = 113, outer[15] = 1;
  outer[16] = 198, outer[17] = 51, outer[18] = 100, outer[19] = 11;
  f.insert(f.end(), outer.begin(), outer.end());
  f.insert(f.end(), inner_frame.begin() + 14, inner_frame.end());
  return f;
}

}  // namespace

TEST_CASE("the kernel filter passes a SYN to a VIP that came in IPIP, whatever either header's length, and nothing else in IPIP") {
  const auto t = targets({{"198.51.100.100", 32}, {"203.0.113.0", 24}, {"2001:db8::100", 128}});
  for (const Filter& f : {attribution::syn_filter(t, Family::kV4), attribution::syn_filter_any(t)}) {
    CHECK(f.exact);
    const auto pass = [&](const std::vector<std::uint8_t>& p) { return run_bpf(f.code, p) != 0; };
    CHECK(pass(ipip(frame("198.51.100.100", kSyn))));
    CHECK(pass(ipip(frame("203.0.113.77", kSyn))));                    // a range
    CHECK(pass(ipip(frame("198.51.100.100", kSyn), 8)));               // outer options
    CHECK(pass(ipip(frame("198.51.100.100", kSyn, 6, 0, 12), 4)));     // and inner ones
    CHECK_FALSE(pass(ipip(frame("198.51.100.100", kSynAck))));
    CHECK_FALSE(pass(ipip(frame("198.51.100.100", kAck))));
    CHECK_FALSE(pass(ipip(frame("198.51.100.101", kSyn))));
    CHECK_FALSE(pass(ipip(frame("198.51.100.100", kSyn, 17))));        // UDP inside
    CHECK_FALSE(pass(ipip(frame("198.51.100.100", kSyn, 6, 0x0010))));  // an inner later fragment
    CHECK_FALSE(pass(ipip(frame("198.51.100.100", kSyn), 0, 0x0010)));  // an outer later fragment
    // The outer destination (this node) is no VIP: only the inner one counts.
    CHECK_FALSE(pass(frame("198.51.100.11", kSyn, 4)));
    // Direct frames are judged as before.
    CHECK(pass(frame("198.51.100.100", kSyn)));
    CHECK_FALSE(pass(frame("198.51.100.100", kSynAck)));
  }
  // Past the instruction limit: every SYN, in IPIP too, and still no SYN-ACK.
  const Filter loose = attribution::syn_filter(t, Family::kV4, 0);
  CHECK_FALSE(loose.exact);
  CHECK(run_bpf(loose.code, ipip(frame("198.51.100.101", kSyn))) != 0);
  CHECK(run_bpf(loose.code, ipip(frame("198.51.100.101", kSynAck))) == 0);
}

TEST_CASE("a SYN that came in IPIP is the outer source's, not the router's MAC's") {
  const attribution::TargetSet set(targets({{"198.51.100.100", 32}}));
  const auto syn = attribution::parse_syn(ipip(frame("198.51.100.100", kSyn), 8), set);
  REQUIRE(syn);
  REQUIRE(syn->outer_source);
  CHECK(syn->outer_source->str() == "203.0.113.1");
  CHECK(syn->target->name == "198.51.100.100");
  CHECK(syn->source == kRouter);
  const auto direct = attribution::parse_syn(frame("198.51.100.100", kSyn), set);
  REQUIRE(direct);
  CHECK_FALSE(direct->outer_source);
  CHECK_FALSE(attribution::parse_syn(ipip(frame("198.51.100.100", kSynAck)), set));
  CHECK_FALSE(attribution::parse_syn(ipip(frame("198.51.100.101", kSyn)), set));
  CHECK_FALSE(attribution::parse_syn(ipip(frame("198.51.100.100", kSyn), 0, 0x0010), set));
  // Cut anywhere, an IPIP frame is no SYN (and is never read past its end).
  const auto whole = ipip(frame("198.51.100.100", kSyn));
  for (std::size_t n = 0; n < 14 + 20 + 20 + 14; ++n) {
    const std::vector<std::uint8_t> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK_FALSE(attribution::parse_syn(cut, set));
  }
}

TEST_CASE("a tunnelling director is one sender by its outer address, and meets its own polls in the directors table") {
  const auto t = targets({{"198.51.100.100", 32}});
  attribution::SenderTable table;
  // Its SYNs come through two routers (two MACs): still one sender.
  table.note_tunnelled(IpAddress::parse("203.0.113.1").value(), "eth0", t[0], 1000);
  table.note_tunnelled(IpAddress::parse("203.0.113.1").value(), "eth0", t[0], 1500);
  table.note(kDirector, "eth0", t[0], 1600);  // and a DR director beside it
  const auto senders = table.view(2000);
  REQUIRE(senders.size() == 2);
  const auto tunnelled = std::find_if(senders.begin(), senders.end(), [](const SenderView& s) { return s.mac.empty(); });
  REQUIRE(tunnelled != senders.end());
  CHECK(tunnelled->tunnelled_from == "203.0.113.1");
  CHECK(tunnelled->syns_total == 2);
  CHECK(tunnelled->key() == "ipip 203.0.113.1");

  Census c;
  c.note(poll("203.0.113.1", "ready", 1000), 1000);  // beyond the router: no neighbour entry
  AttributionView v;
  v.enabled = true;
  v.senders = senders;
  const auto rows = join_directors(c.rows(), v);
  REQUIRE(rows.size() == 2);
  const auto& d = rows[0].address == "203.0.113.1" ? rows[0] : rows[1];
  CHECK(d.address == "203.0.113.1");
  CHECK(d.mac == "");
  CHECK(d.polls);
  REQUIRE(d.sends);
  CHECK(d.sends->syns_total == 2);
  const auto j = directors_json(rows, v, 2000);
  bool seen = false;
  for (const auto& row : j["directors"])
    if (row["address"] == "203.0.113.1") {
      seen = true;
      CHECK(row["sends"]["tunnelled"] == true);
      CHECK(row["sends"]["syns_total"] == 2);
      CHECK_FALSE(row["polls"].is_null());
    }
  CHECK(seen);

  // On the same segment, the neighbour table names its MAC: one row still.
  v.mac_of = {{"203.0.113.1", "02:aa:00:00:00:07"}};
  v.addresses_of = {{"02:aa:00:00:00:07", {"203.0.113.1"}}};
  const auto near = join_directors(c.rows(), v);
  const auto it = std::find_if(near.begin(), near.end(), [](const DirectorRow& r) { return r.address == "203.0.113.1"; });
  REQUIRE(it != near.end());
  CHECK(it->mac == "02:aa:00:00:00:07");
  CHECK(it->polls);
  CHECK(it->sends);
  CHECK(std::count_if(near.begin(), near.end(), [](const DirectorRow& r) { return r.address == "203.0.113.1"; }) == 1);
}

TEST_CASE("a tunnelling director that ignores a drain is a violation named by its address") {
  DirectorRow r;
  r.address = "203.0.113.1";
  Checker c;
  c.source = r.address;
  c.interval_ms = 2000;
  c.last_answer = {"drain", 503, 10'000};
  r.polls = c;
  SenderView s;
  s.tunnelled_from = "203.0.113.1";
  s.first_syn_unix_ms = 0;
  attribution::ViolationTracker t;
  s.syns_total = 100;
  s.last_syn_unix_ms = 9'000;
  r.sends = s;
  CHECK(t.update({r}, true, 10'000).empty());
  s.syns_total = 150;
  s.last_syn_unix_ms = 20'000;
  r.sends = s;
  const auto warnings = t.update({r}, true, 20'000);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("director 203.0.113.1 still sends") != std::string::npos);
  REQUIRE(t.current().count("ipip 203.0.113.1") == 1);
  CHECK(t.current().at("ipip 203.0.113.1").count == 50);
  CHECK(t.totals().at("203.0.113.1") == 50);
}
