// The instance lock: what `stop` waits on and what `status` reads.
#include "rsagent/daemon/paths.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace rsagent::daemon;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/rsagent-lock-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// A process that holds the lock for `hold`, then lets go and lingers, as a
// daemon does that releases its lock before its teardown.
pid_t hold_lock(const std::string& path, std::chrono::milliseconds hold, std::chrono::milliseconds linger) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto lock = InstanceLock::try_acquire(path);
    if (!lock) ::_exit(1);
    std::this_thread::sleep_for(hold);
    lock->release();
    std::this_thread::sleep_for(linger);
    ::_exit(0);
  }
  return pid;
}

}  // namespace

TEST_CASE("stop's wait ends when the lock is let go, before the holder exits") {
  TempDir dir;
  const std::string path = dir.path + "/rsagent.lock";
  const pid_t pid = hold_lock(path, 300ms, 3000ms);
  REQUIRE(pid > 0);
  for (int i = 0; i < 100 && !lock_is_held(path); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(lock_is_held(path));
  CHECK(wait_lock_released(path, std::chrono::seconds(10)));
  CHECK_FALSE(lock_is_held(path));
  // The holder is still alive: the wait followed the lock, not the process.
  int st = 0;
  CHECK(::waitpid(pid, &st, WNOHANG) == 0);
  // Taken again at once, as the next `start` does.
  CHECK(InstanceLock::try_acquire(path));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &st, 0);
}

TEST_CASE("stop's wait gives up after its timeout while the lock stays held") {
  TempDir dir;
  const std::string path = dir.path + "/rsagent.lock";
  const pid_t pid = hold_lock(path, 30000ms, 0ms);
  REQUIRE(pid > 0);
  for (int i = 0; i < 100 && !lock_is_held(path); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(lock_is_held(path));
  CHECK_FALSE(wait_lock_released(path, std::chrono::seconds(1)));
  CHECK(lock_is_held(path));
  int st = 0;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &st, 0);
  // A holder that dies lets go too; no lock file at all means nothing to wait for.
  CHECK(wait_lock_released(path, std::chrono::seconds(1)));
  CHECK(wait_lock_released(dir.path + "/absent.lock", std::chrono::seconds(1)));
}
