// What rsagent owns stays true while it runs: an external sysctl write is
// healed without becoming the "original" that stop restores, and a journal
// write that fails after a reload's changes (a full /run) never leaves the
// file behind the kernel. Each ends with the namespace as it was before.
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

// A mount namespace of the test's own, held open by a sleeping process:
// the small tmpfs the state folder lives on is mounted there, so nothing
// outside this test ever sees it. Commands enter it with nsenter.
class PrivateMounts {
 public:
  PrivateMounts() {
    pid_ = std::stoi(must("unshare --mount --propagation private sleep 600 </dev/null >/dev/null 2>&1 & echo $!"));
    // unshare execs sleep only once the namespace is made and private:
    // entering it earlier would enter the host's.
    REQUIRE(wait_until([&] { return sh("cat /proc/" + std::to_string(pid_) + "/comm").out == "sleep\n"; }, 5s));
  }
  ~PrivateMounts() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }
  PrivateMounts(const PrivateMounts&) = delete;
  PrivateMounts& operator=(const PrivateMounts&) = delete;
  [[nodiscard]] std::string in(const std::string& cmd) const {
    return "nsenter -t " + std::to_string(pid_) + " -m " + cmd;
  }

 private:
  pid_t pid_ = 0;
};

// The node's state folder on a 256 KiB tmpfs in `m`, and rsagent run so
// that it sees it.
struct SmallRunNode {
  AgentNode& n;
  const PrivateMounts& m;
  SmallRunNode(AgentNode& node, const PrivateMounts& mounts) : n(node), m(mounts) {
    must("mkdir -p " + n.state_dir());
    must(m.in("mount -t tmpfs -o size=256k,mode=0755 rsagent-test " + n.state_dir()));
  }
  [[nodiscard]] CmdResult rsagent(const std::string& args) const {
    return sh(m.in(n.ns.exec(std::string(RSAGENT_BIN) + " --config " + n.config_path() + " --state-dir " +
                             n.state_dir() + " " + args)));
  }
  [[nodiscard]] std::string journal_text() const { return sh(m.in("cat " + n.state_dir() + "/journal.json")).out; }
  // Addresses the journal file says rsagent created, as "ADDR/PREFIX".
  [[nodiscard]] std::set<std::string> journal_addresses() const {
    std::set<std::string> out;
    const auto j = nlohmann::json::parse(journal_text(), nullptr, false);
    if (j.is_discarded()) return out;
    for (const auto& e : j["entries"])
      if (e["type"] == "address" && e["created"] == true)
        out.insert(e["address"].get<std::string>() + "/" + std::to_string(e["prefix"].get<int>()));
    return out;
  }
  [[nodiscard]] long journal_bytes() const {
    return std::stol(must(m.in("stat -c %s " + n.state_dir() + "/journal.json")));
  }
  // Free blocks on the tmpfs, and its block size.
  [[nodiscard]] std::pair<long, long> free_blocks() const {
    const auto out = must(m.in("stat -f -c '%a %S' " + n.state_dir()));
    const auto sp = out.find(' ');
    return {std::stol(out.substr(0, sp)), std::stol(out.substr(sp + 1))};
  }
  [[nodiscard]] int daemon_pid() const {
    const auto r = sh(m.in("cat " + n.state_dir() + "/rsagent.pid"));
    return r.code == 0 ? std::atoi(r.out.c_str()) : 0;
  }
};

// The addresses on lo that are not the namespace's own, as "ADDR/PREFIX".
std::set<std::string> vips_on_lo(const Netns& ns) {
  std::set<std::string> out;
  for (const auto& a : ns.addresses()) {
    const auto local = a["local"].get<std::string>();
    if (local == "127.0.0.1" || local == "::1") continue;
    out.insert(local + "/" + std::to_string(a["prefixlen"].get<int>()));
  }
  return out;
}

std::string many_vips(int count) {
  std::string vips;
  for (int i = 1; i <= count; ++i)
    vips += std::string(vips.empty() ? "" : ", ") + "\"198.18." + std::to_string(i / 250) + "." +
            std::to_string(i % 250 + 1) + "\"";
  return R"({"vips": [)" + vips + "]}";
}

const char* const kOneVip = R"({"vips": ["198.51.100.100"]})";

}  // namespace

TEST_CASE("an external sysctl write while running is healed, and stop restores the first original") {
  AgentNode n(R"({"vips": ["198.51.100.1"], "arp": {"interfaces": ["all", "lo"]}})");
  REQUIRE(n.ns.sysctl("all", "arp_ignore") == 0);
  const std::string before = n.ns.snapshot();
  const auto start = n.rsagent("start");
  REQUIRE_MESSAGE(start.code == 0, start.out);
  REQUIRE(n.ns.sysctl("all", "arp_ignore") == 1);

  must(n.ns.exec("sysctl -q -w net.ipv4.conf.all.arp_ignore=8"));
  // Healed by the periodic check (a sysctl write makes no event).
  REQUIRE(wait_until([&] { return n.ns.sysctl("all", "arp_ignore") == 1; }, 10s));
  const auto status = n.rsagent("status --json");
  REQUIRE_MESSAGE(status.code == 0, status.out);
  const auto st = nlohmann::json::parse(status.out);
  bool seen = false;
  for (const auto& s : st["sysctls"]) {
    if (s["sysctl"] != "net.ipv4.conf.all.arp_ignore") continue;
    seen = true;
    CHECK(s["wanted"] == 1);
    CHECK(s["original"] == 0);
  }
  CHECK(seen);

  const auto stop = n.rsagent("stop");
  CHECK_MESSAGE(stop.code == 0, stop.out);
  CHECK(n.ns.sysctl("all", "arp_ignore") == 0);
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("a reload whose journal write fails on a full state folder keeps every VIP owned, and stop removes them all") {
  AgentNode n(kOneVip);
  PrivateMounts m;
  SmallRunNode node(n, m);
  const std::string before = n.ns.snapshot();
  std::string how;
  SUBCASE("stop through the daemon once space is back") { how = "stop"; }
  SUBCASE("stop from the file after the daemon died on the full disk") { how = "kill"; }
  CAPTURE(how);

  const auto start = node.rsagent("start");
  REQUIRE_MESSAGE(start.code == 0, start.out);
  // The size the journal of the big config takes: reload to it and back
  // while there is room. Each reload drops VIPs, so a final journal write
  // follows the changes (the write-ahead record still lists what leaves).
  const std::string big = many_vips(400);
  n.write_config(big);
  auto r = node.rsagent("reload");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const long big_bytes = node.journal_bytes();
  n.write_config(kOneVip);
  r = node.rsagent("reload");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  REQUIRE(vips_on_lo(n.ns) == std::set<std::string>{"198.51.100.100/32"});

  // Fill the tmpfs so that the write-ahead record fits next to the small
  // journal, but the final journal no longer fits next to the record:
  // with P pages for the big journal, the record takes P or P+1, and
  // after it replaces the small one (1 page) fewer than P are left.
  const auto [avail, bsize] = node.free_blocks();
  const long pages = (big_bytes + bsize - 1) / bsize;
  REQUIRE(pages >= 6);
  const long keep = (3 * pages - 1) / 2;
  REQUIRE(avail > keep);
  must(m.in("sh -c 'head -c " + std::to_string((avail - keep) * bsize) + " /dev/zero > " + n.state_dir() +
            "/filler'"));
  REQUIRE(node.free_blocks().first == keep);
  MESSAGE("journal of 400 VIPs: " << big_bytes << " bytes (" << pages << " blocks of " << bsize
                                  << "); blocks left free for the reload: " << keep);

  n.write_config(big);
  r = node.rsagent("reload");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("journal") != std::string::npos);  // the operator is told
  const auto in_kernel = vips_on_lo(n.ns);
  REQUIRE(in_kernel.size() == 400);
  CHECK(in_kernel.count("198.51.100.100/32") == 0);
  // The file never says less than the kernel holds: it is the write-ahead
  // record, through the ticks that try to write the final journal.
  for (int i = 0; i < 3; ++i) {
    const auto owned = node.journal_addresses();
    for (const auto& v : in_kernel) REQUIRE_MESSAGE(owned.count(v) == 1, v << " is not in the journal file");
    std::this_thread::sleep_for(1s);
  }
  CHECK(node.rsagent("status").code == 0);

  if (how == "kill") {
    const int pid = node.daemon_pid();
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(wait_until([&] { return ::kill(pid, 0) != 0; }, 5s));
    must(m.in("rm " + n.state_dir() + "/filler"));
  } else {
    must(m.in("rm " + n.state_dir() + "/filler"));
    // The daemon writes the true journal once it can: the 400, not the one that left.
    std::set<std::string> want = in_kernel;
    CHECK(wait_until([&] { return node.journal_addresses() == want; }, 10s));
  }
  const auto stop = node.rsagent("stop");
  CHECK_MESSAGE(stop.code == 0, stop.out);
  CHECK(vips_on_lo(n.ns).empty());
  CHECK(n.ns.snapshot() == before);
}
