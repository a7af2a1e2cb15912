// The command line of both binaries: global options, then the command
// from cli/table (the CLI) or `run` (the daemon). The commands live in
// agent/cli/, the daemon in agent/daemon/.
// Built twice: as rsagent, the CLI (no cpp-httplib, no OpenSSL: every
// start, stop, status and drain starts fast), and with RSAGENT_DAEMON_BINARY
// as rsagentd, the daemon, which runs only `run` (the CLI's `run` and
// `start` exec it) and `fleet` (the CLI's `fleet` execs it), and links the
// http check and the fleet's etcd client.
#include "rsagent/cli/commands.hpp"
#include "rsagent/cli/table.hpp"
#include "rsagent/util/log.hpp"
#ifdef RSAGENT_DAEMON_BINARY
#include "rsagent/daemon/daemon.hpp"
#include "rsagent/checks/http_check.hpp"
#include "rsagent/fleet/http_transport.hpp"
#endif

#include <csignal>
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

#ifdef RSAGENT_DAEMON_BINARY
// rsagentd is the daemon alone: `rsagent start` and systemd run it.
constexpr const char* kHelp = R"(usage: rsagentd [OPTIONS] run | fleet [--json] [--watch] | version

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
#ifdef RSAGENT_DAEMON_BINARY
      std::cout << kHelp;
#else
      std::cout << rsagent::cli::usage();
#endif
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

int dispatch(const CommandLine& cl) {
#ifdef RSAGENT_DAEMON_BINARY
  // `rsagent fleet` runs here: this binary has the etcd client.
  if (cl.command == "fleet") {
    // A TLS peer that closes mid-handshake (etcd refusing a node without a
    // client certificate) would otherwise end the command with SIGPIPE
    // instead of its message: OpenSSL writes with write(2).
    std::signal(SIGPIPE, SIG_IGN);
    CommandOptions opts = cl.opts;
    if (auto err = rsagent::cli::parse_options(*rsagent::cli::find_command("fleet"), cl.rest, opts))
      return usage_error(*err);
    return rsagent::cli::fleet_view(opts, &rsagent::fleet::make_http_transport);
  }
  if (!cl.rest.empty()) return usage_error("`" + cl.command + "` does not take " + cl.rest.front());
  if (cl.command == "run")
    return rsagent::daemon::run_daemon(cl.opts, &rsagent::checks::probe_http, &rsagent::fleet::make_http_transport);
  if (cl.command == "version") {
    std::cout << "rsagentd " << RSAGENT_VERSION << "\n";
    return exit_code::kOk;
  }
  return usage_error("rsagentd only runs the daemon (`rsagentd run`); use `rsagent " + cl.command + "`");
#else
  const auto* c = rsagent::cli::find_command(cl.command);
  if (c == nullptr) return usage_error("unknown command \"" + cl.command + "\"");
  CommandOptions opts = cl.opts;
  if (auto err = rsagent::cli::parse_options(*c, cl.rest, opts)) return usage_error(*err);
  return c->run(opts);
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
  return dispatch(cl);
}
