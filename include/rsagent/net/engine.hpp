// The engine: one state folder's network job. Observe the kernel, plan
// (make_plan, pure), apply with a write-ahead journal, revert.
// Owns: the order of I/O around a Plan; with open(), also the real Kernel,
// SysctlStore and JournalStore (tests hand it fakes instead). The journal is written (atomically)
// before the first kernel change; a failed apply rolls back what it did and
// restores the previous journal. Once every change is made, a failed final
// write is not a failed apply: the file keeps the write-ahead record (a
// superset of what the kernel now holds) and the report says so. Threads:
// not thread-safe; the netlink thread owns an Engine. Errors: Status with
// the failing object in the context.
#pragma once

#include "rsagent/net/journal.hpp"
#include "rsagent/net/kernel.hpp"
#include "rsagent/net/plan.hpp"
#include "rsagent/config/config.hpp"

#include <memory>
#include <optional>
#include <vector>

namespace rsagent::net {

struct ApplyReport {
  int changed = 0;  // kernel changes made
  int adopted = 0;  // objects found in place and recorded as not owned
  // Every change is made, but writing plan.journal after them failed (a
  // full /run): the file still holds plan.intent, which covers everything
  // the kernel holds (and what left it), so a `stop` from the file alone
  // still reverts all. The caller owes the file plan.journal.
  std::optional<Error> unsaved;
};

// What converge() did.
struct Converged {
  ApplyReport report;
  // With plan.errors (refused()), nothing was applied: each error names an
  // object and the fix, formatted where it is shown.
  Plan plan;
  // The kernel as seen before applying: when nothing was changed it is the
  // current state, so the caller need not dump it again.
  ObservedState observed;
  [[nodiscard]] bool refused() const { return !plan.errors.empty(); }
};

class Engine {
 public:
  // The real kernel (rtnetlink), /proc/sys and the journal file at
  // `journal_path`; fails when no rtnetlink socket can be opened.
  [[nodiscard]] static Result<std::unique_ptr<Engine>> open(const std::string& journal_path);

  static constexpr std::size_t kBatch = 4096;  // kernel changes handed down at once

  Engine(Kernel& kernel, SysctlStore& sysctls, const JournalStore& journal)
      : kernel_(kernel), sysctls_(sysctls), journal_(journal) {}

  // The plan `start` would carry out now (with the journal's ownership).
  [[nodiscard]] Result<Plan> plan(const config::Config& cfg);
  // Plan and apply, or refuse (Converged::refused) and change nothing.
  // quiet: leave logging the plan's notes and warnings to the caller.
  // prior: the running daemon's own journal (its memory is the truth while
  // it runs); without it, the journal file (adoption after a crash).
  [[nodiscard]] Result<Converged> converge(const config::Config& cfg, bool quiet = false,
                                           const Journal* prior = nullptr);
  // Revert everything the journal file owns; no journal: nothing to do.
  [[nodiscard]] Status revert_all();
  [[nodiscard]] Result<std::optional<Journal>> journal() const { return journal_.load(); }
  // Writes `j` to the journal file (after someone removed or changed it).
  [[nodiscard]] Status save_journal(const Journal& j) { return journal_.save(j); }
  // What `j` owns, as the kernel has it now.
  [[nodiscard]] Result<ObservedState> observe(const Journal& j) { return observe(DesiredState{}, j); }
  // Whether every sysctl `j` holds still has the value rsagent wrote: a
  // few /proc reads, for the cheap check between full ones.
  [[nodiscard]] bool sysctls_as_written(const Journal& j);
  [[nodiscard]] Result<int> open_events() { return kernel_.open_events(); }
  Kernel::Drained drain_events() { return kernel_.drain_events(); }

  // Kernel objects plus the sysctls planning needs for `want` and `prior`.
  [[nodiscard]] Result<ObservedState> observe(const DesiredState& want, const Journal& prior,
                                              bool with_objects = true);

  // Executes plan.actions in order. The plan must have no errors.
  [[nodiscard]] Result<ApplyReport> apply(const Plan& plan, const Journal& prior);

  // Reverts what `journal` owns; on partial failure the journal keeps only
  // what could not be undone, so a later `stop` can finish the job.
  [[nodiscard]] Status revert(const Journal& journal);

 private:
  struct Planned {
    Journal prior;
    ObservedState observed;
    Plan plan;
  };
  [[nodiscard]] Result<Planned> plan_now(const config::Config& cfg, const Journal* prior);

  Engine(std::unique_ptr<Kernel> k, std::unique_ptr<SysctlStore> s, std::string journal_path)
      : own_kernel_(std::move(k)), own_sysctls_(std::move(s)), own_journal_(std::move(journal_path)),
        kernel_(*own_kernel_), sysctls_(*own_sysctls_), journal_(*own_journal_) {}
  // Set by open() only; declared first, so they outlive the references.
  std::unique_ptr<Kernel> own_kernel_;
  std::unique_ptr<SysctlStore> own_sysctls_;
  std::optional<JournalStore> own_journal_;
  Kernel& kernel_;
  SysctlStore& sysctls_;
  const JournalStore& journal_;
  int lo_ifindex_ = 1;

  // Runs actions in order, kernel changes in batches; one result per
  // action, empty for those not attempted after a failure (stop_on_failure).
  [[nodiscard]] std::vector<std::optional<Status>> run(const std::vector<Action>& actions,
                                                       bool stop_on_failure);
  [[nodiscard]] Status save_or_remove(const Journal& j);
};

}  // namespace rsagent::net
