// CLI parsing and dispatch only; the commands live in agent/daemon/.
// Built twice: as rsagent, the CLI (no cpp-httplib, no OpenSSL: every
// start, stop, status and drain starts fast), and with RSAGENT_DAEMON_BINARY
// as rsagentd, the daemon, which runs only `run` (the CLI's `run` and
// `start` exec it) and links the http check.
#include "rsagent/cli/commands.hpp"
#include "rsagent/util/log.hpp"
#ifdef RSAGENT_DAEMON_BINARY
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/checks/http_check.hpp"
#endif

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#ifndef RSAGENT_VERSION
#define RSAGENT_VERSION "0.0.0"
#endif

namespace {

using rsagent::daemon::CommandOptions;
namespace exit_code = rsagent::daemon::exit_code;

#ifndef RSAGENT_DAEMON_BINARY
constexpr const char* kHelp = R"(usage: rsagent [OPTIONS] COMMAND [ARGS]

Puts LVS direct-routing VIPs on lo, adds their host routes, tames ARP, and
puts back exactly what was there before when it stops.

Commands:
  run             run the daemon in the foreground (what systemd runs)
  start           start the daemon; returns once everything is applied
  stop [--now]    revert every change and stop the daemon (also after a crash);
                  --now skips the graceful drain wait (stop.drain)
  status [--json] what is applied and owned, and any drift (exit 0 running,
                  1 dead but changes left, 3 not running, 4 not privileged)
  plan            print what `start` would change; changes nothing
  drain [--reason TEXT]  report "drain" to the directors (no new flows)
  maint [--reason TEXT]  report maintenance (the node is taken out)
  ready           back from drain or maint
  reload          re-read the configuration in the running daemon (SIGHUP);
                  returns once applied; a bad configuration exits 6 and
                  changes nothing
  restart         replace the daemon with the binary now on disk, keeping
                  every VIP, route and sysctl in place (no gap); starts it
                  when it is not running
  try-restart     the same, but only when it is running (package upgrades)
  check-config [--print]  validate the configuration; changes nothing;
                  --print shows it merged, each setting with its file
  version         print the version

Options:
  --config FILE     main configuration file (default /etc/rsagent/rsagent.json;
                    conf.d/*.json beside it is merged in lexical order)
  --state-dir DIR   keep every file rsagent writes under DIR
                    (default /run/rsagent and /var/lib/rsagent)
  --log-level LVL   error, warning, notice, info (default) or debug
  -h, --help        this help

Exit codes: 0 ok, 1 failure, 2 usage, 4 not privileged, 6 bad configuration.
)";
#else
// rsagentd is the daemon alone: `rsagent start` and systemd run it.
constexpr const char* kHelp = R"(usage: rsagentd [OPTIONS] run | version

The rsagent daemon: `rsagent start` and the systemd unit run it. Operators
use `rsagent` (rsagent --help lists its commands).

Options:
  --config FILE     main configuration file (default /etc/rsagent/rsagent.json)
  --state-dir DIR   keep every file rsagent writes under DIR
  --log-level LVL   error, warning, notice, info (default) or debug
  -h, --help        this help
)";
#endif

std::string anchored(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

int usage_error(const std::string& msg) {
#ifdef RSAGENT_DAEMON_BINARY
  std::cerr << "rsagentd: " << msg << "\nTry `rsagentd --help`.\n";
#else
  std::cerr << "rsagent: " << msg << "\nTry `rsagent --help`.\n";
#endif
  return exit_code::kUsage;
}

// The command line: global options, the command, and the command's own options.
struct CommandLine {
  CommandOptions opts;
  rsagent::log::Options log;
  std::string command;
  std::vector<std::string> rest;  // what follows the command
};

// An option that takes a value (--config, --state-dir, --log-level,
// --ready-fd, --presence-fd); an exit code when it is wrong.
std::optional<int> global_value(const std::string& a, const std::string& v, CommandLine& cl) {
  if (a == "--config") {
    cl.opts.config = v;
  } else if (a == "--state-dir") {
    if (v.empty()) return usage_error("--state-dir needs a folder");
    cl.opts.state_dir = v;
  } else if (a == "--log-level") {
    auto lvl = rsagent::log::parse_level(v);
    if (!lvl) return usage_error("unknown log level \"" + v + "\" (error, warning, notice, info, debug)");
    cl.log.level = *lvl;
    cl.opts.log_level = v;
  } else if (a == "--presence-fd") {
    // Internal, from `start` to rsagentd: the presence it claimed.
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 6)
      return usage_error("--presence-fd needs a file descriptor number");
    cl.opts.presence_fd = std::stoi(v);
  } else {
    // Internal, from `start` to rsagentd: the readiness pipe's end.
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 6)
      return usage_error("--ready-fd needs a file descriptor number");
    cl.opts.ready_fd = std::stoi(v);
    // Started by `start`: syslog, and until ready only warnings on the
    // operator's terminal (errors go back through the pipe, printed once).
    cl.log.to_syslog = true;
    cl.log.stderr_max = rsagent::log::Level::kWarning;
    cl.log.stderr_min = rsagent::log::Level::kWarning;
  }
  return std::nullopt;
}

// Global options and the command; an exit code when done (help, version)
// or wrong.
std::optional<int> parse_global(const std::vector<std::string>& args, CommandLine& cl) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "help") {
      std::cout << kHelp;
      return exit_code::kOk;
    }
    if (a == "--version") {
      std::cout << "rsagent " << RSAGENT_VERSION << "\n";
      return exit_code::kOk;
    }
    if (a == "--config" || a == "--state-dir" || a == "--log-level" || a == "--ready-fd" ||
        a == "--presence-fd") {
      if (i + 1 >= args.size()) return usage_error(a + " needs a value");
      if (auto code = global_value(a, args[++i], cl)) return code;
    } else if (a.rfind("--config=", 0) == 0) {
      cl.opts.config = a.substr(9);
    } else if (a.rfind("--state-dir=", 0) == 0) {
      cl.opts.state_dir = a.substr(12);
    } else if (cl.command.empty() && (a.empty() || a[0] != '-')) {
      cl.command = a;
    } else if (cl.command.empty()) {
      return usage_error("unknown option " + a);
    } else {
      cl.rest.push_back(a);
    }
  }
  return std::nullopt;
}

// The options only some commands take; an exit code when one is wrong.
std::optional<int> parse_command_options(CommandLine& cl) {
  const std::string& command = cl.command;
  for (std::size_t i = 0; i < cl.rest.size(); ++i) {
    const std::string& r = cl.rest[i];
    if (command == "status" && r == "--json") {
      cl.opts.json = true;
    } else if (command == "check-config" && r == "--print") {
      cl.opts.print = true;
    } else if (command == "stop" && r == "--now") {
      cl.opts.now = true;
    } else if ((command == "drain" || command == "maint") && r == "--reason") {
      if (i + 1 >= cl.rest.size()) return usage_error("--reason needs a text");
      cl.opts.reason = cl.rest[++i];
    } else if ((command == "drain" || command == "maint") && r.rfind("--reason=", 0) == 0) {
      cl.opts.reason = r.substr(9);
    } else {
      return usage_error("`" + command + "` does not take " + r);
    }
  }
  return std::nullopt;
}

int dispatch(const std::string& command, const CommandOptions& opts) {
  using namespace rsagent::daemon;
#ifdef RSAGENT_DAEMON_BINARY
  if (command == "run") return run_daemon(opts, &rsagent::checks::probe_http);
  if (command == "version") {
    std::cout << "rsagentd " << RSAGENT_VERSION << "\n";
    return exit_code::kOk;
  }
  return usage_error("rsagentd only runs the daemon (`rsagentd run`); use `rsagent " + command + "`");
#else
  if (command == "run") return cmd_run(opts);
  if (command == "start") return cmd_start(opts);
  if (command == "stop") return cmd_stop(opts);
  if (command == "status") return cmd_status(opts);
  if (command == "plan") return cmd_plan(opts);
  if (command == "check-config") return cmd_check_config(opts);
  if (command == "drain" || command == "maint" || command == "ready") return cmd_operator(opts, command);
  if (command == "reload") return cmd_reload(opts);
  if (command == "restart") return cmd_restart(opts, false);
  if (command == "try-restart") return cmd_restart(opts, true);
  if (command == "version") {
    std::cout << "rsagent " << RSAGENT_VERSION << "\n";
    return exit_code::kOk;
  }
  return usage_error("unknown command \"" + command + "\"");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cl;
  // journald sets JOURNAL_STREAM on our stderr; it reads <N> prefixes as priorities.
  cl.log.prefix_priority = std::getenv("JOURNAL_STREAM") != nullptr;
  // A daemon that re-executed itself after `rsagent start` has no terminal.
  if (std::getenv("RSAGENT_DAEMONIZED") != nullptr) {
    cl.log.to_syslog = true;
    cl.log.to_stderr = false;
    ::unsetenv("RSAGENT_DAEMONIZED");
  }
  if (auto code = parse_global(std::vector<std::string>(argv + 1, argv + argc), cl)) return *code;
  rsagent::log::configure(cl.log);
  if (cl.command.empty()) return usage_error("no command given");
  // The daemon works from / (it must not keep the operator's folder busy),
  // and reload and restart read these paths again: anchor relative ones
  // where they were typed, or `--state-dir st` would become /st.
  cl.opts.config = anchored(cl.opts.config);
  if (cl.opts.state_dir) cl.opts.state_dir = anchored(*cl.opts.state_dir);
  if (auto code = parse_command_options(cl)) return *code;
  return dispatch(cl.command, cl.opts);
}
