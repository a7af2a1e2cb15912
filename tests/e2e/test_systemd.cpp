// rsagent under a real systemd: a Debian 12 root built with mmdebstrap,
// booted with systemd-nspawn in a private network namespace, driven with
// nsenter. Checks the unit: Type=notify start, reload, restart after a
// crash (Restart=on-failure, journal preserved), stop reverting everything.
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace rsagent::testing;
using namespace std::chrono_literals;

#ifndef RSAGENT_SOURCE_DIR
#error "RSAGENT_SOURCE_DIR must name the source tree"
#endif
#ifndef RSAGENT_E2E_ROOT
#error "RSAGENT_E2E_ROOT must name where the container root is built"
#endif

namespace {

// Builds (once per build tree) a minimal Debian 12 with systemd and the
// libraries rsagent links against.
std::string container_root() {
  const std::string root = RSAGENT_E2E_ROOT;
  if (std::filesystem::exists(root + "/usr/lib/systemd/systemd")) return root;
  std::filesystem::remove_all(root);
  auto r = sh("mmdebstrap --variant=minbase --include=systemd,systemd-sysv,iproute2,dbus,"
              "libnl-route-3-200,libcpp-httplib0.11,curl,procps bookworm " + root);
  REQUIRE_MESSAGE(r.code == 0, "building the Debian 12 container root failed; the Debian package "
                               "mirror must be reachable (apt's sources). mmdebstrap said:\n"
                                   << r.out.substr(r.out.size() > 3000 ? r.out.size() - 3000 : 0));
  return root;
}

// Kills systemd-nspawn (and so the container) when it goes out of scope,
// including when the Container constructor fails half-way.
struct NspawnGuard {
  int pid = 0;
  ~NspawnGuard() {
    if (pid <= 0) return;
    sh("kill -TERM " + std::to_string(pid));
    for (int i = 0; i < 100 && sh("kill -0 " + std::to_string(pid)).code == 0; ++i)
      std::this_thread::sleep_for(100ms);
    sh("kill -KILL " + std::to_string(pid));
  }
};

class Container {
 public:
  explicit Container(const std::string& root) : root_(root), name_(unique_name()) {
    log_ = std::string(RSAGENT_E2E_ROOT) + "-" + name_ + ".log";
    must("sh -c 'systemd-nspawn --quiet --register=no --keep-unit --private-network -M " + name_ +
         " -D " + root_ + " -b >" + log_ + " 2>&1 & echo $! >" + log_ + ".pid'");
    nspawn_.pid = std::stoi(must("cat " + log_ + ".pid"));
    // The container's init is nspawn's child.
    for (int i = 0; i < 300 && init_ == 0; ++i) {
      init_ = std::atoi(sh("pgrep -P " + std::to_string(nspawn_.pid) + " -x systemd").out.c_str());
      if (init_ == 0) std::this_thread::sleep_for(100ms);
    }
    REQUIRE_MESSAGE(init_ > 0, "the container did not boot:\n" << sh("cat " + log_).out);
    // Until its bus is up, systemctl cannot even ask; then wait for boot.
    CmdResult state;
    for (int i = 0; i < 120; ++i) {
      state = run("systemctl is-system-running --wait");
      if (state.out.find("running") != std::string::npos ||
          state.out.find("degraded") != std::string::npos)
        break;
      std::this_thread::sleep_for(500ms);
    }
    REQUIRE_MESSAGE((state.out.find("running") != std::string::npos ||
                     state.out.find("degraded") != std::string::npos),
                    state.out << "\n" << sh("cat " + log_).out);
  }
  ~Container() { sh("rm -f " + log_ + " " + log_ + ".pid"); }
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  CmdResult run(const std::string& cmd) const {
    return sh("nsenter -t " + std::to_string(init_) + " -a " + cmd);
  }
  std::string must_run(const std::string& cmd) const {
    auto r = run(cmd);
    REQUIRE_MESSAGE(r.code == 0, cmd << ":\n" << r.out);
    return r.out;
  }
  void write(const std::string& path, const std::string& text) const {
    std::ofstream(root_ + path) << text;
  }
  [[nodiscard]] int sysctl(const std::string& key) const {
    return std::stoi(must_run("cat /proc/sys/net/ipv4/conf/" + key));
  }
  [[nodiscard]] bool has_vip(const std::string& ip) const {
    return run("ip -o addr show dev lo").out.find(" " + ip + "/") != std::string::npos;
  }

 private:
  std::string root_;
  std::string name_;
  std::string log_;
  NspawnGuard nspawn_;
  int init_ = 0;
};


}  // namespace

TEST_CASE("under systemd: start, reload, restart after kill -9, stop reverting everything") {
  const std::string root = container_root();
  // The freshly built binary and unit, as the package would install them.
  must(std::string("install -m 0755 ") + RSAGENT_BIN + " " + root + "/usr/sbin/rsagent");
  must(std::string("install -m 0644 ") + RSAGENT_SOURCE_DIR + "/units/rsagent.service " + root +
       "/etc/systemd/system/rsagent.service");
  must("mkdir -p " + root + "/etc/rsagent/conf.d " + root + "/etc/iproute2/rt_protos.d");
  must(std::string("install -m 0644 ") + RSAGENT_SOURCE_DIR + "/packaging/iproute2/rsagent.conf " +
       root + "/etc/iproute2/rt_protos.d/rsagent.conf");
  Container c(root);
  c.write("/etc/rsagent/rsagent.json",
          R"({"vips": ["198.51.100.100", "2001:db8::100"], "health": {"listen": ["127.0.0.1:9799"]}})");
  c.must_run("sh -c 'echo 2 > /proc/sys/net/ipv4/conf/all/arp_ignore'");
  c.must_run("systemctl daemon-reload");

  // `rsagent start` hands over to systemctl; Type=notify returns once READY=1.
  c.must_run("rsagent start");
  CHECK(c.run("systemctl is-active rsagent").out == "active\n");
  CHECK(c.has_vip("198.51.100.100"));
  CHECK(c.has_vip("2001:db8::100"));
  CHECK(c.must_run("ip route show table main").find("198.51.100.100 dev lo proto rsagent") != std::string::npos);
  CHECK(c.sysctl("all/arp_ignore") == 1);
  CHECK(c.sysctl("lo/arp_announce") == 2);
  CHECK(wait_until([&] { return c.run("curl -s http://127.0.0.1:9799/healthz").out == "ready\n"; }, 20s, 100ms));
  auto status = c.run("rsagent status");
  CHECK(status.code == 0);
  CHECK(status.out.find("rsagent.service") != std::string::npos);  // systemctl's view

  // reload: a VIP added, the others untouched.
  c.write("/etc/rsagent/conf.d/50-more.json", R"({"vips": ["198.51.100.101"]})");
  c.must_run("systemctl reload rsagent");
  CHECK(c.has_vip("198.51.100.101"));
  CHECK(c.has_vip("198.51.100.100"));

  // A crash: systemd restarts it, the preserved journal keeps the ownership.
  const std::string pid1 = c.must_run("systemctl show -p MainPID --value rsagent");
  c.must_run("systemctl kill -s KILL rsagent");
  REQUIRE(wait_until([&] {
    const auto pid = c.run("systemctl show -p MainPID --value rsagent").out;
    return pid != pid1 && pid != "0\n" && c.run("systemctl is-active rsagent").out == "active\n";
  }, 20s, 100ms));
  CHECK(c.has_vip("198.51.100.100"));
  const auto js = nlohmann::json::parse(c.must_run("rsagent status --json"));
  for (const auto& v : js["vips"]) CHECK(v["owned"] == true);
  CHECK(js["drift"].empty());

  // stop: everything reverted, the sysctls back to the originals.
  c.must_run("systemctl stop rsagent");
  CHECK_FALSE(c.has_vip("198.51.100.100"));
  CHECK_FALSE(c.has_vip("198.51.100.101"));
  CHECK_FALSE(c.has_vip("2001:db8::100"));
  CHECK(c.must_run("ip route show table main").find("198.51.100.100") == std::string::npos);
  CHECK(c.sysctl("all/arp_ignore") == 2);
  CHECK(c.sysctl("lo/arp_announce") == 0);

  // A bad configuration: the start fails with 6 and systemd does not loop.
  c.write("/etc/rsagent/rsagent.json", R"({"vips": ["not-an-ip"]})");
  CHECK(c.run("systemctl start rsagent").code != 0);
  std::this_thread::sleep_for(2s);
  CHECK(c.run("systemctl show -p NRestarts --value rsagent").out == "0\n");
  CHECK(c.run("systemctl show -p ExecMainStatus --value rsagent").out == "6\n");
}
