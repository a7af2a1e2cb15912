// Where a starting daemon reports its outcome: the `start` that forked it,
// through the readiness pipe (one "CODE\nmessage", then the pipe closes),
// or, in the foreground, the log. Once ready, a daemon started by `start`
// lets go of the operator's terminal and logs to syslog only.
// Threads: the main thread, during start-up. Errors: none (a closed pipe
// means the `start` is gone; nothing to tell).
#pragma once

#include <string>

namespace rsagent::daemon {

class StartReport {
 public:
  explicit StartReport(int fd) : fd_(fd) {}
  // Reports the failure and returns `code`, the daemon's exit code.
  int fail(int code, const std::string& msg);
  void ready(const std::string& summary);

 private:
  int fd_;
  void send(int code, const std::string& msg);
};

}  // namespace rsagent::daemon
