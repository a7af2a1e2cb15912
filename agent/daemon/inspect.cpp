// status, plan and check-config: commands that look and change nothing.
#include "rsagent/daemon/agent.hpp"
#include "rsagent/daemon/commands.hpp"
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/health/report.hpp"

#include <nlohmann/json.hpp>

#include <iostream>
#include <unistd.h>

namespace rsagent::daemon {

namespace {

using nlohmann::json;

void print_status_text(const json& st) {
  std::cout << "rsagent: " << st["state"].get<std::string>();
  if (st.contains("pid")) std::cout << " (pid " << st["pid"] << ")";
  std::cout << "\n  state folder: " << st["state_dir"].get<std::string>() << "\n";
  if (!st.contains("vips")) return;
  std::cout << "  VIPs:\n";
  for (const auto& v : st["vips"])
    std::cout << "    " << v["address"].get<std::string>() << "/" << v["prefix"]
              << (v["label"].get<std::string>().empty() ? "" : " label " + v["label"].get<std::string>())
              << "  " << (v["present"].get<bool>() ? "present" : "MISSING") << ", "
              << (v["owned"].get<bool>() ? "owned" : "adopted (left in place on stop)") << "\n";
  std::cout << "  routes:\n";
  for (const auto& r : st["routes"])
    std::cout << "    " << r["route"].get<std::string>() << "  "
              << (r["present"].get<bool>() ? "present" : "MISSING") << ", "
              << (r["owned"].get<bool>() ? "owned" : "adopted") << "\n";
  std::cout << "  sysctls:\n";
  for (const auto& s : st["sysctls"])
    std::cout << "    " << s["sysctl"].get<std::string>() << " = " << s["actual"].dump()
              << " (wanted " << s["wanted"] << ", original " << s["original"] << ")\n";
  if (!st["drift"].empty()) {
    std::cout << "  drift:\n";
    for (const auto& d : st["drift"]) std::cout << "    " << d.get<std::string>() << "\n";
  }
}

}  // namespace

int cmd_status(const CommandOptions& opts) {
  if (!opts.json)
    if (auto code = via_systemctl(opts, "status")) return *code;
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  const bool running = lock_is_held(paths.lockfile());
  json st{{"state_dir", paths.runtime}, {"running", running}};
  if (running) {
    if (auto pid = read_pid(paths.pidfile())) st["pid"] = *pid;
  }
  auto agent = Agent::open(paths);
  if (!agent) {
    std::cerr << "rsagent: " << agent.error().str() << "\n";
    return exit_code::kFailure;
  }
  auto j = (*agent)->journal();
  if (!j) {
    std::cerr << "rsagent: " << j.error().str() << "\n";
    return running ? exit_code::kStatusRunning : exit_code::kStatusDeadStateLeft;
  }
  const bool has_journal = j->has_value();
  if (has_journal) {
    auto have = (*agent)->observe(**j);
    if (!have) {
      std::cerr << "rsagent: " << have.error().str() << "\n";
      return exit_code::kFailure;
    }
    st.update(health::detail_json(describe_state(**j, *have)));
  }
  int code = exit_code::kStatusNotRunning;
  std::string state = "not running";
  if (running) {
    code = exit_code::kStatusRunning;
    state = "running";
  } else if (has_journal) {
    code = exit_code::kStatusDeadStateLeft;
    state = "dead, but its changes are still in place (run `rsagent stop` to revert, or `rsagent start`)";
  }
  st["state"] = state;
  if (opts.json) {
    std::cout << st.dump(2) << "\n";
  } else {
    print_status_text(st);
  }
  return code;
}

int cmd_plan(const CommandOptions& opts) {
  auto loaded = config::load(opts.config);
  if (!loaded.config) {
    for (const auto& d : loaded.errors) std::cerr << d.str() << "\n";
    return exit_code::kBadConfig;
  }
  const Paths paths = Paths::for_state_dir(opts.state_dir);
  auto agent = Agent::open(paths);
  if (!agent) {
    std::cerr << "rsagent: " << agent.error().str() << "\n";
    return exit_code::kFailure;
  }
  auto p = (*agent)->plan(*loaded.config);
  if (!p) {
    std::cerr << "rsagent: " << p.error().str() << "\n";
    return exit_code::kFailure;
  }
  for (const auto& e : p->errors) std::cerr << "rsagent: refused: " << e << "\n";
  for (const auto& w : p->warnings) std::cerr << "rsagent: warning: " << w << "\n";
  for (const auto& n : p->notes) std::cout << "= " << n << "\n";
  if (!p->errors.empty()) return exit_code::kFailure;
  if (p->actions.empty()) {
    std::cout << "nothing to change: the system already matches the configuration\n";
  } else {
    for (const auto& a : p->actions) std::cout << "+ " << a.str() << "\n";
    std::cout << p->actions.size() << " change(s) would be made by `rsagent start`\n";
  }
  return exit_code::kOk;
}

int cmd_check_config(const CommandOptions& opts) {
  auto loaded = config::load(opts.config);
  if (!loaded.config) {
    for (const auto& d : loaded.errors) std::cerr << d.str() << "\n";
    std::cerr << "rsagent: " << loaded.errors.size() << " configuration error(s)\n";
    return exit_code::kBadConfig;
  }
  const auto& c = *loaded.config;
  std::cout << "configuration OK: " << c.vips.size() << " VIP(s) from " << c.files.size()
            << " file(s)";
  for (const auto& f : c.files) std::cout << "\n  " << f;
  std::cout << "\n";
  return exit_code::kOk;
}

}  // namespace rsagent::daemon
