// Test support: throwaway network namespaces and an rsagent instance inside
// one. Everything is named rsat<pid>x<n> so parallel runs never collide, and
// every destructor kills what it started and deletes what it created, also
// when an assertion throws. Namespaces left by a crashed run (their pid is
// gone) are swept on the next start. Nothing here touches the host's
// namespace: every ip(8) call carries -n NAME or runs under ip netns exec.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace rsagent::testing {

struct CmdResult {
  int code = -1;
  std::string out;  // stdout and stderr together
};

// Runs /bin/sh -c CMD; fails the test only if the shell cannot start.
CmdResult sh(const std::string& cmd);
// Like sh(), but a non-zero exit fails the current test with the output.
std::string must(const std::string& cmd);

std::string unique_name();
void sweep_stale_namespaces();

class Netns {
 public:
  Netns();
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::string exec(const std::string& cmd) const;  // "ip netns exec NAME cmd"
  CmdResult run(const std::string& cmd) const { return sh(exec(cmd)); }
  std::string ip(const std::string& args) const;  // ip -n NAME args; must succeed

  [[nodiscard]] int sysctl(const std::string& iface, const std::string& name) const;
  void set_sysctl(const std::string& iface, const std::string& name, int value) const;

  // Addresses, routes of every table (v4 and v6) and every arp_* sysctl,
  // as text: equal snapshots mean nothing on the network changed.
  [[nodiscard]] std::string snapshot() const;
  [[nodiscard]] nlohmann::json addresses(const std::string& dev = "lo") const;
  [[nodiscard]] nlohmann::json routes(const std::string& family_flag) const;  // "-4" / "-6", main table

  void kill_all_processes() const;

 private:
  std::string name_;
};

// One node: a namespace with lo up, a temp folder with its config and state.
class AgentNode {
 public:
  explicit AgentNode(const std::string& config_text);
  ~AgentNode();
  AgentNode(const AgentNode&) = delete;
  AgentNode& operator=(const AgentNode&) = delete;

  Netns ns;
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] std::string config_path() const { return dir_ + "/rsagent.json"; }
  [[nodiscard]] std::string state_dir() const { return dir_ + "/state"; }
  void write_config(const std::string& text) const;
  void write_file(const std::string& rel, const std::string& text) const;
  // rsagent --config ... --state-dir ... ARGS inside the namespace.
  CmdResult rsagent(const std::string& args) const;
  // `rsagent run` in the background inside the namespace, as a service
  // manager runs it, after `env` (VAR=value ...) and with extra `options`;
  // its stdout and stderr go to dir()/log. Returns the log's path.
  std::string run_in_background(const std::string& env = "", const std::string& options = "",
                                const std::string& log = "run.log") const;
  [[nodiscard]] int daemon_pid() const;  // 0 when there is no pidfile

 private:
  std::string dir_;
};

// A layer-2 segment: a bridge in a namespace of its own, and one veth per
// attached host that appears in the host's namespace as `ifname`.
class Lan {
 public:
  Lan();
  void attach(const Netns& host, const std::string& cidr, const std::string& ifname = "eth0");
  [[nodiscard]] const Netns& switch_ns() const { return sw_; }

 private:
  Netns sw_;
  int ports_ = 0;
};

// MAC addresses that answered `arping` for `ip` from `from` on eth0
// (a few requests; empty when nobody answered).
std::vector<std::string> arp_responders(const Netns& from, const std::string& ip);
std::string mac_of(const Netns& host, const std::string& ifname = "eth0");

// Polls pred until it holds or the timeout passes; returns its last value.
template <typename F>
bool wait_until(F pred, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

// True when `addrs` (ip -j addr show dev lo) holds `local`/`prefix`, with
// `label` when given.
bool has_addr(const nlohmann::json& addrs, const std::string& local, int prefix,
              const std::string& label = "");
bool has_route(const nlohmann::json& routes, const std::string& dst);

}  // namespace rsagent::testing
