#include "rsagent/cli/table.hpp"

#include "rsagent/cli/commands.hpp"

#include <array>
#include <iostream>
#include <sstream>

namespace rsagent::cli {

namespace {

std::optional<std::string> set_json(CommandOptions& o, const std::string&) {
  o.json = true;
  return std::nullopt;
}
std::optional<std::string> set_print(CommandOptions& o, const std::string&) {
  o.print = true;
  return std::nullopt;
}
std::optional<std::string> set_now(CommandOptions& o, const std::string&) {
  o.now = true;
  return std::nullopt;
}
std::optional<std::string> set_watch(CommandOptions& o, const std::string&) {
  o.watch = true;
  return std::nullopt;
}
std::optional<std::string> set_reason(CommandOptions& o, const std::string& v) {
  o.reason = v;
  return std::nullopt;
}
std::optional<std::string> set_force(CommandOptions& o, const std::string&) {
  o.force = true;
  return std::nullopt;
}
std::optional<std::string> set_wait(CommandOptions& o, const std::string&) {
  o.wait = true;
  return std::nullopt;
}
// --timeout: at least a second, at most a day; --quiet: 0 to 10 minutes.
std::optional<std::string> set_duration(std::chrono::milliseconds& out, const std::string& opt,
                                        const std::string& v, std::chrono::milliseconds lo,
                                        std::chrono::milliseconds hi, const char* example) {
  const auto d = parse_duration_arg(v);
  if (!d || *d < lo || *d > hi)
    return opt + " \"" + v + "\" is not a duration from " + duration_text(lo) + " to " + duration_text(hi) +
           "; write it like " + opt + " " + example;
  out = *d;
  return std::nullopt;
}
std::optional<std::string> set_timeout(CommandOptions& o, const std::string& v) {
  using std::chrono::milliseconds;
  return set_duration(o.wait_timeout, "--timeout", v, milliseconds(1000), milliseconds(86'400'000), "20s or 15m");
}
std::optional<std::string> set_quiet(CommandOptions& o, const std::string& v) {
  using std::chrono::milliseconds;
  return set_duration(o.wait_quiet, "--quiet", v, milliseconds(0), milliseconds(600'000), "5s or 500ms");
}
std::optional<std::string> set_connections(CommandOptions& o, const std::string& v) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
    return "--connections \"" + v + "\" is not a number; write how many open connections to the VIPs "
           "may be left, like --connections 10";
  o.wait_connections = std::stoul(v);
  return std::nullopt;
}

constexpr std::array kStatusOptions{Option{"--json", "", "the same as JSON", &set_json}};
constexpr std::array kStopOptions{
    Option{"--now", "", "skip the graceful drain wait (stop.drain)", &set_now}};
constexpr std::array kCheckOptions{
    Option{"--print", "", "show the merged configuration, each setting with its file", &set_print}};
constexpr std::array kFleetOptions{
    Option{"--json", "", "the records as JSON", &set_json},
    Option{"--watch", "", "keep following: print again on every change", &set_watch}};
constexpr std::array kOperatorOptions{
    Option{"--reason", "TEXT", "why, shown in status and to the directors", &set_reason},
    Option{"--wait", "",
           "with a drain budget (fleet.drain_budget), first wait in line for a slot, saying "
           "who holds them; then return once it took hold: every director that polled in the "
           "last minute polled again and was answered so, no new connection for --quiet, at "
           "most --connections open; exit 1 after --timeout with what is not done; Ctrl-C "
           "(exit 130) stops waiting and leaves the state",
           &set_wait},
    Option{"--timeout", "DUR", "with --wait: how long to wait (default 10m)", &set_timeout},
    Option{"--quiet", "DUR", "with --wait: no new connection for this long (default 5s)", &set_quiet},
    Option{"--connections", "N", "with --wait: open connections to the VIPs that may be left (default 0)",
           &set_connections},
    Option{"--force", "",
           "with a drain budget: go out even when no slot is free or etcd is unreachable (the "
           "answer says how many other nodes may then be out at once)",
           &set_force}};

// drain and maint: the wait options mean nothing without --wait.
int run_operator(const CommandOptions& o, const std::string& cmd) {
  const CommandOptions defaults;
  std::string set;
  if (o.wait_timeout != defaults.wait_timeout) set += " --timeout";
  if (o.wait_quiet != defaults.wait_quiet) set += " --quiet";
  if (o.wait_connections != defaults.wait_connections) set += " --connections";
  if (!o.wait && !set.empty()) {
    std::cerr << "rsagent:" << set << (set.find(' ', 1) == std::string::npos ? " goes" : " go")
              << " with --wait: `rsagent " << cmd << " --wait" << set << " ...`\nTry `rsagent --help`.\n";
    return exit_code::kUsage;
  }
  return o.wait ? cmd_operator_wait(o, cmd) : cmd_operator(o, cmd);
}
int run_drain(const CommandOptions& o) { return run_operator(o, "drain"); }
int run_maint(const CommandOptions& o) { return run_operator(o, "maint"); }
int run_ready(const CommandOptions& o) { return cmd_operator(o, "ready"); }
int run_restart(const CommandOptions& o) { return cmd_restart(o, false); }
int run_try_restart(const CommandOptions& o) { return cmd_restart(o, true); }
int run_version(const CommandOptions&) {
  std::cout << "rsagent " << RSAGENT_VERSION << "\n";
  return exit_code::kOk;
}

constexpr std::array kCommands{
    Command{"run", {}, &cmd_run, "run the daemon in the foreground (what systemd runs)"},
    Command{"start", {}, &cmd_start, "start the daemon; returns once everything is applied"},
    Command{"stop", kStopOptions, &cmd_stop,
            "revert every change and stop the daemon (also after a crash)"},
    Command{"status", kStatusOptions, &cmd_status,
            "what is applied and owned, and any drift (exit 0 running, 1 dead but changes "
            "left, 3 not running, 4 not privileged)"},
    Command{"plan", {}, &cmd_plan, "print what `start` would change; changes nothing"},
    Command{"drain", kOperatorOptions, &run_drain, "report \"drain\" to the directors (no new flows)"},
    Command{"maint", kOperatorOptions, &run_maint, "report maintenance (the node is taken out)"},
    Command{"ready", {}, &run_ready, "back from drain or maint"},
    Command{"reload", {}, &cmd_reload,
            "re-read the configuration in the running daemon (SIGHUP); returns once applied; a "
            "bad configuration exits 6 and changes nothing"},
    Command{"restart", {}, &run_restart,
            "replace the daemon with the binary now on disk, keeping every VIP, route and sysctl "
            "in place (no gap); starts it when it is not running"},
    Command{"try-restart", {}, &run_try_restart,
            "the same, but only when it is running (package upgrades)"},
    Command{"check-config", kCheckOptions, &cmd_check_config,
            "validate the configuration; changes nothing"},
    Command{"fleet", kFleetOptions, &cmd_fleet,
            "every node of the fleet from etcd (the config's fleet section): name, verdict, "
            "state, reason, VIPs, directors, age; what needs attention first. Needs no daemon"},
    Command{"version", {}, &run_version, "print the version"},
};

constexpr std::string_view kIntro = R"(usage: rsagent [OPTIONS] COMMAND [ARGS]

Puts LVS direct-routing VIPs on lo, adds their host routes, tames ARP, and
puts back exactly what was there before when it stops.

Commands:
)";

constexpr std::string_view kGlobal = R"(
Options:
  --config FILE     main configuration file (default /etc/rsagent/rsagent.json;
                    conf.d/*.json beside it is merged in lexical order)
  --state-dir DIR   keep every file rsagent writes under DIR
                    (default /run/rsagent and /var/lib/rsagent)
  --log-level LVL   error, warning, notice, info (default) or debug
  -h, --help        this help

Exit codes: 0 ok, 1 failure, 2 usage, 4 not privileged, 6 bad configuration,
130 drain/maint --wait interrupted (the state stays).
)";

constexpr std::size_t kHelpColumn = 21;
constexpr std::size_t kWidth = 79;

// `head` in its column, then `text` wrapped at kWidth, continued at
// kHelpColumn.
void entry(std::ostringstream& out, const std::string& head, std::string_view text) {
  out << head;
  std::size_t col = head.size();
  if (col + 1 >= kHelpColumn) {
    out << "\n";
    col = 0;
  }
  out << std::string(kHelpColumn - col, ' ');
  col = kHelpColumn;
  std::istringstream words{std::string(text)};
  std::string w;
  bool first = true;
  while (words >> w) {
    if (!first && col + 1 + w.size() > kWidth) {
      out << "\n" << std::string(kHelpColumn, ' ');
      col = kHelpColumn;
    } else if (!first) {
      out << ' ';
      ++col;
    }
    out << w;
    col += w.size();
    first = false;
  }
  out << "\n";
}

}  // namespace

std::span<const Command> commands() { return kCommands; }

const Command* find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

std::optional<std::string> parse_options(const Command& c, std::span<const std::string> args,
                                         CommandOptions& opts) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const Option* found = nullptr;
    std::string value;
    for (const auto& o : c.options) {
      if (a == o.name) {
        found = &o;
        if (!o.value.empty()) {
          if (i + 1 >= args.size())
            return std::string(o.name) + " needs a value: " + std::string(o.name) + " " + std::string(o.value);
          value = args[++i];
        }
        break;
      }
      if (!o.value.empty() && a.size() > o.name.size() && a.compare(0, o.name.size(), o.name) == 0 &&
          a[o.name.size()] == '=') {
        found = &o;
        value = a.substr(o.name.size() + 1);
        break;
      }
    }
    if (found == nullptr) {
      std::string takes;
      for (const auto& o : c.options) takes += (takes.empty() ? "" : ", ") + std::string(o.name);
      return "`" + std::string(c.name) + "` does not take " + a +
             (takes.empty() ? " (it takes no options)" : " (it takes " + takes + ")");
    }
    if (auto err = found->set(opts, value)) return err;
  }
  return std::nullopt;
}

std::string usage() {
  std::ostringstream out;
  out << kIntro;
  for (const auto& c : kCommands) {
    entry(out, "  " + std::string(c.name), c.help);
    for (const auto& o : c.options)
      entry(out, "    " + std::string(o.name) + (o.value.empty() ? "" : " " + std::string(o.value)),
            o.help);
  }
  out << kGlobal;
  return out.str();
}

}  // namespace rsagent::cli
