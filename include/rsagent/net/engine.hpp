// The engine: observe, plan, apply with a write-ahead journal, revert.
// Owns: the order of I/O around a Plan. The journal is written (atomically)
// before the first kernel change; a failed apply rolls back what it did and
// restores the previous journal. Threads: not thread-safe; the netlink thread
// owns an Engine. Errors: Status with the failing object in the context.
#pragma once

#include "rsagent/net/journal.hpp"
#include "rsagent/net/kernel.hpp"
#include "rsagent/net/plan.hpp"

#include <functional>

namespace rsagent::net {

struct ApplyReport {
  int changed = 0;  // kernel changes made
  int adopted = 0;  // objects found in place and recorded as not owned
};

class Engine {
 public:
  Engine(Kernel& kernel, SysctlStore& sysctls, const JournalStore& journal)
      : kernel_(kernel), sysctls_(sysctls), journal_(journal) {}

  // Kernel objects plus the sysctls planning needs for `want` and `prior`.
  [[nodiscard]] Result<ObservedState> observe(const DesiredState& want, const Journal& prior);

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

  [[nodiscard]] Status execute(const Action& a);
  [[nodiscard]] Status save_or_remove(const Journal& j);
};

}  // namespace rsagent::net
