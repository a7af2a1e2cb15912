// The agent's network job: turn a Config into kernel state and back.
// Owns: the real Kernel, SysctlStore and JournalStore for one state folder,
// and the sequence load journal -> observe -> plan -> apply (or revert).
// Threads: one; the daemon's main thread owns the Agent (and so the netlink
// socket). Errors: Result/Status for I/O; a refused plan is a value
// (Converged::refused) with every reason.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/daemon/paths.hpp"
#include "rsagent/net/engine.hpp"

#include <memory>

namespace rsagent::daemon {

struct Converged {
  net::ApplyReport report;
  // With plan.errors (refused()), nothing was applied: each error names an
  // object and the fix, formatted where it is shown.
  net::Plan plan;
  // The kernel as seen before applying: when nothing was changed it is the
  // current state, so the caller need not dump it again.
  net::ObservedState observed;
  [[nodiscard]] bool refused() const { return !plan.errors.empty(); }
};

class Agent {
 public:
  [[nodiscard]] static Result<std::unique_ptr<Agent>> open(const Paths& paths);

  // The plan `start` would carry out now (with the journal's ownership).
  [[nodiscard]] Result<net::Plan> plan(const config::Config& cfg);
  // Plan and apply, or refuse (Converged::refused) and change nothing.
  // quiet: leave logging the plan's notes and warnings to the caller.
  // prior: the running daemon's own journal (its memory is the truth while
  // it runs); without it, the journal file (adoption after a crash).
  [[nodiscard]] Result<Converged> converge(const config::Config& cfg, bool quiet = false,
                                           const net::Journal* prior = nullptr);
  [[nodiscard]] Result<int> open_events() { return kernel_->open_events(); }
  net::Kernel::Drained drain_events() { return kernel_->drain_events(); }
  // Revert everything the journal file owns; no journal: nothing to do.
  [[nodiscard]] Status revert_all();
  // Revert what `j` owns (the daemon's journal in memory), whatever the file says.
  [[nodiscard]] Status revert(const net::Journal& j) { return engine_.revert(j); }
  // Writes `j` to the journal file (after someone removed or changed it).
  [[nodiscard]] Status save_journal(const net::Journal& j) { return journal_.save(j); }

  [[nodiscard]] Result<std::optional<net::Journal>> journal() const { return journal_.load(); }
  [[nodiscard]] Result<net::ObservedState> observe(const net::Journal& j);
  // Whether every sysctl `j` holds still has the value rsagent wrote: a
  // few /proc reads, for the cheap check between full ones.
  [[nodiscard]] bool sysctls_as_written(const net::Journal& j);

 private:
  struct Planned {
    net::Journal prior;
    net::ObservedState observed;
    net::Plan plan;
  };
  [[nodiscard]] Result<Planned> plan_now(const config::Config& cfg, const net::Journal* prior = nullptr);

  Agent(std::unique_ptr<net::Kernel> k, std::unique_ptr<net::SysctlStore> s, net::JournalStore j)
      : kernel_(std::move(k)), sysctls_(std::move(s)), journal_(std::move(j)),
        engine_(*kernel_, *sysctls_, journal_) {}
  std::unique_ptr<net::Kernel> kernel_;
  std::unique_ptr<net::SysctlStore> sysctls_;
  net::JournalStore journal_;
  net::Engine engine_;
};

}  // namespace rsagent::daemon
