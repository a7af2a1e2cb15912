// CLI parsing and dispatch only; the commands live in agent/daemon/.
// Built twice: as rsagent, the CLI (no cpp-httplib, no OpenSSL: every
// start, stop, status and drain starts fast), and with RSAGENT_DAEMON_BINARY
// as rsagentd, the daemon, which runs only `run` (the CLI's `run` and
// `start` exec it) and links the http check.
#include "rsagent/daemon/commands.hpp"
#include "rsagent/util/log.hpp"
#ifdef RSAGENT_DAEMON_BINARY
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/health/http_check.hpp"
#endif

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#ifndef RSAGENT_VERSION
#define RSAGENT_VERSION "0.0.0"
#endif

namespace {

using rsagent::daemon::CommandOptions;
namespace exit_code = rsagent::daemon::exit_code;

constexpr const char* kUsage = R"(usage: rsagent [OPTIONS] COMMAND [ARGS]

Puts LVS direct-routing VIPs on lo, adds their host routes, tames ARP, and
puts back exactly what was there before when it stops.

Commands:
  run             run the daemon in the foreground (what systemd runs)
  start           start the daemon; returns once everything is applied
  stop            revert every change and stop the daemon (also after a crash)
  status [--json] what is applied and owned, and any drift
                  (exit 0 running, 1 dead but changes left, 3 not running)
  plan            print what `start` would change; changes nothing
  drain [--reason TEXT]  report "drain" to the directors (no new flows)
  maint [--reason TEXT]  report maintenance (the node is taken out)
  ready           back from drain or maint
  stop [--now]    --now skips the graceful drain wait (stop.drain)
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

std::string anchored(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

int usage_error(const std::string& msg) {
  std::cerr << "rsagent: " << msg << "\nTry `rsagent --help`.\n";
  return exit_code::kUsage;
}

}  // namespace

int main(int argc, char** argv) {
  CommandOptions opts;
  rsagent::log::Options log_opts;
  // journald sets JOURNAL_STREAM on our stderr; it reads <N> prefixes as priorities.
  log_opts.prefix_priority = std::getenv("JOURNAL_STREAM") != nullptr;
  // A daemon that re-executed itself after `rsagent start` has no terminal.
  if (std::getenv("RSAGENT_DAEMONIZED") != nullptr) {
    log_opts.to_syslog = true;
    log_opts.to_stderr = false;
    ::unsetenv("RSAGENT_DAEMONIZED");
  }
  std::string command;
  std::vector<std::string> rest;

  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> const std::string* {
      if (i + 1 >= args.size()) return nullptr;
      (void)name;
      return &args[++i];
    };
    if (a == "-h" || a == "--help" || a == "help") {
      std::cout << kUsage;
      return exit_code::kOk;
    }
    if (a == "--version") {
      std::cout << "rsagent " << RSAGENT_VERSION << "\n";
      return exit_code::kOk;
    }
    if (a == "--config" || a == "--state-dir" || a == "--log-level") {
      const std::string* v = value(a.c_str());
      if (!v) return usage_error(a + " needs a value");
      if (a == "--config") {
        opts.config = *v;
      } else if (a == "--state-dir") {
        if (v->empty()) return usage_error("--state-dir needs a folder");
        opts.state_dir = *v;
      } else {
        auto lvl = rsagent::log::parse_level(*v);
        if (!lvl) return usage_error("unknown log level \"" + *v + "\" (error, warning, notice, info, debug)");
        log_opts.level = *lvl;
        opts.log_level = *v;
      }
      continue;
    }
    if (a == "--ready-fd") {
      // Internal, from `start` to rsagentd: the readiness pipe's end.
      const std::string* v = value(a.c_str());
      if (!v || v->empty() || v->find_first_not_of("0123456789") != std::string::npos || v->size() > 6)
        return usage_error("--ready-fd needs a file descriptor number");
      opts.ready_fd = std::stoi(*v);
      // Started by `start`: syslog, and until ready only warnings on the
      // operator's terminal (errors go back through the pipe, printed once).
      log_opts.to_syslog = true;
      log_opts.stderr_max = rsagent::log::Level::kWarning;
      log_opts.stderr_min = rsagent::log::Level::kWarning;
      continue;
    }
    if (a.rfind("--config=", 0) == 0) {
      opts.config = a.substr(9);
      continue;
    }
    if (a.rfind("--state-dir=", 0) == 0) {
      opts.state_dir = a.substr(12);
      continue;
    }
    if (command.empty() && (a.empty() || a[0] != '-')) {
      command = a;
      continue;
    }
    if (command.empty()) return usage_error("unknown option " + a);
    rest.push_back(a);
  }
  rsagent::log::configure(log_opts);
  if (command.empty()) return usage_error("no command given");
  // The daemon works from / (it must not keep the operator's folder busy),
  // and reload and restart read these paths again: anchor relative ones
  // where they were typed, or `--state-dir st` would become /st.
  opts.config = anchored(opts.config);
  if (opts.state_dir) opts.state_dir = anchored(*opts.state_dir);

  for (std::size_t i = 0; i < rest.size(); ++i) {
    const std::string& r = rest[i];
    if (command == "status" && r == "--json") {
      opts.json = true;
    } else if (command == "check-config" && r == "--print") {
      opts.print = true;
    } else if (command == "stop" && r == "--now") {
      opts.now = true;
    } else if ((command == "drain" || command == "maint") && r == "--reason") {
      if (i + 1 >= rest.size()) return usage_error("--reason needs a text");
      opts.reason = rest[++i];
    } else if ((command == "drain" || command == "maint") && r.rfind("--reason=", 0) == 0) {
      opts.reason = r.substr(9);
    } else {
      return usage_error("`" + command + "` does not take " + r);
    }
  }
  using namespace rsagent::daemon;
#ifdef RSAGENT_DAEMON_BINARY
  if (command == "run") return run_daemon(opts, &rsagent::health::probe_http);
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
