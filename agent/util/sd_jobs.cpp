#include "rsagent/util/sd_jobs.hpp"

#include "rsagent/util/fs.hpp"
#include "rsagent/util/process.hpp"

#include <cstdlib>
#include <sstream>

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
  // Past the deadline systemd did not answer: its group is killed and we
  // do not wait for it (proc::run has the deadline on the process).
  proc::RunOptions o;
  o.timeout = timeout;
  o.max_output = std::size_t{64} * 1024;
  o.merge_stderr = false;
  o.search_path = true;
  auto r = proc::run({"systemctl", "list-jobs", "--no-legend", "--no-pager", unit}, o);
  return r && r->success() && has_restart_job(r->output, unit);
}

}  // namespace rsagent::sd
