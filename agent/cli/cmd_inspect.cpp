// status, plan and check-config: commands that look and change nothing.
#include "rsagent/net/engine.hpp"
#include "rsagent/cli/commands.hpp"
#include "rsagent/daemon/control.hpp"
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/cli/directors_text.hpp"
#include "rsagent/daemon/presence.hpp"
#include "rsagent/verdict/net_health.hpp"
#include "rsagent/endpoint/report.hpp"
#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <iostream>
#include <optional>
#include <unistd.h>

namespace rsagent::cli {

namespace {

using nlohmann::json;

// Strings in the status come from outside (check output, operator reasons):
// shown printable whatever reached us.
std::string shown(const json& v) { return text::printable(v.is_string() ? v.get<std::string>() : v.dump()); }

std::string utc(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char buf[32] = {};
  if (::gmtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
    return std::to_string(unix_seconds);
  return buf;
}

void print_health_text(const json& st) {
  const auto& h = st["health"];
  std::cout << "  health: " << shown(h["state"])
            << (h["reason"].get<std::string>().empty() ? "" : " (" + shown(h["reason"]) + ")") << "\n";
  const auto& op = st["operator"];
  std::cout << "  operator: " << shown(op["state"]);
  if (op["since"].get<std::int64_t>() > 0) std::cout << " since " << utc(op["since"].get<std::int64_t>());
  if (!op["reason"].get<std::string>().empty()) std::cout << " (" << shown(op["reason"]) << ")";
  std::cout << "\n";
  if (st["checks"].empty()) return;
  std::cout << "  checks:\n";
  for (const auto& c : st["checks"])
    std::cout << "    " << shown(c["name"]) << " (" << shown(c["type"]) << ")  " << shown(c["state"])
              << "  " << shown(c["detail"]) << "\n";
}

// The ARP guard: whether it watches, this node's leaks, and the
// segments where more than one host answered for a VIP.
void print_arp_guard_text(const json& g) {
  if (!g.value("enabled", false)) {
    std::cout << "  ARP guard: off" << (g.contains("off_reason") ? " (" + shown(g["off_reason"]) + ")" : "")
              << "\n";
    return;
  }
  std::string ifs;
  for (const auto& i : g["interfaces"]) ifs += (ifs.empty() ? "" : ", ") + shown(i);
  std::cout << "  ARP guard: " << (g.value("probing", false) ? "probing" : "watching") << " on "
            << (ifs.empty() ? "no interface" : ifs) << " (on_leak " << shown(g["on_leak"]) << "); "
            << g.value("probes_sent", 0) << " probe(s) sent\n";
  if (g["leaks"].empty()) {
    std::cout << "    leaks: none\n";
  } else {
    for (const auto& l : g["leaks"])
      std::cout << "    LEAK: " << shown(l["vip"]) << " on " << shown(l["interface"]) << ": "
                << shown(l["kind"]) << " x" << l.value("count", 0) << ", last "
                << utc(l.value("last", std::int64_t{0})) << "\n";
  }
  for (const auto& seg : g["segments"]) {
    if (!seg.value("flux", false)) continue;
    std::string who;
    for (const auto& r : seg["responders"])
      who += (who.empty() ? "" : ", ") + shown(r["mac"]) + (r["ip"].is_string() ? " (" + shown(r["ip"]) + ")" : "");
    std::cout << "    FLUX: " << shown(seg["vip"]) << " on " << shown(seg["interface"]) << " answered by "
              << seg["responders"].size() << " hosts: " << who << "\n";
  }
}

// The TCP gate as the kernel has its sockets, and what the verdict wants.
void print_tcp_gate_text(const json& g) {
  std::string where;
  for (const auto& l : g["listeners"])
    where += (where.empty() ? "" : ", ") + shown(l["listen"]) + (l.value("listening", false) ? "" : " (not listening)");
  const bool open = g.value("open", false);
  const bool want = g.value("want_open", open);
  std::cout << "  TCP gate: " << (open ? "open" : "closed") << " on " << where
            << (open == want ? "" : want ? " (should be open: reopening)" : " (should be closed)") << "; "
            << g.value("connections", 0) << " connection(s) accepted\n";
}

void print_status_text(const json& st) {
  std::cout << "rsagent: " << st["state"].get<std::string>();
  if (st.contains("pid")) std::cout << " (pid " << st["pid"] << ")";
  std::cout << "\n  state folder: " << st["state_dir"].get<std::string>() << "\n";
  print_health_text(st);
  if (st.contains("tcp_gate")) print_tcp_gate_text(st["tcp_gate"]);
  if (st.contains("arp_guard")) print_arp_guard_text(st["arp_guard"]);
  std::cout << directors_text(st);
  if (!st.contains("vips")) return;
  std::cout << "  VIPs:\n";
  for (const auto& v : st["vips"])
    std::cout << "    " << v["address"].get<std::string>() << "/" << v["prefix"]
              << (v["label"].get<std::string>().empty() ? "" : " label " + v["label"].get<std::string>())
              << (v.value("mode", "address") == "route" ? " (local route)" : "")
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
  if (st.contains("tunnel")) {
    std::cout << "  tunnel:\n";
    for (const auto& t : st["tunnel"])
      std::cout << "    " << t["item"].get<std::string>() << "  "
                << (t["present"].get<bool>() ? "present" : "MISSING") << ", "
                << (t["owned"].get<bool>() ? "owned" : "adopted (left in place on stop)") << "\n";
  }
  if (!st["drift"].empty()) {
    std::cout << "  drift:\n";
    for (const auto& d : st["drift"]) std::cout << "    " << d.get<std::string>() << "\n";
  }
}

// The state folder when this process may not read what it holds (a user
// other than root: the lock and the journal are 0600).
std::optional<std::string> unreadable(const daemon::Paths& paths) {
  for (const auto& f : {paths.lockfile(), paths.journal()}) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
    } else if (errno == EACCES || errno == EPERM) {
      return paths.runtime;
    }
  }
  return std::nullopt;
}

// The health part of the status: the running daemon's verdict, operator
// state and checks, or, without a daemon, the operator state on disk.
json health_of(const daemon::Paths& paths, bool running) {
  if (running) {
    auto reply = daemon::control_call(paths.control_socket(), {"status", "", false});
    if (reply && reply->ok) {
      json h = json::parse(reply->message, nullptr, false);
      if (h.is_object() && h.contains("health") && h.contains("operator") && h.contains("checks"))
        return h;
    }
    const std::string why = !reply ? reply.error().str()
                                   : (reply->ok ? "malformed answer" : reply->message);
    json h{{"health", {{"state", "unknown"}, {"reason", "the daemon did not tell: " + why}}},
           {"checks", json::array()}};
    auto op = daemon::OperatorStore(paths.persistent + "/operator.json").load();
    h["operator"] = endpoint::operator_json(op ? *op : verdict::OperatorState{});
    return h;
  }
  json h{{"health", {{"state", "down"}, {"reason", "rsagent is not running"}}},
         {"checks", json::array()}};
  auto op = daemon::OperatorStore(paths.persistent + "/operator.json").load();
  if (!op) {
    h["operator"] = {{"state", "unknown"}, {"reason", op.error().str()}, {"since", 0}};
  } else {
    h["operator"] = endpoint::operator_json(*op);
  }
  return h;
}

}  // namespace

int cmd_status(const CommandOptions& opts) {
  if (!opts.json)
    if (auto code = via_systemctl(opts, "status")) return *code;
  const daemon::Paths paths = daemon::Paths::for_state_dir(opts.state_dir);
  if (auto dir = unreadable(paths)) {
    std::cerr << "rsagent: cannot read " << *dir << ": permission denied (run as root)\n";
    return exit_code::kNotPrivileged;
  }
  // Found by its presence, never by files alone: the state folder may be gone.
  const auto holder = daemon::presence_holder(paths);
  const bool running = holder.has_value() || daemon::lock_is_held(paths.lockfile());
  json st{{"state_dir", paths.runtime}, {"running", running}};
  if (holder && holder->pid > 0) {
    st["pid"] = holder->pid;
  } else if (running) {
    if (auto pid = daemon::read_pid(paths.pidfile())) st["pid"] = *pid;
  }
  st.update(health_of(paths, running));
  auto engine = net::Engine::open(paths.journal());
  if (!engine) {
    std::cerr << "rsagent: " << engine.error().str() << "\n";
    return exit_code::kFailure;
  }
  auto j = (*engine)->journal();
  if (!j) {
    std::cerr << "rsagent: " << j.error().str() << "\n";
    return running ? exit_code::kStatusRunning : exit_code::kStatusDeadStateLeft;
  }
  const bool has_journal = j->has_value();
  if (has_journal) {
    auto have = (*engine)->observe(**j);
    if (!have) {
      std::cerr << "rsagent: " << have.error().str() << "\n";
      return exit_code::kFailure;
    }
    st.update(endpoint::detail_json(verdict::describe_state(**j, *have)));
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
    std::cout << st.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
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
  const daemon::Paths paths = daemon::Paths::for_state_dir(opts.state_dir);
  auto engine = net::Engine::open(paths.journal());
  if (!engine) {
    std::cerr << "rsagent: " << engine.error().str() << "\n";
    return exit_code::kFailure;
  }
  auto p = (*engine)->plan(*loaded.config);
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
  if (opts.print) {
    std::cout << config::render(c);
    return exit_code::kOk;
  }
  std::cout << "configuration OK: " << c.vips.size() << " VIP(s) from " << c.files.size()
            << " file(s)";
  for (const auto& f : c.files) std::cout << "\n  " << f;
  std::cout << "\n";
  return exit_code::kOk;
}

}  // namespace rsagent::cli
