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

// A fresh folder, removed afterwards, and the lock file's path in it.
struct TempDir {
  std::string path;
  std::string lock;
  TempDir() {
    char tmpl[] = "/tmp/rsagent-lock-XXXXXX";
    path = ::mkdtemp(tmpl);
    lock = path + "/rsagent.lock";
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// A process that holds the lock for `hold`, then lets go and lingers, as a
// daemon does that releases its lock before its teardown. hold_lock()
// returns once the lock is held; the process is killed when the test ends,
// whichever way it ends.
struct Holder {
  explicit Holder(pid_t p) : pid(p) {}
  Holder(Holder&& o) noexcept : pid(o.pid) { o.pid = -1; }
  Holder& operator=(Holder&&) = delete;
  pid_t pid;
  ~Holder() {
    int st = 0;
    if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, &st, 0);
  }
};

Holder hold_lock(const std::string& path, std::chrono::milliseconds hold, std::chrono::milliseconds linger) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto lock = InstanceLock::try_acquire(path);
    if (!lock) ::_exit(1);
    std::this_thread::sleep_for(hold);
    lock->release();
    std::this_thread::sleep_for(linger);
    ::_exit(0);
  }
  REQUIRE(pid > 0);
  Holder holder(pid);  // from here on the holder ends with the test, whatever fails
  for (int i = 0; i < 100 && !lock_is_held(path); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(lock_is_held(path));
  return holder;
}

}  // namespace

TEST_CASE("stop's wait ends when the lock is let go, before the holder exits") {
  TempDir dir;
  const Holder holder = hold_lock(dir.lock, 300ms, 3000ms);
  CHECK(wait_lock_released(dir.lock, std::chrono::seconds(10)));
  CHECK_FALSE(lock_is_held(dir.lock));
  // The holder is still alive: the wait followed the lock, not the process.
  int st = 0;
  CHECK(::waitpid(holder.pid, &st, WNOHANG) == 0);
  // Taken again at once, as the next `start` does.
  CHECK(InstanceLock::try_acquire(dir.lock));
}

TEST_CASE("stop's wait gives up after its timeout while the lock stays held") {
  TempDir dir;
  {
    const Holder holder = hold_lock(dir.lock, 30000ms, 0ms);
    CHECK_FALSE(wait_lock_released(dir.lock, std::chrono::seconds(1)));
    CHECK(lock_is_held(dir.lock));
  }
  // A holder that dies lets go too; no lock file at all means nothing to wait for.
  CHECK(wait_lock_released(dir.lock, std::chrono::seconds(1)));
  CHECK(wait_lock_released(dir.path + "/absent.lock", std::chrono::seconds(1)));
}
