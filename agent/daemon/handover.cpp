#include "rsagent/daemon/handover.hpp"

#include "rsagent/util/log.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

namespace rsagent::daemon {

namespace {
std::string list_of(const std::vector<config::Endpoint>& eps) {
  std::string out;
  for (const auto& e : eps) out += (out.empty() ? "" : ", ") + e.str();
  return out;
}
}  // namespace

ReloadPlan plan_reload(const config::Config& running, config::Config next) {
  ReloadPlan out;
  const auto& now = running.health;
  auto& h = next.health;
  if (!(h.listen == now.listen) || !(h.allow == now.allow) || !(h.agent_check == now.agent_check) ||
      !(h.http == now.http)) {
    out.note = "; health.listen/allow/agent_check/http changes take effect at the next restart";
    h.listen = now.listen;
    h.allow = now.allow;
    h.agent_check = now.agent_check;
    h.http = now.http;
  }
  // The gate's sockets stay as bound: binding a changed list in place
  // could half-fail after the network changed.
  if (!(h.tcp_gate == now.tcp_gate)) {
    out.note += "; health.tcp_gate changes take effect at the next restart (the gate still listens on " +
                (now.tcp_gate.empty() ? std::string("nothing") : list_of(now.tcp_gate)) + ")";
    h.tcp_gate = now.tcp_gate;
  }
  out.checks_changed = !(h.checks == now.checks) || h.maintenance_file != now.maintenance_file;
  if (out.checks_changed) out.note += "; checks restarted";
  out.next = std::move(next);
  return out;
}

int exec_self(const std::string& self_exe, const CommandOptions& opts) {
  std::vector<std::string> args{self_exe, "--config", opts.config, "--log-level", opts.log_level};
  if (opts.state_dir) {
    args.push_back("--state-dir");
    args.push_back(*opts.state_dir);
  }
  // The presence goes across the exec: `stop` and `status` see no gap.
  if (opts.presence_fd >= 0) {
    ::fcntl(opts.presence_fd, F_SETFD, 0);
    args.push_back("--presence-fd");
    args.push_back(std::to_string(opts.presence_fd));
  }
  args.push_back("run");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (!log::current().to_stderr) ::setenv("RSAGENT_DAEMONIZED", "1", 1);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execv(self_exe.c_str(), argv.data());
  log::error("restart: exec " + self_exe + ": " + std::strerror(errno) +
             "; the journal stays in place for `rsagent stop` or `rsagent start`");
  return exit_code::kFailure;
}

}  // namespace rsagent::daemon
