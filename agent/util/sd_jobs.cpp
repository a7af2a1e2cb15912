#include "rsagent/util/sd_jobs.hpp"

#include "rsagent/util/fd.hpp"
#include "rsagent/util/fs.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace rsagent::sd {

std::string unit_from_cgroup(const std::string& cgroup_text) {
  // Lines are "ID:CONTROLLERS:PATH"; the unified (0::) or name=systemd line
  // carries the path, whose last element is the unit.
  std::istringstream in(cgroup_text);
  std::string line;
  std::string found;
  while (std::getline(in, line)) {
    const auto second = line.find(':', line.find(':') + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(line.find(':') + 1, second - line.find(':') - 1);
    if (!controllers.empty() && controllers != "name=systemd") continue;
    const std::string path = line.substr(second + 1);
    const std::string last = path.substr(path.rfind('/') + 1);
    constexpr std::string_view kSuffix = ".service";
    if (last.size() > kSuffix.size() && last.compare(last.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0)
      found = last;
  }
  return found;
}

std::string own_unit() {
  if (std::getenv("INVOCATION_ID") == nullptr) return {};
  auto text = fs::read_if_exists("/proc/self/cgroup");
  if (!text || !*text) return {};
  return unit_from_cgroup(**text);
}

bool has_restart_job(const std::string& list_jobs, const std::string& unit) {
  // "JOB UNIT TYPE STATE": during `systemctl restart` and try-restart the
  // running job's type is "restart"; for a stop or a shutdown it is "stop".
  std::istringstream in(list_jobs);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, name, type;
    if (fields >> id >> name >> type && name == unit && type == "restart") return true;
  }
  return false;
}

bool restart_job_pending(const std::string& unit, std::chrono::milliseconds timeout) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  UniqueFd rd(p[0]);
  UniqueFd wr(p[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The daemon blocks its signals for signalfd; the child must not inherit that.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<std::string> args{"systemctl", "list-jobs", "--no-legend", "--no-pager", unit};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, "systemctl", &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  wr.reset();
  if (rc != 0) return false;
  std::string out;
  bool eof = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{rd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[1024];
    const ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    eof = true;
    break;
  }
  // Past the deadline systemd did not answer: do not wait for it.
  if (!eof) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return eof && WIFEXITED(status) && WEXITSTATUS(status) == 0 && has_restart_job(out, unit);
}

}  // namespace rsagent::sd
