#include "rsagent/daemon/state_keeper.hpp"

#include "rsagent/net/journal.hpp"
#include "rsagent/util/fs.hpp"

#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

namespace rsagent::daemon {

StateKeeper::Stamp StateKeeper::stamp(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  return {true, st.st_dev, st.st_ino, st.st_size,
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

void StateKeeper::control_bound() { control_ = stamp(paths_.control_socket()); }

void StateKeeper::check_journal(const net::Journal& journal, Report& r) {
  const std::string& path = paths_.journal();
  const Stamp now = stamp(path);
  // Unchanged since it was last found right: the common case, one stat.
  if (journal_owed_.empty() && now.exists && now == journal_seen_) return;
  const std::string want = journal.empty() ? std::string() : net::encode_journal(journal);
  auto have = fs::read_if_exists(path);
  const bool right = have && (*have ? **have == want : want.empty());
  if (!right) {
    net::JournalStore store(path);
    const Status s = journal.empty() ? store.remove() : store.save(journal);
    if (!s) {
      // A failed atomic write leaves the file as it was: after a failed
      // journal write that is the write-ahead record, which still covers
      // everything rsagent holds.
      r.failed.push_back("cannot write back " + path + ": " + s.error().str() +
                         (journal_owed_.empty()
                              ? std::string()
                              : "; it keeps the write-ahead record of the last change, which covers "
                                "everything rsagent holds"));
      return;
    }
    r.repaired.push_back(journal_owed_.empty()
                             ? "journal " + path + (now.exists ? " was changed" : " was removed") +
                                   " behind rsagent's back; wrote it back from memory"
                             : "journal " + path + " written from memory at last (the write after the last "
                                   "change had failed: " + journal_owed_ + ")");
  }
  journal_owed_.clear();
  journal_seen_ = stamp(path);
}

StateKeeper::Report StateKeeper::check(const net::Journal& journal, pid_t pid, InstanceLock& lock) {
  Report r;
  for (const auto& dir : {paths_.runtime, paths_.persistent}) {
    if (stamp(dir).exists) continue;
    if (auto s = fs::make_dirs(dir); !s) {
      r.failed.push_back("cannot create the state folder " + dir + ": " + s.error().str());
      return r;
    }
    r.repaired.push_back("state folder " + dir + " was removed while rsagent runs; created it again");
  }
  if (!lock.holds(paths_.lockfile())) {
    // The old lock is on a file nobody can open any more: take the new one,
    // or a second `start` would take it and run a second daemon.
    auto again = InstanceLock::try_acquire(paths_.lockfile());
    if (!again) {
      r.failed.push_back(paths_.lockfile() + " was replaced and another process holds it: " +
                         again.error().str());
    } else {
      lock = std::move(*again);
      r.repaired.push_back("lock file " + paths_.lockfile() + " was removed; took it again");
    }
  }
  check_journal(journal, r);
  const std::string pid_text = std::to_string(pid) + "\n";
  auto have_pid = fs::read_if_exists(paths_.pidfile());
  if (!have_pid || !*have_pid || **have_pid != pid_text) {
    if (auto s = fs::write_atomic(paths_.pidfile(), pid_text, 0644, false); !s) {
      r.failed.push_back("cannot write back " + paths_.pidfile() + ": " + s.error().str());
    } else {
      r.repaired.push_back("pid file " + paths_.pidfile() + " was removed or changed; wrote it back");
    }
  }
  const Stamp sock = stamp(paths_.control_socket());
  if (!sock.exists || sock.dev != control_.dev || sock.ino != control_.ino) r.rebind_control = true;
  return r;
}

}  // namespace rsagent::daemon
