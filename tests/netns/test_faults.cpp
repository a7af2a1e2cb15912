// The faults an operator meets while rsagent runs (issue 12): its state
// folder removed, its journal garbled, two starts at once, a reload while a
// drain-stop waits. Each ends with the namespace byte-identical to before
// the start, or with an exit code and message that say what is left.
#include "../support/netns.hpp"
#include "../support/nsnet.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <csignal>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace rsagent::testing;
using namespace std::chrono_literals;

namespace {

const char* const kConfig = R"({"vips": ["198.51.100.100", "198.51.100.101", "2001:db8::100"]})";

void start_node(const AgentNode& n) {
  auto r = n.rsagent("start");
  REQUIRE_MESSAGE(r.code == 0, r.out);
}

// The state folder as `--state-dir` lays it out: runtime files directly in it.
std::string journal_of(const AgentNode& n) { return n.state_dir() + "/journal.json"; }

}  // namespace

TEST_CASE("the state folder removed while running is written back from memory, and stop then reverts everything") {
  AgentNode n(kConfig);
  const std::string before = n.ns.snapshot();
  start_node(n);
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  // The daemon's tick may write files back while remove_all runs, and
  // remove_all may then delete some of them again: the next tick must.
  std::error_code ec;
  std::filesystem::remove_all(n.state_dir(), ec);
  // Within a second or two (the tick) the journal, pid file, lock and
  // control socket are back, so status and stop see the daemon again.
  REQUIRE(wait_until([&] {
    return n.rsagent("status").code == 0 && std::filesystem::exists(journal_of(n)) && n.daemon_pid() == pid;
  }, 5s));
  // The control socket is bound again and stays: drain and ready reach the daemon.
  REQUIRE(wait_until([&] { return std::filesystem::exists(n.state_dir() + "/control.sock"); }, 5s));
  std::this_thread::sleep_for(1500ms);
  CHECK(std::filesystem::exists(n.state_dir() + "/control.sock"));
  CHECK(n.rsagent("drain").code == 0);
  CHECK(n.ns.run("curl -s http://127.0.0.1:9799/healthz").out == "drain\n");
  CHECK(n.rsagent("ready").code == 0);
  // A second start must not take the new lock file and run a second daemon.
  const auto again = n.rsagent("start");
  CHECK(again.code == 0);
  CHECK(again.out.find("already running (pid " + std::to_string(pid) + ")") != std::string::npos);
  const auto r = n.rsagent("stop");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("SIGTERM reverts from memory when the journal file is gone or garbled") {
  AgentNode n(kConfig);
  const std::string before = n.ns.snapshot();
  SUBCASE("garbled") {
    start_node(n);
    n.write_file("state/journal.json", "garbage\n");
  }
  SUBCASE("removed") {
    start_node(n);
    std::filesystem::remove(journal_of(n));
  }
  SUBCASE("{\"version\":1,\"entries\":[]}, which says nothing is owned") {
    start_node(n);
    n.write_file("state/journal.json", "{\"version\":1,\"entries\":[]}\n");
  }
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  // At once, before the tick writes it back: the revert itself must not
  // read the file.
  REQUIRE(::kill(pid, SIGTERM) == 0);
  REQUIRE(wait_until([&] { return ::kill(pid, 0) != 0; }, 10s));
  CHECK(n.ns.snapshot() == before);
  CHECK(!std::filesystem::exists(journal_of(n)));
  CHECK(n.rsagent("status").code == 3);
}

TEST_CASE("rsagent stop reverts everything when the journal was garbled while running") {
  AgentNode n(kConfig);
  const std::string before = n.ns.snapshot();
  start_node(n);
  n.write_file("state/journal.json", "garbage\n");
  const auto r = n.rsagent("stop");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("two starts at once: neither returns 0 before every VIP is in place") {
  std::string vips;
  for (int i = 0; i < 2000; ++i)
    vips += std::string(i ? "," : "") + "\"198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "\"";
  AgentNode n("{\"vips\": [" + vips + "]}");
  const std::string before = n.ns.snapshot();
  const std::string start = n.ns.exec(std::string(RSAGENT_BIN) + " --config " + n.config_path() +
                                      " --state-dir " + n.state_dir() + " start");
  const std::string count = n.ns.exec("sh -c \"ip -4 -o addr show dev lo | grep -c 198.18.\"");
  // Each start records its exit code and, right after it returned, how
  // many VIPs were on lo.
  must("sh -c '(" + start + " >" + n.dir() + "/a.out 2>&1; echo $? >" + n.dir() + "/a.code; " + count + " >" +
       n.dir() + "/a.count) & (" + start + " >" + n.dir() + "/b.out 2>&1; echo $? >" + n.dir() + "/b.code; " +
       count + " >" + n.dir() + "/b.count) & wait'");
  for (const char* who : {"a", "b"}) {
    CAPTURE(who);
    const std::string out = sh("cat " + n.dir() + "/" + who + ".out").out;
    CAPTURE(out);
    const int code = std::stoi(sh("cat " + n.dir() + "/" + who + ".code").out);
    if (code == 0) {
      CHECK(std::stoi(sh("cat " + n.dir() + "/" + who + ".count").out) == 2000);
    } else {
      CHECK(code == 1);
      CHECK(out.find("another start is in progress") != std::string::npos);
    }
  }
  CHECK(n.rsagent("stop").code == 0);
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("a reload asked while a drain-stop waits is refused at once, and the stop goes on") {
  AgentNode n(R"({"vips": ["198.51.100.100"], "stop": {"drain": "20s"}})");
  const std::string before = n.ns.snapshot();
  start_node(n);
  // A client connection to the VIP (to a listener that never accepts, so it
  // stays established) keeps the drain waiting.
  const int service = listen_in(n.ns, "198.51.100.100", 80);
  std::thread holder([&] {
    in_netns(n.ns, [&] {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(80);
      ::inet_pton(AF_INET, "198.51.100.100", &sa.sin_addr);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) std::this_thread::sleep_for(4s);
      ::close(fd);
    });
  });
  REQUIRE(wait_until([&] {
    return !n.ns.run("ss -Htn state established '( dport = :80 )'").out.empty();
  }, 5s));
  const int pid = n.daemon_pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGTERM) == 0);
  // The drain wait has begun once the directors are told "drain".
  REQUIRE(wait_until([&] {
    return n.ns.run("curl -s --max-time 2 http://127.0.0.1:9799/healthz").out == "drain\n";
  }, 5s));
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = n.rsagent("reload");
  const auto took = std::chrono::steady_clock::now() - t0;
  CAPTURE(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("stopping") != std::string::npos);
  CHECK(took < 3s);  // generous: the drain alone would hold it 20 s
  holder.join();
  ::close(service);
  REQUIRE(wait_until([&] { return ::kill(pid, 0) != 0; }, 30s));
  CHECK(n.ns.snapshot() == before);
}

TEST_CASE("stop without privileges exits 0 when nothing runs and nothing is recorded (package removal in a container)") {
  AgentNode n(kConfig);
  const std::string as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  const std::string stop = std::string(RSAGENT_BIN) + " --config " + n.config_path() + " --state-dir " +
                           n.state_dir() + " stop --now";
  sh("chmod 755 " + n.dir());
  // Never started: no state folder at all.
  auto r = n.ns.run(as_nobody + stop);
  CHECK_MESSAGE(r.code == 0, r.out);
  // Started and stopped: the folder is there, empty of a journal.
  start_node(n);
  REQUIRE(n.rsagent("stop").code == 0);
  r = n.ns.run(as_nobody + stop);
  CHECK_MESSAGE(r.code == 0, r.out);
  // Running: that still needs root, and says so.
  start_node(n);
  r = n.ns.run(as_nobody + stop);
  CHECK(r.code == 4);
  CHECK(n.rsagent("stop").code == 0);
}

TEST_CASE("an arp interface renamed while running gets its settings back under its new name") {
  AgentNode n(R"({"vips": ["198.51.100.1"], "arp": {"interfaces": ["all", "lo", "eth0"]}})");
  n.ns.ip("link add eth0 type veth peer name peer0");
  n.ns.set_sysctl("eth0", "arp_ignore", 0);
  n.ns.set_sysctl("eth0", "arp_announce", 0);
  const std::string all_before = n.ns.run("sh -c 'grep -r . /proc/sys/net/ipv4/conf/all/'").out;
  std::string how;
  SUBCASE("stop through the daemon (from its memory)") { how = "stop"; }
  SUBCASE("stop after the daemon was killed (from the journal file)") { how = "kill"; }
  CAPTURE(how);
  REQUIRE(n.rsagent("start").code == 0);
  REQUIRE(n.ns.sysctl("eth0", "arp_ignore") == 1);
  n.ns.ip("link set eth0 name eth9");
  if (how == "kill") {
    const int pid = n.daemon_pid();
    REQUIRE(pid > 0);
    ::kill(pid, SIGKILL);
    REQUIRE(wait_until([&] { return ::kill(pid, 0) != 0; }, 5s));
  }
  const auto r = n.rsagent("stop");
  CHECK_MESSAGE(r.code == 0, r.out);
  CHECK(n.ns.sysctl("eth9", "arp_ignore") == 0);
  CHECK(n.ns.sysctl("eth9", "arp_announce") == 0);
  CHECK(n.ns.run("sh -c 'grep -r . /proc/sys/net/ipv4/conf/all/'").out == all_before);
  CHECK(n.ns.addresses().dump().find("198.51.100.1") == std::string::npos);
}
