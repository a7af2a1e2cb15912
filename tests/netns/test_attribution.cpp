// Flow attribution against the real kernel: a real server and "directors"
// (namespaces with a known MAC and a host route to the VIP via the real
// server, which is what a DR director's forwarding looks like on the wire)
// on one bridge. SYNs, SYN-ACKs and SYNs to other addresses are crafted with
// raw sockets, so the counts are exact.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::uint8_t kSyn = 0x02, kSynAck = 0x12;

// `n` TCP segments with `flags` from ns to dst:80 (the kernel adds the IP header).
void send_tcp(const Netns& ns, const std::string& dst, std::uint8_t flags, int n) {
  in_netns(ns, [&] {
    const bool v6 = dst.find(':') != std::string::npos;
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
    REQUIRE(fd >= 0);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      REQUIRE(::inet_pton(AF_INET6, dst.c_str(), &a->sin6_addr) == 1);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      REQUIRE(::inet_pton(AF_INET, dst.c_str(), &a->sin_addr) == 1);
      len = sizeof *a;
    }
    for (int i = 0; i < n; ++i) {
      std::uint8_t tcp[20] = {};
      const std::uint16_t sport = static_cast<std::uint16_t>(40000 + i);
      tcp[0] = static_cast<std::uint8_t>(sport >> 8);
      tcp[1] = static_cast<std::uint8_t>(sport);
      tcp[3] = 80;
      tcp[12] = 5 << 4;
      tcp[13] = flags;
      tcp[14] = 0xfa;
      CHECK(::sendto(fd, tcp, sizeof tcp, 0, reinterpret_cast<sockaddr*>(&ss), len) == 20);
    }
    ::close(fd);
  });
}

nlohmann::json status(const Netns& ns, const std::string& at = "127.0.0.1") {
  const auto r = ns.run("curl -s --max-time 5 http://" + at + ":9799/status");
  return nlohmann::json::parse(r.out, nullptr, false);
}

// The directors row with this MAC, or null.
nlohmann::json row_of(const nlohmann::json& st, const std::string& mac) {
  if (!st.is_object() || !st.contains("directors")) return nullptr;
  for (const auto& d : st["directors"])
    if (d["mac"] == mac) return d;
  return nullptr;
}

std::uint64_t syns_of(const nlohmann::json& row) {
  return row.is_object() && row["sends"].is_object() ? row["sends"]["syns_total"].get<std::uint64_t>() : 0;
}

// A director: a namespace on the LAN with a fixed MAC and host routes to
// the VIPs via the real server.
struct Director {
  Director(Lan& lan, const std::string& v4, const std::string& v6, const std::string& mac) {
    lan.attach(ns, v4 + "/24");
    ns.ip("link set eth0 address " + mac);
    ns.ip("addr add " + v6 + "/64 dev eth0 nodad");
    ns.ip("route add 198.51.100.100/32 via 203.0.113.11");
    ns.ip("route add 198.51.100.112/28 via 203.0.113.11");
    ns.ip("-6 route add 2001:db8::100/128 via 2001:db8:ffff::11");
  }
  void poll() const { ns.run("curl -s --max-time 5 -A 'KeepAliveClient' http://203.0.113.11:9799/healthz"); }
  Netns ns;
};

const char* const kConfig = R"({
  "vips": ["198.51.100.100", "2001:db8::100", {"address": "198.51.100.112/28", "mode": "route"}]
})";

void start_real_server(const AgentNode& rs, Lan& lan) {
  lan.attach(rs.ns, "203.0.113.11/24");
  rs.ns.ip("addr add 2001:db8:ffff::11/64 dev eth0 nodad");
  const auto r = rs.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  REQUIRE(wait_until(
      [&] {
        const auto st = status(rs.ns);
        return st.is_object() && st["attribution"]["enabled"] == true &&
               st["attribution"]["interfaces"] == nlohmann::json::array({"eth0"});
      },
      20s));
}

}  // namespace

TEST_CASE("new connections to a VIP, an IPv6 VIP and a route-mode range are counted by the sending "
          "director's MAC and joined with its polls; SYN-ACKs and other addresses are not counted") {
  Lan lan;
  AgentNode rs(kConfig);
  Director d1(lan, "203.0.113.1", "2001:db8:ffff::1", "02:aa:00:00:00:01");
  start_real_server(rs, lan);
  d1.poll();
  // Not counted: a SYN-ACK to the VIP, SYNs to the real server's own addresses.
  send_tcp(d1.ns, "198.51.100.100", kSynAck, 2);
  send_tcp(d1.ns, "203.0.113.11", kSyn, 2);
  send_tcp(d1.ns, "2001:db8:ffff::11", kSyn, 1);
  // Counted.
  send_tcp(d1.ns, "198.51.100.100", kSyn, 3);
  send_tcp(d1.ns, "198.51.100.120", kSyn, 2);
  send_tcp(d1.ns, "2001:db8::100", kSyn, 2);
  REQUIRE(wait_until([&] { return syns_of(row_of(status(rs.ns), "02:aa:00:00:00:01")) >= 7; }, 15s, 200ms));
  // Named by the neighbour table (the director resolved the real server,
  // so the real server knows it) and joined with its poll.
  REQUIRE(wait_until([&] { return row_of(status(rs.ns), "02:aa:00:00:00:01")["address"] == "203.0.113.1"; }, 15s,
                     200ms));
  std::this_thread::sleep_for(1500ms);  // a late count would show now
  const auto st = status(rs.ns);
  const auto row = row_of(st, "02:aa:00:00:00:01");
  INFO(st["directors"].dump(2));
  CHECK(syns_of(row) == 7);
  CHECK(row["polls"]["kind"] == "keepalived");
  CHECK(row["polls"]["last_answer"]["state"] == "ready");
  std::map<std::string, std::uint64_t> by_vip;
  for (const auto& v : row["sends"]["by_vip"]) by_vip[v["vip"]] = v["syns"];
  CHECK(by_vip == std::map<std::string, std::uint64_t>{
                      {"198.51.100.100", 3}, {"198.51.100.112/28", 2}, {"2001:db8::100", 2}});
  CHECK(st["directors"].size() == 1);
  CHECK(st["directors_other"]["syns_total"] == 0);
  const auto metrics = rs.ns.run("curl -s http://127.0.0.1:9799/metrics").out;
  CHECK(metrics.find("rsagent_director_new_connections_total{director=\"203.0.113.1\",vip=\"198.51.100.100\"} 3") !=
        std::string::npos);
  CHECK(metrics.find("rsagent_director_last_poll_seconds{director=\"203.0.113.1\"}") != std::string::npos);
  // `rsagent status` prints the table.
  const auto text = rs.rsagent("status").out;
  CHECK(text.find("203.0.113.1 (02:aa:00:00:00:01)") != std::string::npos);
  CHECK(text.find("7 in all") != std::string::npos);
}

TEST_CASE("while drained, a director that keeps sending after three of its poll intervals is a violation; "
          "one that stopped is not") {
  Lan lan;
  AgentNode rs(kConfig);
  Director bad(lan, "203.0.113.1", "2001:db8:ffff::1", "02:aa:00:00:00:01");
  Director good(lan, "203.0.113.2", "2001:db8:ffff::2", "02:aa:00:00:00:02");
  start_real_server(rs, lan);
  for (int i = 0; i < 3; ++i) {
    bad.poll();
    good.poll();
    send_tcp(bad.ns, "198.51.100.100", kSyn, 1);
    send_tcp(good.ns, "198.51.100.100", kSyn, 1);
    std::this_thread::sleep_for(500ms);
  }
  REQUIRE(wait_until([&] { return syns_of(row_of(status(rs.ns), "02:aa:00:00:00:02")) == 3; }, 15s, 200ms));
  REQUIRE(rs.rsagent("drain --reason deploy").code == 0);
  bad.poll();
  good.poll();
  // The good director has moved its traffic; the bad one has not.
  const auto end = std::chrono::steady_clock::now() + 6s;
  while (std::chrono::steady_clock::now() < end) {
    send_tcp(bad.ns, "198.51.100.100", kSyn, 1);
    std::this_thread::sleep_for(200ms);
  }
  REQUIRE(wait_until([&] { return row_of(status(rs.ns), "02:aa:00:00:00:01")["violation"].is_object(); }, 15s,
                     200ms));
  const auto st = status(rs.ns);
  INFO(st["directors"].dump(2));
  const auto b = row_of(st, "02:aa:00:00:00:01");
  CHECK(b["violation"]["count"].get<int>() >= 1);
  CHECK(b["polls"]["last_answer"]["state"] == "drain");
  CHECK(row_of(st, "02:aa:00:00:00:02")["violation"].is_null());
  const auto metrics = rs.ns.run("curl -s http://127.0.0.1:9799/metrics").out;
  CHECK(metrics.find("rsagent_drain_violations_total{director=\"203.0.113.1\"}") != std::string::npos);
  CHECK(metrics.find("rsagent_drain_violations_total{director=\"203.0.113.2\"}") == std::string::npos);
  CHECK(rs.rsagent("status").out.find("DRAIN VIOLATION") != std::string::npos);
  // Ready again: the violation row goes, the counter stays.
  REQUIRE(rs.rsagent("ready").code == 0);
  REQUIRE(wait_until([&] { return row_of(status(rs.ns), "02:aa:00:00:00:01")["violation"].is_null(); }, 15s, 200ms));
  CHECK(rs.ns.run("curl -s http://127.0.0.1:9799/metrics").out.find(
            "rsagent_drain_violations_total{director=\"203.0.113.1\"}") != std::string::npos);
}

TEST_CASE("the agent-check's answers are in the census under kind agent-check") {
  AgentNode rs(R"({"vips": ["198.51.100.100"], "health": {"agent_check": {"listen": "0.0.0.0:9798"}}})");
  const auto r = rs.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  REQUIRE(rs.rsagent("maint --reason disk").code == 0);
  const auto line = raw_exchange(rs.ns, "127.0.0.1", 9798, "", 2000ms);
  REQUIRE(line.data == "maint\n");
  REQUIRE(wait_until([&] { return status(rs.ns)["directors"].size() == 1; }));
  const auto p = status(rs.ns)["directors"][0]["polls"];
  CHECK(p["kind"] == "agent-check");
  CHECK(p["last_answer"]["state"] == "maint");
  CHECK(p["count"] == 1);
}

TEST_CASE("without CAP_NET_RAW the attribution is off and says why; the directors are still listed by their polls") {
  Lan lan;
  AgentNode rs(kConfig);
  lan.attach(rs.ns, "203.0.113.11/24");
  rs.run_in_background("setpriv --bounding-set=-net_raw --inh-caps=-net_raw");
  REQUIRE(wait_until([&] { return status(rs.ns).is_object(); }, 20s));
  rs.ns.run("curl -s --max-time 5 http://127.0.0.1:9799/healthz");
  const auto st = status(rs.ns);
  INFO(st.dump(2));
  CHECK(st["attribution"]["enabled"] == false);
  CHECK(st["attribution"]["reason"].get<std::string>().find("CAP_NET_RAW") != std::string::npos);
  REQUIRE(st["directors"].size() == 1);
  CHECK(st["directors"][0]["address"] == "127.0.0.1");
  CHECK(st["directors"][0]["sends"].is_null());
  CHECK(rs.ns.run("curl -s http://127.0.0.1:9799/metrics").out.find("rsagent_attribution_enabled 0") !=
        std::string::npos);
}
