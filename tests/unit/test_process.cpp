// proc::run: the deadline is on the process, not on its output; the whole
// process group goes; nothing is left behind, not even a zombie.
#include "rsagent/util/process.hpp"

#include <doctest/doctest.h>

#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace rsagent;
using namespace std::chrono_literals;

namespace {

proc::RunOptions with_timeout(std::chrono::milliseconds t) {
  proc::RunOptions o;
  o.timeout = t;
  return o;
}

proc::RunResult must_run(const std::vector<std::string>& argv, const proc::RunOptions& o) {
  auto r = proc::run(argv, o);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
  return *r;
}

// Live (not zombie) processes in process group pgid, from /proc/PID/stat:
// "PID (COMM) STATE PPID PGRP ...".
int live_in_group(pid_t pgid) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(e.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (rest >> state >> ppid >> pgrp && pgrp == pgid && state != 'Z' && state != 'X') ++n;
  }
  return n;
}

// Every member got SIGKILL; the kernel takes a moment to finish them off.
// Grandchildren then belong to init, whose reaping is its own business.
bool group_gone(pid_t pgid) {
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < end) {
    if (live_in_group(pgid) == 0) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// The command itself was reaped by run(): it is no child of ours any more.
bool reaped(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD;
}

}  // namespace

TEST_CASE("run returns the exit code and the output of stdout and stderr") {
  const auto r = must_run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, with_timeout(5s));
  CHECK(r.ending == proc::Ending::kExited);
  CHECK(r.exit_code == 3);
  CHECK_FALSE(r.success());
  CHECK(r.output == "out\nerr\n");
  CHECK(r.str() == "exit 3");
  CHECK(reaped(r.pid));

  auto o = with_timeout(5s);
  o.merge_stderr = false;
  const auto quiet = must_run({"/bin/sh", "-c", "echo out; echo err >&2"}, o);
  CHECK(quiet.success());
  CHECK(quiet.output == "out\n");
}

TEST_CASE("a command that closes its output and hangs ends at the deadline") {
  const auto t0 = std::chrono::steady_clock::now();
  const auto r =
      must_run({"/bin/sh", "-c", "echo bye; exec >/dev/null 2>&1; sleep 30"}, with_timeout(300ms));
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(r.ending == proc::Ending::kTimedOut);
  CHECK(r.str() == "timed out after 300ms (process group killed)");
  CHECK(r.output == "bye\n");
  CHECK(took >= 300ms);
  CHECK(took < 5s);
  CHECK(reaped(r.pid));
  CHECK(group_gone(r.pid));
}

TEST_CASE("a grandchild that keeps the pipe open is killed with the group") {
  SUBCASE("at the deadline") {
    const auto r = must_run({"/bin/sh", "-c", "sleep 30 & sleep 30"}, with_timeout(300ms));
    CHECK(r.ending == proc::Ending::kTimedOut);
    CHECK(reaped(r.pid));
    CHECK(group_gone(r.pid));
  }
  SUBCASE("when the command exits before it, without waiting for the deadline") {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = must_run({"/bin/sh", "-c", "sleep 30 & echo done"}, with_timeout(10s));
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    CHECK(r.success());
    CHECK(r.output == "done\n");
    CHECK(reaped(r.pid));
    CHECK(group_gone(r.pid));
  }
}

TEST_CASE("output past the cap is read and dropped, so the command does not block on the pipe") {
  auto o = with_timeout(10s);
  o.max_output = 1000;
  const auto r = must_run({"/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x"}, o);
  CHECK(r.success());
  CHECK(r.output.size() == 1000);
  CHECK(r.truncated);
}

TEST_CASE("a command that cannot start is an error naming it and errno") {
  auto r = proc::run({"/nonexistent/rsagent-check"}, with_timeout(1s));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().err == ENOENT);
  CHECK(r.error().str() == "run /nonexistent/rsagent-check: No such file or directory");
  CHECK_FALSE(proc::run({}, with_timeout(1s)).ok());
}

TEST_CASE("search_path finds the program in PATH") {
  auto o = with_timeout(5s);
  o.search_path = true;
  CHECK(must_run({"true"}, o).success());
  CHECK_FALSE(proc::run({"true"}, with_timeout(5s)).ok());  // no PATH lookup by default
}

TEST_CASE("the cancel fd ends a run at once and kills its group") {
  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(efd >= 0);
  auto o = with_timeout(30s);
  o.cancel_fd = efd;
  std::thread canceller([efd] {
    std::this_thread::sleep_for(200ms);
    const std::uint64_t one = 1;
    (void)!::write(efd, &one, sizeof one);
  });
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = must_run({"/bin/sh", "-c", "sleep 30 & sleep 30"}, o);
  canceller.join();
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(r.ending == proc::Ending::kCancelled);
  CHECK(reaped(r.pid));
  CHECK(group_gone(r.pid));
  // Still readable: a later run ends at once too.
  CHECK(must_run({"/bin/sh", "-c", "sleep 30"}, o).ending == proc::Ending::kCancelled);
  ::close(efd);
}

TEST_CASE("the command gets an empty signal mask and default dispositions, not the caller's") {
  // The daemon blocks SIGTERM (for its signalfd) and ignores SIGPIPE.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &term, &old) == 0);
  struct sigaction ign {
  }, old_pipe{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old_pipe);
  const auto killed = proc::run({"/bin/sh", "-c", "kill -TERM $$; sleep 5"}, with_timeout(10s));
  const auto piped = proc::run({"/bin/sh", "-c", "yes | head -c 1 >/dev/null"}, with_timeout(10s));
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  REQUIRE(killed.ok());
  CHECK(killed->ending == proc::Ending::kSignaled);
  CHECK(killed->signal == SIGTERM);
  CHECK(killed->str() == "killed by signal 15 (Terminated)");
  // `yes` ends by SIGPIPE once head is gone; with SIGPIPE ignored it would
  // spin on EPIPE errors instead ("yes: standard output: Broken pipe").
  REQUIRE(piped.ok());
  CHECK(piped->output.find("Broken pipe") == std::string::npos);
}
