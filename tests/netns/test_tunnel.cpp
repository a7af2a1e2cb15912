// Tunnel mode against the real kernel: the device adopted (a veth named
// tunl0 stands for an operator's own device of any type), rp_filter and
// the device address set, healed and reverted byte for byte; and a device
// that must be created: made and removed where the kernel has ipip,
// refused with the module to load and nothing changed where it has not.
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <regex>
#include <string>

#include <stdlib.h>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

void expect_ok(const CmdResult& r) { REQUIRE_MESSAGE(r.code == 0, r.out); }

// Everything tunnel mode may touch: links in detail, addresses, routes of
// every table, and the rp_filter and ARP sysctls of every interface. Less
// each link's qdisc: the kernel attaches the default one the first time a
// device goes up and keeps it after (noop, then noqueue), whoever did it.
std::string full_snapshot(const Netns& ns) {
  std::string s = "== link\n" + must("ip -n " + ns.name() + " -d -j link");
  s += "\n" + ns.snapshot();
  s += "\n== rp_filter\n" + must(ns.exec("sh -c 'grep -H . /proc/sys/net/ipv4/conf/*/rp_filter'"));
  return std::regex_replace(s, std::regex(R"("qdisc":"[a-z_]*",)"), "");
}

// Equal snapshots, or the difference as the failure's message.
void check_same(const std::string& before, const std::string& after) {
  if (before == after) return;
  char tmpl[] = "/tmp/rsagent-tunnel-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  must("cat > " + dir + "/before <<'EOF_SNAP'\n" + before + "\nEOF_SNAP");
  must("cat > " + dir + "/after <<'EOF_SNAP'\n" + after + "\nEOF_SNAP");
  const std::string diff = sh("cd " + dir + " && tr ',' '\\n' < before > b && tr ',' '\\n' < after > a && diff b a").out;
  sh("rm -r " + dir);
  FAIL_CHECK("the namespace differs from before start:\n" << diff);
}

nlohmann::json link_of(const Netns& ns, const std::string& dev) {
  const auto j = nlohmann::json::parse(must("ip -n " + ns.name() + " -j link show dev " + dev));
  REQUIRE(j.size() == 1);
  return j[0];
}

bool is_up(const Netns& ns, const std::string& dev) {
  const auto flags = link_of(ns, dev)["flags"];
  return std::find(flags.begin(), flags.end(), "UP") != flags.end();
}

bool link_exists(const Netns& ns, const std::string& dev) {
  return ns.run("ip link show dev " + dev + " >/dev/null 2>&1").code == 0;
}

// Debian's default (sysctl.d): strict reverse-path filtering through all.
void debian_rp_filter(const Netns& ns) {
  ns.set_sysctl("all", "rp_filter", 1);
  ns.set_sysctl("default", "rp_filter", 1);
}

// Whether this kernel can make an ipip device at all, asked in a
// throwaway namespace.
bool kernel_has_ipip() {
  Netns probe;
  return probe.run("ip link add rsatprobe type ipip external 2>/dev/null").code == 0;
}

}  // namespace

TEST_CASE("tunnel mode adopts an existing device of another type, makes rp_filter pass, and stop restores it byte for byte") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "tunnel": {"device": "tunl0"}})");
  n.ns.ip("link add tunl0 type veth peer name tunp0");
  debian_rp_filter(n.ns);
  n.ns.set_sysctl("tunl0", "rp_filter", 1);
  const std::string before = full_snapshot(n.ns);
  expect_ok(n.rsagent("start"));

  CHECK(is_up(n.ns, "tunl0"));
  CHECK(link_of(n.ns, "tunl0")["link_type"] == "ether");  // still the veth: adopted, not replaced
  CHECK(has_addr(n.ns.addresses("tunl0"), "127.0.0.42", 32));
  CHECK(n.ns.sysctl("tunl0", "rp_filter") == 2);  // loose: the device has an address now
  CHECK(n.ns.sysctl("all", "rp_filter") == 1);    // left alone: max(1, 2) is loose
  CHECK(has_addr(n.ns.addresses(), "198.51.100.100", 32));
  const auto healthz = [&] {
    return n.ns.run("curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:9799/healthz").out;
  };
  REQUIRE(wait_until([&] { return healthz() == "200"; }, 10s));
  auto st = n.rsagent("status --json");
  expect_ok(st);
  const auto j = nlohmann::json::parse(st.out.substr(st.out.find('{')));
  REQUIRE(j.contains("tunnel"));
  CHECK(j["tunnel"].size() == 2);
  for (const auto& t : j["tunnel"]) CHECK(t["present"].get<bool>());
  const auto metrics = n.ns.run("curl -s --max-time 2 http://127.0.0.1:9799/metrics").out;
  CHECK(metrics.find("rsagent_tunnel_item_present{item=\"tunl0 up\"} 1") != std::string::npos);
  CHECK(metrics.find("rsagent_tunnel_item_present{item=\"127.0.0.42/32 dev tunl0\"} 1") != std::string::npos);

  expect_ok(n.rsagent("stop"));
  CHECK(link_exists(n.ns, "tunl0"));  // never deleted
  check_same(before, full_snapshot(n.ns));
}

TEST_CASE("tunnel mode heals a deleted device address, a strict rp_filter written back and a device taken down") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "tunnel": {"device": "tunl0"}})");
  n.ns.ip("link add tunl0 type veth peer name tunp0");
  debian_rp_filter(n.ns);
  const std::string before = full_snapshot(n.ns);
  expect_ok(n.rsagent("start"));
  REQUIRE(has_addr(n.ns.addresses("tunl0"), "127.0.0.42", 32));

  n.ns.ip("addr del 127.0.0.42/32 dev tunl0");
  CHECK(wait_until([&] { return has_addr(n.ns.addresses("tunl0"), "127.0.0.42", 32); }, 15s));
  n.ns.set_sysctl("tunl0", "rp_filter", 1);
  CHECK(wait_until([&] { return n.ns.sysctl("tunl0", "rp_filter") == 2; }, 15s));
  n.ns.ip("link set tunl0 down");
  CHECK(wait_until([&] { return is_up(n.ns, "tunl0"); }, 15s));
  // Healed, the node answers ready again.
  CHECK(wait_until(
      [&] {
        return n.ns.run("curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:9799/healthz").out ==
               "200";
      },
      15s));

  expect_ok(n.rsagent("stop"));
  check_same(before, full_snapshot(n.ns));
}

TEST_CASE("tunnel mode without a device address turns rp_filter off, on all only because all is strict") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "tunnel": {"device": "tunl0", "address": false}})");
  n.ns.ip("link add tunl0 type veth peer name tunp0");
  debian_rp_filter(n.ns);
  n.ns.set_sysctl("tunl0", "rp_filter", 0);
  const std::string before = full_snapshot(n.ns);
  expect_ok(n.rsagent("start"));
  CHECK(n.ns.sysctl("all", "rp_filter") == 0);
  CHECK(n.ns.sysctl("tunl0", "rp_filter") == 0);
  CHECK(n.ns.addresses("tunl0").empty());
  expect_ok(n.rsagent("stop"));
  CHECK(n.ns.sysctl("all", "rp_filter") == 1);
  check_same(before, full_snapshot(n.ns));
}

TEST_CASE("a missing tunnel device is created and removed on stop where the kernel has ipip, and refused with the module to load, changing nothing, where it has not") {
  const bool ipip = kernel_has_ipip();
  AgentNode n(R"({"vips": ["198.51.100.100"], "tunnel": {"device": "ipip9"}})");
  debian_rp_filter(n.ns);
  const std::string before = full_snapshot(n.ns);
  const auto r = n.rsagent("start");
  if (ipip) {
    // A kernel with the module: made (external mode, up), configured, and gone after stop.
    expect_ok(r);
    CHECK(link_exists(n.ns, "ipip9"));
    CHECK(is_up(n.ns, "ipip9"));
    CHECK(n.ns.sysctl("ipip9", "rp_filter") == 2);
    CHECK(has_addr(n.ns.addresses("ipip9"), "127.0.0.42", 32));
    expect_ok(n.rsagent("stop"));
    CHECK_FALSE(link_exists(n.ns, "ipip9"));
    check_same(before, full_snapshot(n.ns));
  } else {
    CHECK(r.code != 0);
    CHECK_MESSAGE(r.out.find("modprobe ipip") != std::string::npos, r.out);
    CHECK_MESSAGE(r.out.find("modules-load.d") != std::string::npos, r.out);
    CHECK_FALSE(link_exists(n.ns, "ipip9"));
    check_same(before, full_snapshot(n.ns));
    CHECK(n.daemon_pid() == 0);  // no daemon left behind
  }
}

namespace {

// The MSS a SYN-ACK from the VIP advertises, as the client sees it on the
// wire: tcpdump in the client's namespace while it connects. 0: none seen.
int syn_ack_mss(const Netns& client, const std::string& dir) {
  const std::string out = dir + "/synack.txt";
  const std::string err = dir + "/tcpdump.err";
  sh(client.exec("sh -c \"timeout 20 tcpdump -n -l -i eth0 -c 1 -v "
                 "'tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)' >" + out + " 2>" + err + " &\""));
  REQUIRE(wait_until([&] { return sh("grep -q 'listening on' " + err).code == 0; }, 10s));
  client.run("curl -s -o /dev/null --max-time 3 http://198.51.100.100:8080/");
  wait_until([&] { return sh("grep -q 'mss' " + out).code == 0; }, 10s);
  const auto r = sh("grep -o 'mss [0-9]*' " + out + " | head -1 | cut -d' ' -f2");
  sh("rm -f " + out + " " + err);
  return r.out.empty() ? 0 : std::stoi(r.out);
}

bool clamp_table_exists(const Netns& ns) { return ns.run("nft list table inet rsagent_tunnel >/dev/null 2>&1").code == 0; }

}  // namespace

TEST_CASE("the MSS clamp lowers the MSS of SYN-ACKs from a VIP, is put back when deleted, and leaves with stop") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "tunnel": {"device": "tunl0", "mss": 1440}})");
  Netns client;
  Lan lan;
  lan.attach(client, "203.0.113.2/24");
  lan.attach(n.ns, "203.0.113.1/24");
  client.ip("route add 198.51.100.100/32 via 203.0.113.1");
  n.ns.ip("link add tunl0 type veth peer name tunp0");
  // eth0's IPv6 link-local address settles (DAD) on its own time: first.
  REQUIRE(wait_until([&] { return n.ns.run("ip addr | grep -q tentative").code != 0; }, 10s));
  const std::string before = full_snapshot(n.ns);
  const std::string nft_before = n.ns.run("nft list ruleset").out;
  // The service, on the VIP (it is on lo once rsagent runs).
  n.ns.ip("addr add 198.51.100.100/32 dev lo");  // adopted, so stop leaves it: removed below
  sh(n.ns.exec("sh -c 'python3 -m http.server --bind 198.51.100.100 8080 >/dev/null 2>&1 &'"));
  REQUIRE(wait_until([&] { return n.ns.run("ss -Hltn 'sport = :8080'").out.find("8080") != std::string::npos; }, 10s));
  // Without rsagent: the MSS the path allows (1460 on a 1500-byte veth).
  CHECK(syn_ack_mss(client, n.dir()) == 1460);

  expect_ok(n.rsagent("start"));
  REQUIRE(clamp_table_exists(n.ns));
  CHECK(syn_ack_mss(client, n.dir()) == 1440);

  // Deleted (it may be back before a listing could show it gone).
  CHECK(n.ns.run("nft delete table inet rsagent_tunnel").code == 0);
  // Put back on nftables' event (the periodic full check is the fallback).
  CHECK(wait_until([&] { return clamp_table_exists(n.ns); }, 20s));
  CHECK(syn_ack_mss(client, n.dir()) == 1440);
  auto st = n.rsagent("status --json");
  expect_ok(st);
  const auto j = nlohmann::json::parse(st.out.substr(st.out.find('{')));
  bool listed = false;
  for (const auto& t : j["tunnel"])
    if (t["item"] == "mss clamp 1440") listed = t["present"].get<bool>();
  CHECK(listed);

  expect_ok(n.rsagent("stop"));
  CHECK_FALSE(clamp_table_exists(n.ns));
  CHECK(n.ns.run("nft list ruleset").out == nft_before);
  CHECK(syn_ack_mss(client, n.dir()) == 1460);
  n.ns.kill_all_processes();
  n.ns.ip("addr del 198.51.100.100/32 dev lo");
  check_same(before, full_snapshot(n.ns));
}
