// StateKeeper: the running daemon's files, kept as it wrote them. While the
// daemon runs, its memory is the truth; the files (journal, pid file, lock
// file, control socket, the state folders) are how `status`, `stop` and a
// next `start` see it. An operator's `rm -rf /run/rsagent`, a tmpfiles
// clean-up or a stray `echo > journal.json` must not make them say "not
// running" while VIPs stay behind, or let a second daemon start. The same
// write-back finishes a journal write that failed after a change was
// applied (journal_owed): until it succeeds the file keeps the write-ahead
// record, a superset of what the kernel holds. Owns: what it last saw of
// each file. Threads: the daemon's main thread only. Errors: check()
// returns one line per repair (for a warning) and per failure.
#pragma once

#include "rsagent/daemon/paths.hpp"
#include "rsagent/net/model.hpp"

#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace rsagent::daemon {

class StateKeeper {
 public:
  explicit StateKeeper(Paths paths) : paths_(std::move(paths)) {}

  struct Report {
    std::vector<std::string> repaired;  // "journal ... was changed; wrote it back"
    std::vector<std::string> failed;    // what could not be put back, and why
    bool rebind_control = false;        // the control socket is gone: bind it again
  };

  // Puts back whatever of the daemon's files is missing or not as written:
  // the folders, the journal (from `journal`, the daemon's own), the pid
  // file, the lock (taken again on a new file when the old one was
  // removed). The control socket is the caller's to bind again.
  [[nodiscard]] Report check(const net::Journal& journal, pid_t pid, InstanceLock& lock);
  // The control socket was (re)bound at its path.
  void control_bound();
  // The daemon's last write of the journal failed (`why`); the file holds
  // the write-ahead record of that change. The next check()s write the
  // daemon's journal until one succeeds, and say so.
  void journal_owed(std::string why) { journal_owed_ = std::move(why); }

 private:
  struct Stamp {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  [[nodiscard]] static Stamp stamp(const std::string& path);
  void check_journal(const net::Journal& journal, Report& r);

  Paths paths_;
  Stamp journal_seen_;  // the journal file as last checked and found right
  Stamp control_;       // the control socket as bound
  std::string journal_owed_;  // why the daemon's last journal write failed; empty: none owed
};

}  // namespace rsagent::daemon
