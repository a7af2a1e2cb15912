// Children that outlived SIGKILL: one reaper thread for all of them, a cap
// on how many may wait, and no new run for an owner whose earlier child is
// still unreaped. A real D-state child cannot be made at will, so live
// `sleep` children are handed to the reaper as run() hands a stuck one.
#include "rsagent/util/process.hpp"

#include <doctest/doctest.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace rsagent;
using namespace std::chrono_literals;

namespace {

pid_t spawn_sleep() {
  char prog[] = "/bin/sleep";
  char arg[] = "300";
  char* argv[] = {prog, arg, nullptr};
  pid_t pid = 0;
  REQUIRE(::posix_spawn(&pid, prog, nullptr, nullptr, argv, environ) == 0);
  return pid;
}

std::size_t threads_of_this_process() {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)e;
    ++n;
  }
  return n;
}

template <typename F>
bool eventually(F pred) {
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

bool reaped(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD;
}

proc::RunOptions owned_by(const std::string& owner) {
  proc::RunOptions o;
  o.timeout = 5s;
  o.owner = owner;
  return o;
}

}  // namespace

TEST_CASE("a command whose previous child is not reaped yet is not started again, and says why") {
  REQUIRE(eventually([] { return proc::stuck_children().waiting == 0; }));
  const pid_t stuck = spawn_sleep();
  REQUIRE(proc::hand_to_reaper(stuck, "check app").ok());
  const auto refused_before = proc::stuck_children().refused;

  const auto r = proc::run({"/bin/true"}, owned_by("check app"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().str().find("not started") != std::string::npos);
  CHECK(r.error().str().find("pid " + std::to_string(stuck)) != std::string::npos);
  CHECK(proc::stuck_children().refused == refused_before + 1);
  // Another owner is not held back by it.
  CHECK(proc::run({"/bin/true"}, owned_by("check other")).ok());

  // Once the child dies the reaper reaps it, and the owner runs again.
  ::kill(stuck, SIGKILL);
  CHECK(eventually([] { return proc::stuck_children().waiting == 0; }));
  CHECK(reaped(stuck));
  const auto again = proc::run({"/bin/true"}, owned_by("check app"));
  CHECK(again.ok());
}

TEST_CASE(
    "stuck children share one reaper thread, and while their table is full no command starts") {
  REQUIRE(eventually([] { return !proc::stuck_children().reaper_running; }));
  // The reaper ends with its last child; give its thread time to go.
  std::this_thread::sleep_for(50ms);
  const std::size_t threads_before = threads_of_this_process();

  std::vector<pid_t> stuck;
  for (std::size_t i = 0; i < proc::kMaxStuckChildren; ++i) {
    stuck.push_back(spawn_sleep());
    REQUIRE(proc::hand_to_reaper(stuck.back(), "check c" + std::to_string(i)).ok());
  }
  CHECK(proc::stuck_children().waiting == proc::kMaxStuckChildren);
  CHECK(proc::stuck_children().reaper_running);
  CHECK(threads_of_this_process() == threads_before + 1);

  const auto refused_before = proc::stuck_children().refused;
  const auto r = proc::run({"/bin/true"}, owned_by(""));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().str().find(std::to_string(proc::kMaxStuckChildren) + " earlier commands") !=
        std::string::npos);
  CHECK(proc::stuck_children().refused == refused_before + 1);

  for (const pid_t p : stuck) ::kill(p, SIGKILL);
  CHECK(eventually([] { return proc::stuck_children().waiting == 0; }));
  for (const pid_t p : stuck) CHECK(reaped(p));
  CHECK(eventually([] { return !proc::stuck_children().reaper_running; }));
  CHECK(eventually([&] { return threads_of_this_process() == threads_before; }));
  CHECK(proc::run({"/bin/true"}, owned_by("")).ok());
}
