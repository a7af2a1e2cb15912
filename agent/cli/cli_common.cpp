// What every command shares: the config-error printout and the hand-over
// to systemctl when systemd runs the installed unit.
#include "rsagent/cli/commands.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <unistd.h>
#include <vector>

namespace rsagent::cli {

int print_config_errors(const config::LoadResult& r) {
  for (const auto& d : r.errors) std::cerr << d.str() << "\n";
  std::cerr << "rsagent: " << r.errors.size()
            << " configuration error(s); nothing was changed. Fix them, then run "
               "`rsagent check-config`.\n";
  return exit_code::kBadConfig;
}

std::optional<int> via_systemctl(const CommandOptions& opts, const std::string& verb) {
  // Only for the installed service's own files: with --config/--state-dir the
  // operator means this instance, not the unit.
  if (opts.state_dir || opts.config != config::kDefaultConfigPath) return std::nullopt;
  if (std::getenv("RSAGENT_NO_SYSTEMCTL") != nullptr) return std::nullopt;
  // Already running under systemd (the unit's own ExecStart): act directly.
  if (std::getenv("INVOCATION_ID") != nullptr) return std::nullopt;
  if (::access("/run/systemd/system", F_OK) != 0) return std::nullopt;  // systemd is not PID 1
  bool installed = false;
  for (const char* dir : {"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system",
                          "/lib/systemd/system"})
    installed = installed || ::access((std::string(dir) + "/rsagent.service").c_str(), F_OK) == 0;
  if (!installed) return std::nullopt;
  std::cout.flush();
  std::vector<std::string> args{"systemctl", verb, "rsagent.service"};
  if (verb == "status") args.push_back("--no-pager");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp("systemctl", argv.data());
  std::cerr << "rsagent: exec systemctl: " << std::strerror(errno)
            << " (set RSAGENT_NO_SYSTEMCTL=1 to act directly)\n";
  return exit_code::kFailure;
}

}  // namespace rsagent::cli
