#include "netns.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RSAGENT_BIN
#error "RSAGENT_BIN must name the rsagent binary under test"
#endif

namespace rsagent::testing {

namespace {
std::atomic<int> g_counter{0};
constexpr const char* kPrefix = "rsat";
}  // namespace

CmdResult sh(const std::string& cmd) {
  CmdResult r;
  // No doctest assertions here: sh() also runs outside test cases (sweeping,
  // destructors), where a failing assertion would abort the run.
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    r.out = "cannot run: " + cmd;
    return r;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string must(const std::string& cmd) {
  auto r = sh(cmd);
  REQUIRE_MESSAGE(r.code == 0, "command failed (" << r.code << "): " << cmd << "\n" << r.out);
  return r.out;
}

std::string unique_name() {
  return std::string(kPrefix) + std::to_string(::getpid()) + "x" + std::to_string(g_counter++);
}

void sweep_stale_namespaces() {
  const auto out = sh("ip netns list").out;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    const std::string name = line.substr(0, line.find(' '));
    if (name.rfind(kPrefix, 0) != 0) continue;
    const auto x = name.find('x', 4);
    if (x == std::string::npos) continue;
    const pid_t owner = static_cast<pid_t>(std::atol(name.substr(4, x - 4).c_str()));
    if (owner > 0 && ::kill(owner, 0) != 0) {
      sh("for p in $(ip netns pids " + name + "); do kill -9 $p; done; ip netns del " + name);
    }
  }
}

Netns::Netns() : name_(unique_name()) {
  must("ip netns add " + name_);
  must("ip -n " + name_ + " link set lo up");
}

Netns::~Netns() {
  kill_all_processes();
  sh("ip netns del " + name_);
}

void Netns::kill_all_processes() const {
  sh("for p in $(ip netns pids " + name_ + "); do kill -9 $p; done");
}

std::string Netns::exec(const std::string& cmd) const { return "ip netns exec " + name_ + " " + cmd; }

std::string Netns::ip(const std::string& args) const { return must("ip -n " + name_ + " " + args); }

int Netns::sysctl(const std::string& iface, const std::string& name) const {
  const auto r = run("cat /proc/sys/net/ipv4/conf/" + iface + "/" + name);
  REQUIRE_MESSAGE(r.code == 0, r.out);
  return std::stoi(r.out);
}

void Netns::set_sysctl(const std::string& iface, const std::string& name, int value) const {
  must(exec("sh -c 'echo " + std::to_string(value) + " > /proc/sys/net/ipv4/conf/" + iface + "/" +
            name + "'"));
}

std::string Netns::snapshot() const {
  std::string s;
  s += "== addr\n" + must("ip -n " + name_ + " -j addr");
  s += "\n== route4\n" + must("ip -n " + name_ + " -j -4 route show table all");
  s += "\n== route6\n" + must("ip -n " + name_ + " -j -6 route show table all");
  s += "\n== sysctl\n" +
       must(exec("sh -c 'grep -H . /proc/sys/net/ipv4/conf/*/arp_ignore "
                 "/proc/sys/net/ipv4/conf/*/arp_announce'"));
  return s;
}

nlohmann::json Netns::addresses(const std::string& dev) const {
  const auto j = nlohmann::json::parse(must("ip -n " + name_ + " -j addr show dev " + dev));
  REQUIRE(j.size() == 1);
  return j[0]["addr_info"];
}

nlohmann::json Netns::routes(const std::string& family_flag) const {
  return nlohmann::json::parse(must("ip -n " + name_ + " -j " + family_flag + " route show table main"));
}

AgentNode::AgentNode(const std::string& config_text) {
  char tmpl[] = "/tmp/rsagent-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  dir_ = tmpl;
  std::filesystem::permissions(dir_, std::filesystem::perms(0755));
  write_config(config_text);
}

AgentNode::~AgentNode() {
  ns.kill_all_processes();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void AgentNode::write_config(const std::string& text) const { write_file("rsagent.json", text); }

void AgentNode::write_file(const std::string& rel, const std::string& text) const {
  const auto p = std::filesystem::path(dir_) / rel;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

CmdResult AgentNode::rsagent(const std::string& args) const {
  return ns.run(std::string(RSAGENT_BIN) + " --config " + config_path() + " --state-dir " +
                state_dir() + " " + args);
}

std::string AgentNode::run_in_background(const std::string& env, const std::string& options,
                                         const std::string& log) const {
  const std::string path = dir_ + "/" + log;
  ns.run("sh -c '" + env + " " + RSAGENT_BIN + " " + options + " --config " + config_path() + " --state-dir " +
         state_dir() + " run >" + path + " 2>&1 &'");
  return path;
}

int AgentNode::daemon_pid() const {
  std::ifstream in(state_dir() + "/rsagent.pid");
  int pid = 0;
  in >> pid;
  return pid;
}

Lan::Lan() {
  sw_.ip("link add br0 type bridge");
  sw_.ip("link set br0 up");
}

void Lan::attach(const Netns& host, const std::string& cidr, const std::string& ifname) {
  const std::string port = "p" + std::to_string(ports_++);
  sw_.ip("link add " + port + " type veth peer name " + ifname + " netns " + host.name());
  sw_.ip("link set " + port + " master br0 up");
  host.ip("addr add " + cidr + " dev " + ifname);
  host.ip("link set " + ifname + " up");
}

std::vector<std::string> arp_responders(const Netns& from, const std::string& ip) {
  // -r prints the MAC of each reply; -w bounds the run; exit 1 means no reply.
  const auto r = from.run("arping -i eth0 -c 4 -W 0.2 -w 3 -r " + ip);
  std::vector<std::string> macs;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() == 17 && line[2] == ':' &&
        std::find(macs.begin(), macs.end(), line) == macs.end())
      macs.push_back(line);
  }
  std::sort(macs.begin(), macs.end());
  return macs;
}

std::string mac_of(const Netns& host, const std::string& ifname) {
  const auto j = nlohmann::json::parse(host.ip("-j link show dev " + ifname));
  return j[0]["address"].get<std::string>();
}

bool has_addr(const nlohmann::json& addrs, const std::string& local, int prefix,
              const std::string& label) {
  for (const auto& a : addrs) {
    if (a.value("local", "") != local || a.value("prefixlen", -1) != prefix) continue;
    if (!label.empty() && a.value("label", "") != label) continue;
    return true;
  }
  return false;
}

bool has_route(const nlohmann::json& routes, const std::string& dst) {
  for (const auto& r : routes)
    if (r.value("dst", "") == dst && r.value("dev", "") == "lo") {
      const auto proto = r.contains("protocol") ? r["protocol"].dump() : std::string();
      if (proto == "\"244\"" || proto == "\"rsagent\"" || proto == "244") return true;
    }
  return false;
}

}  // namespace rsagent::testing
