// The running daemon's hold on the network: converge at start, put back
// what someone removes (self-heal), apply a reloaded configuration, revert
// at stop, and tell the Board how the network stands.
// Owns: the Agent (and so the netlink socket) and the journal in memory,
// which is the truth while the daemon runs whatever the file says (the
// StateKeeper writes it back), and the last refused self-heal. When the
// journal write after applying fails (a full /run), the memory still takes
// the new ownership (the kernel holds it), the file keeps the write-ahead
// record (a superset of it), and the failure is handed on, once, through
// take_unsaved() so the StateKeeper writes the journal when it can.
// Threads: the main thread only (libnl sockets are not thread-safe); the
// Board it reports to is thread-safe. Errors: Result/Status for I/O; a
// refused plan comes back as Converged::refused with every reason.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/daemon/agent.hpp"
#include "rsagent/verdict/board.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace rsagent::daemon {

// "refusing to change anything:" and one reason per line, indented; or one
// line joined by "; " for a log line or a header.
[[nodiscard]] std::string refusal_text(const std::vector<std::string>& reasons, bool one_line);

class NetworkKeeper {
 public:
  [[nodiscard]] static Result<std::unique_ptr<NetworkKeeper>> open(const Paths& paths);

  // Plan and apply `cfg` against the journal file (a crashed daemon's is
  // adopted). Not refused: the journal in memory is the result.
  [[nodiscard]] Result<Converged> take_over(const config::Config& cfg);
  // A reload: plan and apply `next` against the journal in memory.
  [[nodiscard]] Result<Converged> apply(const config::Config& next);
  // Self-heal: one dump and re-plan; puts back what was removed or changed
  // and logs each repair. Returns the kernel as it is now when known
  // (so the verdict needs no second dump).
  std::optional<net::ObservedState> repair(const config::Config& cfg, const char* why);
  // The network's part of the verdict, from `seen` or a fresh dump.
  void report(const config::Config& cfg, verdict::Board& board,
              std::optional<net::ObservedState> seen = std::nullopt);
  // The cheap check between full ones: a few /proc reads.
  [[nodiscard]] bool sysctls_as_written() { return agent_->sysctls_as_written(journal_); }
  [[nodiscard]] Status revert() { return agent_->revert(journal_); }

  [[nodiscard]] Result<int> open_events() { return agent_->open_events(); }
  net::Kernel::Drained drain_events() { return agent_->drain_events(); }
  [[nodiscard]] const net::Journal& journal() const { return journal_; }
  // Why the last write of the journal after applying failed, once; nullopt
  // when none failed since the last call. The file then holds the
  // write-ahead record of that change, not journal().
  [[nodiscard]] std::optional<std::string> take_unsaved() { return std::exchange(unsaved_, std::nullopt); }
  // Re-plans made (start, reloads, self-heal checks): what coalescing saves.
  [[nodiscard]] std::uint64_t replans() const { return replans_; }

 private:
  explicit NetworkKeeper(std::unique_ptr<Agent> agent) : agent_(std::move(agent)) {}
  // An applied plan's ownership becomes the truth in memory.
  void took(const Converged& conv);
  std::unique_ptr<Agent> agent_;
  net::Journal journal_;
  std::optional<std::string> unsaved_;  // see take_unsaved()
  std::string last_refusal_;  // one line; empty when the last self-heal was not refused
  std::uint64_t replans_ = 0;
  std::uint64_t repairs_ = 0;
};

}  // namespace rsagent::daemon
