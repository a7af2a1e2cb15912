// rsagent's .deb under a real systemd, on each Debian release it supports:
// a root built with mmdebstrap (a fresh copy per run), the package
// installed with dpkg, booted with systemd-nspawn in a private network
// namespace, driven with nsenter. Checks the package and the unit: nothing
// touched on install, Type=notify start, reload, `systemctl restart` and
// the package upgrade without a gap, restart after a crash, stop reverting
// everything, purge leaving no file and no change behind.
#include "../support/netns.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <thread>
#include <vector>

using namespace rsagent::testing;
using namespace std::chrono_literals;

#ifndef RSAGENT_SOURCE_DIR
#error "RSAGENT_SOURCE_DIR must name the source tree"
#endif
#ifndef RSAGENT_PACKAGES_DIR
#error "RSAGENT_PACKAGES_DIR must name where the package tests put their .debs"
#endif
#ifndef RSAGENT_ROOTS_DIR
#error "RSAGENT_ROOTS_DIR must name where the container roots are kept"
#endif

namespace {

// A Debian release the .deb is tested on, and where its .deb was built:
// on the host (bookworm, tests/package/deb.sh) or in a root of that
// release (tests/package/deb-in-chroot.sh).
struct Distro {
  std::string suite;    // what mmdebstrap calls it
  std::string deb_dir;  // under RSAGENT_PACKAGES_DIR
  [[nodiscard]] std::string root() const { return std::string(RSAGENT_ROOTS_DIR) + "/e2e-" + suite; }
};
const Distro kBookworm{"bookworm", "deb"};
const Distro kTrixie{"trixie", "deb-trixie"};

std::string built_deb(const Distro& d) {
  const std::string dir = std::string(RSAGENT_PACKAGES_DIR) + "/" + d.deb_dir;
  auto r = sh("ls " + dir + "/rsagent_*.deb");
  REQUIRE_MESSAGE(r.code == 0, "no .deb in " << dir << ": the package test of " << d.suite
                                             << " builds it (ctest -L package, ctest -L trixie)");
  return r.out.substr(0, r.out.find('\n'));
}

// The packages a .deb depends on, by name: "a (>= 1), b | c" -> a, b.
// The container gets exactly these (and what they pull in), so the test
// also shows that Depends is complete, whatever the release calls its
// libraries (libcpp-httplib0.11 on Debian 12, libcpp-httplib0.18 on 13).
std::vector<std::string> depends_of(const std::string& deb) {
  std::vector<std::string> names;
  std::istringstream in(must("dpkg-deb -f " + deb + " Depends"));
  std::string item;
  while (std::getline(in, item, ',')) {
    item = item.substr(0, item.find_first_of("|(:"));
    const auto b = item.find_first_not_of(" \t\n");
    const auto e = item.find_last_not_of(" \t\n");
    if (b != std::string::npos) names.push_back(item.substr(b, e - b + 1));
  }
  REQUIRE_MESSAGE(!names.empty(), deb << " has no Depends");
  return names;
}

// Removes the copies (and kills the containers) of runs that died without
// cleaning up: ctest kills a test that runs past its timeout.
void sweep_stale_copies(const std::string& base) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(base).parent_path();
  const std::string prefix = fs::path(base).filename().string() + "-run-rsat";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0 || !entry.is_directory()) continue;
    const pid_t owner = static_cast<pid_t>(std::atol(name.substr(prefix.size()).c_str()));
    if (owner <= 0 || ::kill(owner, 0) == 0) continue;
    const std::string pidfile = entry.path().string() + ".log.pid";
    // Only the systemd-nspawn that booted this very copy.
    const int nspawn = std::atoi(sh("cat " + pidfile).out.c_str());
    if (nspawn > 0 && sh("tr '\\0' ' ' </proc/" + std::to_string(nspawn) + "/cmdline | grep -qF -- '-D " +
                         entry.path().string() + " '").code == 0)
      sh("kill -KILL " + std::to_string(nspawn));
    sh("rm -rf " + entry.path().string() + " " + entry.path().string() + ".log " + pidfile);
  }
}

// Builds (once per build tree, again when the .deb's Depends change) a
// minimal system of the release with systemd and what the .deb depends on.
std::string container_root(const Distro& d, const std::string& deb) {
  const std::string root = d.root();
  sweep_stale_copies(root);
  std::string include = "systemd,systemd-sysv,iproute2,dbus,curl,procps";
  for (const auto& p : depends_of(deb)) include += "," + p;
  const std::string cmd = "mmdebstrap --variant=minbase --include=" + include + " " + d.suite;
  if (sh("cat " + root + ".stamp").out == cmd + "\n" &&
      std::filesystem::exists(root + "/usr/lib/systemd/systemd"))
    return root;
  // Made beside and renamed: an interrupted mmdebstrap leaves no root that
  // looks complete.
  sh("rm -rf " + root + ".stamp " + root + " " + root + ".new");
  must("mkdir -p " + std::filesystem::path(root).parent_path().string());
  auto r = sh(cmd + " " + root + ".new");
  REQUIRE_MESSAGE(r.code == 0, "building the " << d.suite << " container root failed; the Debian package "
                               "mirror must be reachable (apt's sources). mmdebstrap said:\n"
                                   << r.out.substr(r.out.size() > 3000 ? r.out.size() - 3000 : 0));
  must("mv " + root + ".new " + root + " && echo '" + cmd + "' >" + root + ".stamp");
  return root;
}

// A throwaway copy of the cached root, so every run installs into a clean
// system; removed when it goes out of scope.
struct RootCopy {
  std::string path;
  explicit RootCopy(const std::string& base) : path(base + "-run-" + unique_name()) {
    must("cp -a " + base + " " + path);
  }
  ~RootCopy() { sh("rm -rf " + path); }
  RootCopy(const RootCopy&) = delete;
  RootCopy& operator=(const RootCopy&) = delete;
};

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
    log_ = root_ + ".log";
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



// Addresses, routes and the ARP sysctls of the container: what "nothing on
// the network changed" compares.
std::string network_state(const Container& c) {
  return c.must_run("sh -c 'ip -o addr; ip route show table all; ip -6 route show table all; "
                    "grep -r . /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce'");
}

// `ip monitor` inside the container from now until stopped; the lines it saw.
class Monitor {
 public:
  Monitor(const Container& c, std::string host_file, std::string file)
      : c_(c), host_file_(std::move(host_file)), file_(std::move(file)) {
    pid_ = c_.must_run("sh -c 'ip monitor address route >" + file_ + " 2>&1 & echo $!'");
    while (!pid_.empty() && pid_.back() == '\n') pid_.pop_back();
    std::this_thread::sleep_for(300ms);  // subscribed before anything happens
  }
  std::string stop() {
    std::this_thread::sleep_for(300ms);  // let late events arrive
    c_.run("kill " + pid_);
    return must("cat " + host_file_);
  }

 private:
  const Container& c_;
  std::string host_file_;
  std::string file_;
  std::string pid_;
};

void check_deb_under_systemd(const Distro& d) {
  const std::string deb = built_deb(d);
  const RootCopy root(container_root(d, deb));
  must("install -m 0644 " + deb + " " + root.path + "/root/rsagent.deb");
  Container c(root.path);
  c.must_run("sh -c 'echo 2 > /proc/sys/net/ipv4/conf/all/arp_ignore'");
  const std::string before = network_state(c);

  // Install: enabled, not started, nothing on the network changed.
  c.must_run("dpkg -i /root/rsagent.deb");
  const std::string files = c.must_run("dpkg -L rsagent");
  CHECK(c.run("systemctl is-active rsagent").out == "inactive\n");
  CHECK(c.run("systemctl is-enabled rsagent").out == "enabled\n");
  CHECK(network_state(c) == before);
  CHECK(c.run("curl -s --max-time 2 http://127.0.0.1:9799/healthz").code != 0);
  CHECK(c.run("test -s /usr/share/man/man5/rsagent.json.5.gz").code == 0);
  // The shipped configuration is valid and has no VIP.
  CHECK(c.must_run("rsagent check-config").find("0 VIP(s)") != std::string::npos);

  c.write("/etc/rsagent/rsagent.json",
          R"({"vips": ["198.51.100.100", "2001:db8::100"], "health": {"listen": ["127.0.0.1:9799"]}})");

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

  {
    // reload: a VIP added, the others untouched. (Also shows that the
    // monitor used below does see changes.)
    Monitor mon(c, root.path + "/root/mon-reload", "/root/mon-reload");
    c.write("/etc/rsagent/conf.d/50-more.json", R"({"vips": ["198.51.100.101"]})");
    c.must_run("systemctl reload rsagent");
    const std::string seen = mon.stop();
    INFO("ip monitor during the reload:\n" << seen);
    CHECK(seen.find("198.51.100.101") != std::string::npos);
    CHECK(seen.find("Deleted") == std::string::npos);
    CHECK(c.has_vip("198.51.100.101"));
    CHECK(c.has_vip("198.51.100.100"));
  }

  auto main_pid = [&] { return c.must_run("systemctl show -p MainPID --value rsagent"); };
  auto all_owned = [&] {
    const auto js = nlohmann::json::parse(c.must_run("rsagent status --json"));
    bool ok = js["drift"].empty() && js["vips"].size() == 3;
    for (const auto& v : js["vips"]) ok = ok && v["owned"] == true && v["present"] == true;
    return ok;
  };

  {
    // systemctl restart: the old process sees the restart job and hands
    // over; the new one adopts. Nothing is deleted in between.
    const std::string pid1 = main_pid();
    Monitor mon(c, root.path + "/root/mon-restart", "/root/mon-restart");
    c.must_run("systemctl restart rsagent");
    const std::string seen = mon.stop();
    INFO("ip monitor during systemctl restart:\n" << seen);
    CHECK(seen.find("Deleted") == std::string::npos);
    CHECK(main_pid() != pid1);
    CHECK(all_owned());
  }
  {
    // The package upgrade: postinst runs `rsagent try-restart`, the daemon
    // re-executes the new binary under the same pid; no stop, no gap.
    const std::string pid1 = main_pid();
    Monitor mon(c, root.path + "/root/mon-upgrade", "/root/mon-upgrade");
    const std::string out = c.must_run("dpkg -i /root/rsagent.deb");
    const std::string seen = mon.stop();
    INFO("dpkg said:\n" << out << "\nip monitor during the upgrade:\n" << seen);
    CHECK(out.find("rsagent restarted") != std::string::npos);
    CHECK(seen.find("Deleted") == std::string::npos);
    CHECK(main_pid() == pid1);
    CHECK(c.run("systemctl is-active rsagent").out == "active\n");
    CHECK(all_owned());
  }

  // A crash: systemd restarts it, the preserved journal keeps the ownership.
  const std::string pid1 = main_pid();
  c.must_run("systemctl kill -s KILL rsagent");
  REQUIRE(wait_until([&] {
    const auto pid = c.run("systemctl show -p MainPID --value rsagent").out;
    return pid != pid1 && pid != "0\n" && c.run("systemctl is-active rsagent").out == "active\n";
  }, 20s, 100ms));
  CHECK(c.has_vip("198.51.100.100"));
  CHECK(all_owned());

  // stop: everything reverted, the sysctls back to the originals.
  c.must_run("systemctl stop rsagent");
  CHECK_FALSE(c.has_vip("198.51.100.100"));
  CHECK_FALSE(c.has_vip("198.51.100.101"));
  CHECK_FALSE(c.has_vip("2001:db8::100"));
  CHECK(network_state(c) == before);

  // A bad configuration: the start fails with 6 and systemd does not loop.
  c.write("/etc/rsagent/rsagent.json", R"({"vips": ["not-an-ip"]})");
  CHECK(c.run("systemctl start rsagent").code != 0);
  std::this_thread::sleep_for(2s);
  CHECK(c.run("systemctl show -p NRestarts --value rsagent").out == "0\n");
  CHECK(c.run("systemctl show -p ExecMainStatus --value rsagent").out == "6\n");

  // Purge while it runs with VIPs: prerm stops it (reverting), purge removes
  // every file of the package and everything rsagent wrote.
  c.must_run("rm /etc/rsagent/conf.d/50-more.json");
  c.write("/etc/rsagent/rsagent.json", R"({"vips": ["198.51.100.100", "2001:db8::100"]})");
  c.must_run("systemctl reset-failed rsagent");
  c.must_run("systemctl start rsagent");
  REQUIRE(c.has_vip("198.51.100.100"));
  c.must_run("rsagent drain --reason purge-test");  // leaves /var/lib/rsagent/operator.json
  // STATUS= follows the verdict, so `systemctl status` shows the drain.
  CHECK(wait_until([&] {
    return c.run("systemctl show -p StatusText --value rsagent").out ==
           "drain: operator drained this node: purge-test; 2 VIP(s) in place\n";
  }, 10s, 100ms));
  c.must_run("env DEBIAN_FRONTEND=noninteractive apt-get purge -y rsagent");
  CHECK(c.run("dpkg -s rsagent").code != 0);
  std::istringstream list(files);
  std::string path;
  while (std::getline(list, path)) {
    if (path.empty() || path == "/." || sh("test -d " + root.path + path).code == 0) continue;
    INFO(path);
    CHECK(sh("test -e " + root.path + path).code != 0);
  }
  for (const char* dir : {"/etc/rsagent", "/var/lib/rsagent", "/run/rsagent", "/usr/share/doc/rsagent"}) {
    INFO(dir);
    CHECK(c.run(std::string("test -e ") + dir).code != 0);
  }
  CHECK(c.run("sh -c 'ls /etc/systemd/system/*/rsagent.service'").code != 0);
  CHECK(network_state(c) == before);

  // Removal in a container without CAP_NET_ADMIN never fails because of
  // rsagent: with nothing running, `rsagent stop` answers before it asks
  // for the capability.
  c.must_run("dpkg -i /root/rsagent.deb");
  const auto removed = c.run("setpriv --bounding-set=-net_admin --inh-caps=-net_admin -- "
                             "env DEBIAN_FRONTEND=noninteractive apt-get remove -y rsagent");
  CHECK_MESSAGE(removed.code == 0, removed.out);
  CHECK(c.run("sh -c \"dpkg -s rsagent 2>/dev/null | grep -q '^Status: install ok installed'\"").code != 0);
  CHECK(network_state(c) == before);
}

}  // namespace

TEST_CASE("Debian 12 bookworm: the .deb under systemd: install touches nothing, start, reload, restart and "
          "upgrade without a gap, kill -9, stop, purge leaves nothing") {
  check_deb_under_systemd(kBookworm);
}

TEST_CASE("Debian 13 trixie: the .deb under systemd: install touches nothing, start, reload, restart and "
          "upgrade without a gap, kill -9, stop, purge leaves nothing") {
  check_deb_under_systemd(kTrixie);
}
