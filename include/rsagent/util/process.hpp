// Running a command with its deadline on the process, not on its output.
// Owns, for the length of one run(): the child, started with posix_spawn in a
// process group of its own; a pidfd (pidfd_open) polled together with the
// pipe of its output; and that pipe. A command that closes its output and
// hangs (`exec >/dev/null 2>&1; sleep 30`) still ends at the deadline: the
// whole group gets SIGKILL, and so does anything the command left running
// when it exits. The child is always reaped: at once, or, when it survives
// SIGKILL (stuck in the kernel, D state), later by the one reaper thread the
// whole process shares (see "Children that outlived SIGKILL" below). Output
// is captured up to a cap and the rest read and dropped, so a chatty command
// never blocks on a full pipe. The child gets /dev/null as stdin, an empty
// signal mask and default signal dispositions (the daemon blocks signals for
// its signalfd and ignores SIGPIPE; a command must not inherit either).
// Threads: run() blocks its caller for at most its timeout plus a second's
// grace for the kill and 0.1 s for the last output; after a cancel, for at
// most 50 ms more. Any number of threads may run at once. The reaper thread is started when a
// first child outlives SIGKILL and ends when the last such child is reaped.
// Errors: a command that cannot be started is an Error with errno and the
// program ("run /usr/local/bin/check-disk: No such file or directory"), and
// so is a command not started because of a stuck earlier one; a command
// that started is a RunResult however it ended.
#pragma once

#include "rsagent/util/result.hpp"

#include <sys/types.h>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rsagent::proc {

struct RunOptions {
  std::chrono::milliseconds timeout{1000};
  std::size_t max_output = 4096;  // bytes kept; the rest is read and dropped
  bool merge_stderr = true;       // stderr into the output too; false: /dev/null
  bool search_path = false;       // look argv[0] up in PATH (posix_spawnp)
  // When readable, the run ends at once as at the deadline (the Monitor's
  // stop); never read here, so one write cancels every run that polls it.
  int cancel_fd = -1;
  // Who runs the command (e.g. "check app"). While a child of an earlier
  // run with the same owner has not been reaped, run() starts nothing and
  // says why. Empty: no such rule (the cap on stuck children still holds).
  std::string owner;
};

enum class Ending : std::uint8_t { kExited, kSignaled, kTimedOut, kCancelled };

struct RunResult {
  Ending ending = Ending::kExited;
  int exit_code = -1;  // kExited: the command's exit status
  int signal = 0;      // kSignaled: the signal that ended it
  std::string output;  // raw bytes (clean them before showing), at most max_output
  bool truncated = false;
  pid_t pid = 0;  // also the process group's id; already reaped
  std::chrono::milliseconds timeout{0};  // the deadline it ran with
  std::chrono::microseconds elapsed{0};

  [[nodiscard]] bool success() const { return ending == Ending::kExited && exit_code == 0; }
  // How it ended, for a message: "exit 3", "killed by signal 9 (Killed)",
  // "timed out after 500ms (process group killed)", "cancelled".
  [[nodiscard]] std::string str() const;
};

// The soft RLIMIT_NOFILE every command started from now on gets (the
// daemon raised its own; a command may use select() and expects the usual
// one). Set once at start, before any thread runs a command. posix_spawn
// cannot change a limit between fork and exec, so it is set on the child
// right after: a command that reads its limit in its very first
// instructions may still see the daemon's.
void set_child_fd_limit(std::uint64_t soft);

[[nodiscard]] Result<RunResult> run(const std::vector<std::string>& argv, const RunOptions& opts);

// Children that outlived SIGKILL. One thread for the whole process polls
// their pidfds and reaps each when it finally dies, so a stuck child costs
// a table row and a pidfd, never a thread of its own. The table has a cap:
// while it is full, run() starts no command at all (a machine where
// commands hang in the kernel is not helped by more of them), and each
// refusal is counted.
inline constexpr std::size_t kMaxStuckChildren = 16;

struct StuckChildren {
  std::size_t waiting = 0;    // children not reaped yet
  std::uint64_t refused = 0;  // runs not started: owner's child stuck, or the table full
  bool reaper_running = false;
};
[[nodiscard]] StuckChildren stuck_children();

// Hands a live child of this process to the reaper as run() does with one
// that outlived SIGKILL (exposed for tests: a real D-state child cannot be
// made at will). The caller must not wait for it afterwards.
[[nodiscard]] Status hand_to_reaper(pid_t pid, const std::string& owner);

}  // namespace rsagent::proc
