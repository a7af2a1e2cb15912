#include "rsagent/util/process.hpp"

#include "rsagent/util/fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

extern char** environ;

namespace rsagent::proc {

namespace {

using Steady = std::chrono::steady_clock;

// 0: commands keep the daemon's limit.
std::atomic<std::uint64_t> child_fd_limit{0};

// How long a SIGKILLed group gets to die before we stop waiting for it and
// hand the command to the reaper; shorter after a cancel, which comes from
// a stop or a reload on the daemon's main thread.
constexpr std::chrono::milliseconds kKillGrace{1000};
constexpr std::chrono::milliseconds kCancelKillGrace{50};
// How long output already written may take to drain once the command is
// gone (its group killed): only something that left the group can hold the
// pipe open longer.
constexpr std::chrono::milliseconds kDrainGrace{100};

// Rounded up: poll's millisecond must not end a wait before its deadline.
int ms_until(Steady::time_point t) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(t - Steady::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&fa_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_;
};

class SpawnAttr {
 public:
  SpawnAttr() { posix_spawnattr_init(&attr_); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr_); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

// Reads what the pipe holds now. False at EOF (every writer is gone) or on
// an error other than "nothing more yet".
bool read_some(int fd, RunResult& r, std::size_t cap) {
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      const std::size_t room = cap > r.output.size() ? cap - r.output.size() : 0;
      r.output.append(buf, std::min(room, got));
      if (got > room) r.truncated = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

// Waits until the pidfd says the process has ended, or until `until`.
bool wait_exit(int pidfd, Steady::time_point until) {
  while (true) {
    pollfd p{pidfd, POLLIN, 0};
    const int n = ::poll(&p, 1, ms_until(until));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// "run /usr/local/bin/check: No such file or directory"
Error failed(int err, const std::string& what) {
  Error e = errno_error(err);
  e.context.push_back(what);
  return e;
}

// Debian 12's <sys/pidfd.h> (glibc 2.36) declares pidfd_open without C
// linkage, so C++ cannot link against it; the system call is the same.
int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U)); }

void reap(pid_t pid, int& status) {
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// The children that outlived SIGKILL, and the one thread that reaps them.
// The thread polls every pidfd in the table and an eventfd that announces
// new rows; only it removes rows, so the descriptors it polls stay open
// while it polls them. It ends when the table is empty. The object is never
// destroyed (see reaper()): a reaper still waiting at exit must not find it
// gone.
class Reaper {
 public:
  Reaper() : wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

  // Why a run for `owner` must not start now, or nothing. Counts refusals.
  std::optional<std::string> refuse(const std::string& owner) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<std::string> why;
    for (const auto& c : table_)
      if (!owner.empty() && c.owner == owner)
        why = "its previous run (pid " + std::to_string(c.pid) +
              ") survived SIGKILL and is not reaped yet (stuck in the kernel?)";
    if (!why && table_.size() >= kMaxStuckChildren)
      why = std::to_string(table_.size()) +
            " earlier commands survived SIGKILL and are not reaped yet (stuck in the kernel?)";
    if (why) ++refused_;
    return why;
  }

  // Takes the child over; false (nothing taken) without a pidfd, an eventfd
  // or a thread.
  bool adopt(pid_t pid, UniqueFd pidfd, const std::string& owner) {
    if (pidfd.get() < 0 || wake_.get() < 0) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    table_.push_back(Row{pid, std::move(pidfd), owner});
    if (running_) {
      const std::uint64_t one = 1;
      (void)!::write(wake_.get(), &one, sizeof one);
      return true;
    }
    try {
      std::thread([this] { run(); }).detach();
    } catch (const std::system_error&) {
      table_.pop_back();  // no thread to spare: not taken
      return false;
    }
    running_ = true;
    return true;
  }

  StuckChildren stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {table_.size(), refused_, running_};
  }

 private:
  struct Row {
    pid_t pid;
    UniqueFd pidfd;
    std::string owner;
  };

  void run() {
    std::vector<pollfd> fds;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::size_t i = 0; i < table_.size();) {
          // fds[i + 1] is row i as it was polled (rows are only appended
          // elsewhere); readable means the child is gone.
          if (i + 1 < fds.size() && fds[i + 1].revents != 0) {
            int status = 0;
            reap(table_[i].pid, status);
            fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i) + 1);
            table_.erase(table_.begin() + static_cast<std::ptrdiff_t>(i));
            continue;
          }
          ++i;
        }
        if (table_.empty()) {
          running_ = false;
          return;
        }
        fds.assign(1, pollfd{wake_.get(), POLLIN, 0});
        for (const auto& c : table_) fds.push_back(pollfd{c.pidfd.get(), POLLIN, 0});
      }
      while (::poll(fds.data(), fds.size(), -1) < 0 && errno == EINTR) {
      }
      if (fds[0].revents != 0) {
        std::uint64_t n = 0;
        (void)!::read(wake_.get(), &n, sizeof n);
      }
    }
  }

  std::mutex mutex_;
  UniqueFd wake_;
  std::vector<Row> table_;
  std::uint64_t refused_ = 0;
  bool running_ = false;
};

Reaper& reaper() {
  // Leaked on purpose: a detached reaper may outlive static destruction.
  static auto* r = new Reaper();
  return *r;
}

}  // namespace

StuckChildren stuck_children() { return reaper().stats(); }

Status hand_to_reaper(pid_t pid, const std::string& owner) {
  UniqueFd pidfd(pidfd_open(pid));
  if (pidfd.get() < 0) return errno_error(errno, "pidfd_open " + std::to_string(pid));
  if (!reaper().adopt(pid, std::move(pidfd), owner)) return make_error("reaper: no eventfd or thread to spare");
  return {};
}

void set_child_fd_limit(std::uint64_t soft) { child_fd_limit = soft; }

std::string RunResult::str() const {
  switch (ending) {
    case Ending::kExited:
      return "exit " + std::to_string(exit_code);
    case Ending::kSignaled: {
      const char* name = ::strsignal(signal);
      return "killed by signal " + std::to_string(signal) +
             (name != nullptr ? " (" + std::string(name) + ")" : std::string());
    }
    case Ending::kTimedOut:
      return "timed out after " + std::to_string(timeout.count()) + "ms (process group killed)";
    case Ending::kCancelled:
      return "cancelled (process group killed)";
  }
  return "?";
}

namespace {

// Starts argv in a process group of its own (pgid = pid, so a deadline
// reaches its children too), stdin from /dev/null, stdout (and stderr when
// merged) into `out`, every signal at its default and unblocked.
Result<pid_t> spawn(const std::vector<std::string>& argv, const RunOptions& opts, int out,
                    const std::string& what) {
  FileActions fa;
  posix_spawn_file_actions_addopen(fa.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(fa.get(), out, STDOUT_FILENO);
  if (opts.merge_stderr) {
    posix_spawn_file_actions_adddup2(fa.get(), out, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(fa.get(), STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  }
  SpawnAttr attr;
  posix_spawnattr_setpgroup(attr.get(), 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(attr.get(), &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(attr.get(), &all);
  posix_spawnattr_setflags(attr.get(),
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  // glibc's posix_spawn reports a failed exec (ENOENT, EACCES) as its result.
  const int rc = opts.search_path
                     ? ::posix_spawnp(&pid, args[0], fa.get(), attr.get(), args.data(), environ)
                     : ::posix_spawn(&pid, args[0], fa.get(), attr.get(), args.data(), environ);
  if (rc != 0) return failed(rc, what);
  if (const std::uint64_t soft = child_fd_limit.load(); soft != 0) {
    rlimit lim{};
    if (::prlimit(pid, RLIMIT_NOFILE, nullptr, &lim) == 0 && soft <= lim.rlim_max) {
      lim.rlim_cur = static_cast<rlim_t>(soft);
      (void)::prlimit(pid, RLIMIT_NOFILE, &lim, nullptr);
    }
  }
  return pid;
}

// Collects output until the process exits (true), or the deadline or a
// cancel comes first (false; r.ending says which).
bool watch(int pidfd, UniqueFd& rd, Steady::time_point deadline, const RunOptions& opts, RunResult& r) {
  r.ending = Ending::kTimedOut;
  while (true) {
    const int left = ms_until(deadline);
    if (left == 0) return false;
    pollfd fds[3];
    nfds_t n = 0;
    fds[n++] = {pidfd, POLLIN, 0};
    const nfds_t out_at = rd.get() >= 0 ? n++ : 0;
    if (out_at != 0) fds[out_at] = {rd.get(), POLLIN, 0};
    const nfds_t cancel_at = opts.cancel_fd >= 0 ? n++ : 0;
    if (cancel_at != 0) fds[cancel_at] = {opts.cancel_fd, POLLIN, 0};
    if (::poll(fds, n, left) < 0) {
      if (errno == EINTR) continue;
      return false;  // cannot wait: end it as at the deadline
    }
    if (out_at != 0 && fds[out_at].revents != 0 && !read_some(rd.get(), r, opts.max_output))
      rd.reset();  // EOF; the process may still run, and the deadline still holds
    if (cancel_at != 0 && fds[cancel_at].revents != 0) {
      r.ending = Ending::kCancelled;
      return false;
    }
    if (fds[0].revents != 0) return true;
  }
}

// The group goes, whatever ended the wait: on a timeout or cancel the
// command with it, after an exit whatever it left running. The command
// itself is not reaped yet, so its pid (and so the group) cannot have been
// reused. Then the command is reaped, and its status read when it exited.
void end_group(pid_t pid, UniqueFd& pidfd, bool exited, const RunOptions& opts, RunResult& r) {
  ::kill(-pid, SIGKILL);
  int status = 0;
  const auto grace = r.ending == Ending::kCancelled ? kCancelKillGrace : kKillGrace;
  if (!exited && !wait_exit(pidfd.get(), Steady::now() + grace)) {
    // Stuck in the kernel: do not hold the caller (a probe, a stop) for it.
    // Without a reaper (no eventfd or thread to spare) it is left unreaped
    // rather than hold the caller.
    // The command ignored SIGKILL for a second (50 ms after a cancel; D
    // state): the reaper thread reaps it when it finally dies.
    (void)reaper().adopt(pid, std::move(pidfd), opts.owner);
    return;
  }
  reap(pid, status);
  if (!exited) return;
  if (WIFEXITED(status)) {
    r.ending = Ending::kExited;
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.ending = Ending::kSignaled;
    r.signal = WTERMSIG(status);
  }
}

// What was written before the end is still in the pipe.
void drain_output(UniqueFd& rd, const RunOptions& opts, RunResult& r) {
  const auto until = Steady::now() + kDrainGrace;
  while (rd.get() >= 0) {
    pollfd p{rd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, ms_until(until));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || !read_some(rd.get(), r, opts.max_output)) break;
  }
}

}  // namespace

Result<RunResult> run(const std::vector<std::string>& argv, const RunOptions& opts) {
  if (argv.empty() || argv[0].empty()) return make_error("run: no command given");
  const std::string what = "run " + argv[0];
  if (auto why = reaper().refuse(opts.owner)) return make_error(what + ": not started: " + *why);
  const auto t0 = Steady::now();
  int p[2];
  // CLOEXEC: a command another thread spawns at the same moment must not
  // inherit our write end (it would hold our pipe open).
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return failed(errno, what + ": pipe");
  UniqueFd rd(p[0]);
  UniqueFd wr(p[1]);
  // The child's end blocks as a pipe normally does.
  if (::fcntl(wr.get(), F_SETFL, 0) != 0) return failed(errno, what + ": pipe");
  auto pid = spawn(argv, opts, wr.get(), what);
  if (!pid) return pid.error();
  wr.reset();
  RunResult r;
  r.pid = *pid;
  r.timeout = opts.timeout;
  UniqueFd pidfd(pidfd_open(*pid));
  if (pidfd.get() < 0) {
    // No pidfd (a kernel before 5.3, or a seccomp filter): end it rather
    // than wait without a deadline.
    const int e = errno;
    ::kill(-*pid, SIGKILL);
    int status = 0;
    reap(*pid, status);
    return failed(e, what + ": pidfd_open");
  }
  const bool exited = watch(pidfd.get(), rd, t0 + opts.timeout, opts, r);
  end_group(*pid, pidfd, exited, opts, r);
  // After a cancel nobody reads the output, and the caller (a stop) must
  // not wait for something that left the group and holds the pipe.
  if (r.ending != Ending::kCancelled) drain_output(rd, opts, r);
  r.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - t0);
  return r;
}

}  // namespace rsagent::proc
