// The engine: observe, plan, apply with a write-ahead journal, revert.
// Owns: the order of I/O around a Plan. The journal is written (atomically)
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

class Engine {
 public:
  static constexpr std::size_t kBatch = 4096;  // kernel changes handed down at once

  Engine(Kernel& kernel, SysctlStore& sysctls, const JournalStore& journal)
      : kernel_(kernel), sysctls_(sysctls), journal_(journal) {}

  // Kernel objects plus the sysctls planning needs for `want` and `prior`.
  [[nodiscard]] Result<ObservedState> observe(const DesiredState& want, const Journal& prior,
                                              bool with_objects = true);

  // Executes plan.actions in order. The plan must have no errors.
  [[nodiscard]] Result<ApplyReport> apply(const Plan& plan, const Journal& prior);

  // Reverts what `journal` owns; on partial failure the journal keeps only
  // what could not be undone, so a later `stop` can finish the job.
  [[nodiscard]] Status revert(const Journal& journal);

 private:
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
