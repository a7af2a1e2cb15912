// The ARP guard's memory has a bound whatever the segment sends: the
// MAC -> IP table is a fixed-size LRU fed only by frames that matter to a
// VIP, and a probe window keeps a fixed number of responders, counting the
// rest; /status and /metrics show both counts.
#include "rsagent/arp_guard/frames.hpp"
#include "rsagent/arp_guard/ledger.hpp"
#include "rsagent/verdict/board.hpp"
#include "rsagent/endpoint/report.hpp"

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::arp_guard;

namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// A locally administered MAC numbered n.
Mac mac_n(std::uint32_t n) {
  return Mac{0x02,
             0x42,
             static_cast<std::uint8_t>(n >> 24),
             static_cast<std::uint8_t>(n >> 16),
             static_cast<std::uint8_t>(n >> 8),
             static_cast<std::uint8_t>(n)};
}

// An ARP frame (op 1 request, 2 reply) from `sha`/`spa` about `tpa`, parsed.
Frame arp(std::uint16_t op, const Mac& sha, const IpAddress& spa, const IpAddress& tpa) {
  auto f = build_arp_request(sha, spa, tpa);
  f[21] = static_cast<std::uint8_t>(op);
  return *parse_frame(f);
}

// 198.18.x.y numbered n: a host's own address on the segment.
IpAddress host_n(std::uint32_t n) {
  IpAddress a = ip("198.18.0.0");
  a.bytes[2] = static_cast<std::uint8_t>(n >> 8);
  a.bytes[3] = static_cast<std::uint8_t>(n);
  return a;
}

const IpAddress kVip = ip("198.51.100.100");
const IpAddress kSelf = ip("203.0.113.11");

}  // namespace

TEST_CASE(
    "the MAC table keeps at most its size, evicts the least recently used first and counts it") {
  MacTable t(3);
  t.put(2, mac_n(1), "198.18.0.1");
  t.put(2, mac_n(2), "198.18.0.2");
  t.put(2, mac_n(3), "198.18.0.3");
  REQUIRE(t.get(2, mac_n(1)) != nullptr);  // 1 is now the most recently used: 2 is the oldest
  t.put(2, mac_n(4), "198.18.0.4");
  CHECK(t.size() == 3);
  CHECK(t.evicted() == 1);
  CHECK_FALSE(t.contains(2, mac_n(2)));
  CHECK(t.contains(2, mac_n(1)));
  CHECK(t.contains(2, mac_n(3)));
  CHECK(t.contains(2, mac_n(4)));
  // Learning a known host again replaces its IP, evicts nothing and makes it the newest.
  t.put(2, mac_n(3), "198.18.0.33");
  CHECK(t.evicted() == 1);
  CHECK(*t.get(2, mac_n(3)) == "198.18.0.33");
  t.put(2, mac_n(5), "198.18.0.5");  // the oldest now is 1 (4 was put after it was read)
  CHECK_FALSE(t.contains(2, mac_n(1)));
  CHECK(t.evicted() == 2);
  // The same MAC on another interface is another host.
  t.put(3, mac_n(5), "203.0.113.5");
  CHECK(*t.get(2, mac_n(5)) == "198.18.0.5");
  CHECK(*t.get(3, mac_n(5)) == "203.0.113.5");
  t.keep_interfaces({3});
  CHECK(t.size() == 1);
  CHECK(t.contains(3, mac_n(5)));
}

TEST_CASE("the ledger learns no host from frames that have nothing to do with a VIP") {
  Ledger ledger(config::ArpGuard{});
  ledger.set_vips({kVip});
  const Ledger::TimePoint t0{};
  for (std::uint32_t n = 0; n < 3 * kMacTableSize; ++n)
    ledger.frame(2, "eth0", arp(1, mac_n(n), host_n(n), kSelf), false, t0, 1000);
  CHECK(ledger.macs().size() == 0);
  verdict::ArpGuardView v;
  ledger.fill(v);
  CHECK(v.mac_table_entries == 0);
  CHECK(v.mac_table_evicted == 0);
}

TEST_CASE(
    "a flood of distinct MACs asking for the VIP leaves the MAC table at its size, evictions "
    "counted") {
  Ledger ledger(config::ArpGuard{});
  ledger.set_vips({kVip});
  const Ledger::TimePoint t0{};
  const std::uint32_t flood = 200'000;
  for (std::uint32_t n = 0; n < flood; ++n)
    ledger.frame(2, "eth0", arp(1, mac_n(n), host_n(n), kVip), false, t0, 1000);
  CHECK(ledger.macs().size() == kMacTableSize);
  CHECK(ledger.macs().evicted() == flood - kMacTableSize);
  CHECK(ledger.macs().contains(2, mac_n(flood - 1)));  // the newest stay
  CHECK_FALSE(ledger.macs().contains(2, mac_n(0)));    // the oldest went
  verdict::ArpGuardView v;
  ledger.fill(v);
  CHECK(v.mac_table_entries == kMacTableSize);
  CHECK(v.mac_table_capacity == kMacTableSize);
  CHECK(v.mac_table_evicted == flood - kMacTableSize);
}

TEST_CASE(
    "a responder's address, learnt and then read to name it, outlives hosts learnt before that "
    "read") {
  using namespace std::chrono;
  Ledger ledger(config::ArpGuard{});
  ledger.set_vips({kVip});
  const Ledger::TimePoint t0{};
  const Mac director = mac_n(0x01000000);
  const Mac neighbour = mac_n(0x02000000);
  ledger.opened(kVip, 2, "eth0", t0 + seconds(1));
  ledger.frame(2, "eth0", arp(2, director, kVip, kSelf), false, t0, 1000);
  ledger.frame(2, "eth0", arp(2, neighbour, kVip, kSelf), false, t0, 1000);
  // The neighbour, having answered, says who it is in a request of its own
  // (about no VIP): that is learnt, because it answered.
  ledger.frame(2, "eth0", arp(1, neighbour, ip("203.0.113.13"), kSelf), false, t0, 1000);
  REQUIRE(ledger.macs().contains(2, neighbour));
  // The table fills up behind it: the neighbour is now the oldest.
  for (std::uint32_t n = 1; n < kMacTableSize; ++n)
    ledger.frame(2, "eth0", arp(1, mac_n(n), host_n(n), kVip), false, t0, 1000);
  CHECK(ledger.macs().size() == kMacTableSize);
  // The window closes: naming the neighbour reads its entry, which makes it the newest.
  ledger.close_windows(t0 + seconds(1), 1001);
  ledger.frame(2, "eth0", arp(1, mac_n(0x10000), host_n(0x1000), kVip), false, t0 + seconds(1),
               1001);
  CHECK(ledger.macs().contains(2, neighbour));
  CHECK_FALSE(ledger.macs().contains(2, mac_n(1)));  // the oldest asker went instead
  CHECK(ledger.macs().evicted() == 1);
  verdict::ArpGuardView v;
  ledger.fill(v);
  REQUIRE(v.segments.size() == 1);
  REQUIRE(v.segments[0].responders.size() == 2);
  CHECK(v.segments[0].responders[1].mac == mac_str(neighbour));
  CHECK(v.segments[0].responders[1].ip == "203.0.113.13");
  // A host that answered once is still learnt from later (while it is a responder).
  ledger.frame(2, "eth0", arp(1, director, ip("203.0.113.1"), kSelf), false, t0 + seconds(2), 1002);
  CHECK(ledger.macs().contains(2, director));
}

TEST_CASE(
    "spoofed answers from many MACs in one probe window: kMaxRespondersPerWindow kept, the rest "
    "counted, "
    "and /status and /metrics show both") {
  using namespace std::chrono;
  verdict::Board board({}, "/nonexistent/maintenance");
  Ledger ledger(config::ArpGuard{});
  ledger.set_vips({kVip});
  const Ledger::TimePoint t0{};
  const std::uint32_t spoofed = 10'000;
  ledger.opened(kVip, 2, "eth0", t0 + seconds(1));
  for (std::uint32_t n = 0; n < spoofed; ++n)
    ledger.frame(2, "eth0", arp(2, mac_n(n), kVip, kSelf), false, t0, 1000);
  // The first ones kept answer again: no new MAC, nothing more counted.
  ledger.frame(2, "eth0", arp(2, mac_n(0), kVip, kSelf), false, t0, 1000);
  ledger.close_windows(t0 + seconds(1), 1001);
  verdict::ArpGuardView v;
  v.enabled = true;
  ledger.fill(v);
  REQUIRE(v.segments.size() == 1);
  CHECK(v.segments[0].responders.size() == kMaxRespondersPerWindow);
  CHECK(v.segments[0].responders_more == spoofed - kMaxRespondersPerWindow);
  CHECK(v.responders_dropped == spoofed - kMaxRespondersPerWindow);
  // Their spoofed answers carry the VIP as sender: nothing for the MAC table.
  CHECK(ledger.macs().size() == 0);

  board.set_arp_guard(v);
  const auto snap = board.snapshot();
  const auto st = endpoint::status_json(*snap, board);
  CHECK(st["arp_guard"]["segments"][0]["responders"].size() == kMaxRespondersPerWindow);
  CHECK(st["arp_guard"]["segments"][0]["responders_more"] == spoofed - kMaxRespondersPerWindow);
  CHECK(st["arp_guard"]["responders_dropped"] == spoofed - kMaxRespondersPerWindow);
  CHECK(st["arp_guard"]["mac_table"]["capacity"] == kMacTableSize);
  const std::string m = endpoint::metrics_text(*snap, board);
  CHECK(m.find("\nrsagent_arp_responders_dropped_total " +
               std::to_string(spoofed - kMaxRespondersPerWindow) + "\n") != std::string::npos);
  CHECK(m.find("\nrsagent_arp_mac_table_entries 0\n") != std::string::npos);
  CHECK(m.find("\nrsagent_arp_mac_table_evicted_total 0\n") != std::string::npos);

  // The next window, answered by the director alone: the count is of the last window.
  ledger.opened(kVip, 2, "eth0", t0 + seconds(61));
  ledger.frame(2, "eth0", arp(2, mac_n(0), kVip, kSelf), false, t0 + seconds(60), 1060);
  ledger.close_windows(t0 + seconds(61), 1061);
  v = {};
  ledger.fill(v);
  CHECK(v.segments[0].responders.size() == 1);
  CHECK(v.segments[0].responders_more == 0);
  CHECK(v.responders_dropped == spoofed - kMaxRespondersPerWindow);  // over the daemon's life
}
