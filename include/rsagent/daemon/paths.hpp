// Where rsagent keeps its files, the one-daemon-per-state-folder lock, and
// the privilege check. Owns: the Paths layout (runtime: journal, pid, lock,
// control socket; persistent: operator state) and InstanceLock (an flock held
// for the daemon's lifetime, released by the kernel even after kill -9).
// No threads. Errors: Result with errno and the path.
#pragma once

#include "rsagent/util/result.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>

namespace rsagent::daemon {

inline constexpr const char* kDefaultRuntimeDir = "/run/rsagent";
inline constexpr const char* kDefaultPersistentDir = "/var/lib/rsagent";

struct Paths {
  std::string runtime = kDefaultRuntimeDir;
  std::string persistent = kDefaultPersistentDir;

  // --state-dir DIR moves everything rsagent writes under DIR.
  static Paths for_state_dir(const std::optional<std::string>& dir);
  [[nodiscard]] std::string journal() const { return runtime + "/journal.json"; }
  [[nodiscard]] std::string pidfile() const { return runtime + "/rsagent.pid"; }
  [[nodiscard]] std::string lockfile() const { return runtime + "/rsagent.lock"; }
  [[nodiscard]] std::string control_socket() const { return runtime + "/control.sock"; }
};

class InstanceLock {
 public:
  InstanceLock() = default;
  ~InstanceLock();
  InstanceLock(InstanceLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  InstanceLock& operator=(InstanceLock&& o) noexcept;
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  // Takes the lock without waiting; EWOULDBLOCK in the error when a live
  // daemon holds it.
  [[nodiscard]] static Result<InstanceLock> try_acquire(const std::string& path);
  [[nodiscard]] bool held() const { return fd_ >= 0; }
  // Whether `path` is still the file this lock holds (not removed, not
  // replaced): a removed lock file would let a second daemon start.
  [[nodiscard]] bool holds(const std::string& path) const;
  // Lets go before the process ends: `stop` waits for exactly this.
  void release();

 private:
  explicit InstanceLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// True when a process holds the lock (the daemon is alive).
[[nodiscard]] bool lock_is_held(const std::string& path);
// Blocks until no process holds the lock, or `timeout` (whole seconds, at
// least 1) passes; true when it was released. For a single-threaded caller:
// it borrows SIGALRM for the timeout.
[[nodiscard]] bool wait_lock_released(const std::string& path, std::chrono::seconds timeout);
[[nodiscard]] std::optional<pid_t> read_pid(const std::string& pidfile);

// CAP_NET_ADMIN in the effective set (root has it unless dropped).
[[nodiscard]] bool has_net_admin();

}  // namespace rsagent::daemon
