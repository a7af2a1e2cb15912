// The ARP guard under a flood from its own segment: a peer namespace
// sends ARP frames from a fresh random MAC each, through a packet socket,
// over a veth into the daemon's namespace. Whatever the flood, the
// ARP guard's MAC table stays at its size, the daemon's memory stays put,
// and spoofed answers to a probe leave a short responders list with a count
// of the rest. Asserts on /status and /proc/PID/status, and on the length
// of the log's lines (never on their text).
#include "../support/arp_flood.hpp"
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

const char* const kVip = "198.51.100.100";
const char* const kConfig = R"({
  "vips": ["198.51.100.100"],
  "health": {"listen": ["127.0.0.1:9799"]},
  "arp_guard": {"interval": "1s", "window": "500ms", "probes_per_second": 20}
})";
// the ARP guard's MAC table size (arp_guard::kMacTableSize), as /status must show it.
constexpr std::uint64_t kMacTableSize = 1024;
constexpr std::size_t kMaxResponders = 8;  // arp_guard::kMaxRespondersPerWindow

// The daemon's node and a peer on one veth pair (no bridge: a bridge would
// learn every made-up MAC too).
struct Segment {
  AgentNode node{kConfig};
  Netns peer;
  Segment() {
    node.ns.ip("link add eth0 type veth peer name eth0 netns " + peer.name());
    node.ns.ip("addr add 203.0.113.11/24 dev eth0");
    peer.ip("addr add 203.0.113.10/24 dev eth0");
    node.ns.ip("link set eth0 up");
    peer.ip("link set eth0 up");
  }
};

nlohmann::json status(const Netns& ns) {
  const auto r = ns.run("curl -s --max-time 5 http://127.0.0.1:9799/status");
  try {
    return nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception&) {
    return {};
  }
}

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

long queued_bytes(int pid) { return rsagent::testing::queued_bytes(std::to_string(pid)); }

// Sends ARP frames on the peer's eth0, each from a new random MAC, until
// `count` are sent or `stop` is set. A request asks for the VIP from a
// random 198.18.0.0/15 address; a reply says "VIP is-at" the random MAC.
// Returns how many were sent.
std::uint64_t flood(const Netns& peer, int daemon_pid, std::uint16_t op, std::uint64_t count,
                    const std::atomic<bool>* stop = nullptr) {
  std::uint64_t sent = 0;
  in_netns(peer, [&] {
    const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = static_cast<int>(::if_nametoindex("eth0"));
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) == 0);
    std::mt19937_64 rng(std::random_device{}());
    const in_addr_t vip = ::inet_addr(kVip);
    while (sent < count && !(stop && stop->load())) {
      if (sent % 64 == 0)
        for (int i = 0; i < 5000 && queued_bytes(daemon_pid) > 64 * 1024; ++i)
          std::this_thread::sleep_for(100us);
      const std::uint64_t r = rng();
      std::array<std::uint8_t, 6> mac{0x02};  // unicast, locally administered
      std::memcpy(mac.data() + 1, &r, 5);
      const in_addr_t host =
          htonl(0xc6120000u | static_cast<std::uint32_t>((r >> 40) & 0x1ffff));  // 198.18/15
      const auto f = op == 1 ? arp_frame(1, mac, host, vip)
                             : arp_frame(2, mac, vip, ::inet_addr("203.0.113.11"));
      if (::send(fd, f.data(), f.size(), 0) == static_cast<ssize_t>(f.size())) ++sent;
    }
    ::close(fd);
  });
  return sent;
}

int start_daemon(const AgentNode& n) {
  n.run_in_background();
  REQUIRE(wait_until([&] { return status(n.ns).contains("arp_guard"); }, 20s));
  REQUIRE(wait_until(
      [&] { return status(n.ns)["arp_guard"]["interfaces"] == nlohmann::json::array({"eth0"}); },
      20s));
  return n.daemon_pid();
}

}  // namespace

TEST_CASE(
    "a flood of ARP requests for the VIP from 200,000 random MACs leaves the ARP guard's MAC table "
    "at its "
    "size and the daemon's memory where it was") {
  Segment seg;
  const int pid = start_daemon(seg.node);
  REQUIRE(pid > 0);
  // Settle: a few probes and publishes, so that the baseline has every
  // buffer the ARP guard uses in its steady state.
  std::this_thread::sleep_for(3s);
  const long before = rss_kib(pid);
  REQUIRE(before > 0);
  const std::uint64_t sent = flood(seg.peer, pid, 1, 200'000);
  CHECK(sent == 200'000);
  nlohmann::json table;
  CHECK(wait_until(
      [&] {
        table = status(seg.node.ns)["arp_guard"]["mac_table"];
        return table.is_object() &&
               table["evicted"].get<std::uint64_t>() + kMacTableSize >= sent * 3 / 4;
      },
      20s, 200ms));
  MESSAGE("mac_table after " << sent << " frames: " << table.dump());
  CHECK(table["capacity"] == kMacTableSize);
  CHECK(table["entries"] == kMacTableSize);
  const long after = rss_kib(pid);
  MESSAGE("VmRSS " << before << " KiB before, " << after << " KiB after");
  // Unbounded, each MAC cost about 90 bytes (18 MB here); bounded, the
  // table is about 150 KB. A generous bound for allocator noise.
  CHECK(after - before <= 6 * 1024);
  // The daemon still answers and still probes.
  const auto st = status(seg.node.ns);
  CHECK(st["arp_guard"]["enabled"] == true);
}

TEST_CASE(
    "spoofed \"VIP is-at\" replies from random MACs during probe windows leave at most 8 "
    "responders, a "
    "count of the rest, and log lines of bounded length") {
  Segment seg;
  const int pid = start_daemon(seg.node);
  REQUIRE(pid > 0);
  std::atomic<bool> stop{false};
  std::uint64_t sent = 0;
  std::thread spoofer([&] { sent = flood(seg.peer, pid, 2, 10'000'000, &stop); });
  nlohmann::json segment;
  const bool seen = wait_until(
      [&] {
        const auto st = status(seg.node.ns);
        if (!st.contains("arp_guard")) return false;
        for (const auto& s : st["arp_guard"]["segments"])
          if (s["vip"] == kVip && s["interface"] == "eth0" &&
              s["responders_more"].get<std::uint64_t>() > 0) {
            segment = s;
            return true;
          }
        return false;
      },
      30s, 200ms);
  stop = true;
  spoofer.join();
  REQUIRE(seen);
  MESSAGE(sent << " spoofed replies sent; segment: responders " << segment["responders"].size()
               << ", responders_more " << segment["responders_more"]);
  CHECK(segment["responders"].size() == kMaxResponders);
  CHECK(segment["flux"] == true);
  const auto st = status(seg.node.ns);
  CHECK(st["arp_guard"]["responders_dropped"].get<std::uint64_t>() >=
        segment["responders_more"].get<std::uint64_t>());
  for (const auto& s : st["arp_guard"]["segments"]) CHECK(s["responders"].size() <= kMaxResponders);
  // The spoofed answers carry the VIP as sender: nothing to learn from them.
  CHECK(st["arp_guard"]["mac_table"]["entries"].get<std::uint64_t>() <= kMaxResponders);
  // Every log line is one bounded line (arp_guard::kMaxLogLine, plus a prefix).
  std::ifstream log(seg.node.dir() + "/run.log");
  std::string line;
  std::size_t longest = 0;
  int lines = 0;
  while (std::getline(log, line)) {
    longest = std::max(longest, line.size());
    ++lines;
  }
  CHECK(lines > 0);
  CHECK(longest <= 1200);
}
