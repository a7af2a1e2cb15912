#include "rsagent/daemon/start_report.hpp"

#include "rsagent/cli/commands.hpp"
#include "rsagent/util/log.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace rsagent::daemon {

int StartReport::fail(int code, const std::string& msg) {
  if (fd_ < 0) {
    log::error(msg);
  } else {
    send(code, msg);
  }
  return code;
}

void StartReport::ready(const std::string& summary) {
  if (fd_ < 0) {
    log::notice(summary);
    return;
  }
  send(exit_code::kOk, summary);
  // The terminal belongs to the operator again; from now on, syslog only.
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
  auto o = log::current();
  o.to_stderr = false;
  log::configure(o);
}

void StartReport::send(int code, const std::string& msg) {
  const std::string out = std::to_string(code) + "\n" + msg;
  (void)!::write(fd_, out.data(), out.size());
  ::close(fd_);
  fd_ = -1;
}

}  // namespace rsagent::daemon
