#include "rsagent/daemon/paths.hpp"

#include "rsagent/util/fs.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <fstream>
#include <sys/file.h>
#include <sys/time.h>
#include <unistd.h>

namespace rsagent::daemon {

Paths Paths::for_state_dir(const std::optional<std::string>& dir) {
  Paths p;
  if (dir) {
    std::string d = *dir;
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    p.runtime = d;
    p.persistent = d + "/persistent";
  }
  return p;
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);
}

InstanceLock& InstanceLock::operator=(InstanceLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

bool InstanceLock::holds(const std::string& path) const {
  struct stat mine {}, there {};
  return fd_ >= 0 && ::fstat(fd_, &mine) == 0 && ::stat(path.c_str(), &there) == 0 &&
         mine.st_dev == there.st_dev && mine.st_ino == there.st_ino;
}

void InstanceLock::release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<InstanceLock> InstanceLock::try_acquire(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error(errno, "open lock " + path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(fd);
    return errno_error(e, "lock " + path);
  }
  return InstanceLock(fd);
}

bool lock_is_held(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

bool wait_lock_released(const std::string& path, std::chrono::seconds timeout) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  // flock(2) has no timeout of its own: a SIGALRM whose handler is installed
  // without SA_RESTART interrupts the wait with EINTR. A blocking flock
  // returns the moment the daemon lets go, where polling would add its
  // interval to every stop.
  struct sigaction sa {}, old {};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGALRM, &sa, &old);
  itimerval it{};
  it.it_value.tv_sec = std::max<long>(1, static_cast<long>(timeout.count()));
  ::setitimer(ITIMER_REAL, &it, nullptr);
  const bool released = ::flock(fd, LOCK_SH) == 0;
  const itimerval off{};
  ::setitimer(ITIMER_REAL, &off, nullptr);
  ::sigaction(SIGALRM, &old, nullptr);
  ::close(fd);  // and with it the shared lock just taken
  return released;
}

std::optional<pid_t> read_pid(const std::string& pidfile) {
  std::ifstream in(pidfile);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

bool has_net_admin() {
  // CapEff in /proc/self/status; CAP_NET_ADMIN is bit 12.
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      const unsigned long long caps = std::strtoull(line.c_str() + 7, nullptr, 16);
      return (caps >> 12) & 1ULL;
    }
  }
  return geteuid() == 0;
}

}  // namespace rsagent::daemon
