#include "rsagent/daemon/agent.hpp"

#include "rsagent/util/log.hpp"

#include <net/if.h>

namespace rsagent::daemon {

Result<std::unique_ptr<Agent>> Agent::open(const Paths& paths) {
  auto k = net::make_netlink_kernel();
  if (!k) return k.error();
  return std::unique_ptr<Agent>(new Agent(std::move(*k), net::make_proc_sysctl_store(),
                                          net::JournalStore(paths.journal())));
}

Result<net::ObservedState> Agent::observe(const net::Journal& j) {
  return engine_.observe(net::DesiredState{}, j);
}

bool Agent::sysctls_as_written(const net::Journal& j) {
  for (const auto& e : j.entries) {
    const auto* s = std::get_if<net::SysctlEntry>(&e);
    if (s == nullptr) continue;
    auto v = sysctls_->read(s->key);
    // A renamed interface: its index names it now (one ioctl, no dump).
    char name[IF_NAMESIZE] = {};
    if (!v && s->ifindex > 0 && ::if_indextoname(static_cast<unsigned>(s->ifindex), name) != nullptr)
      v = sysctls_->read(net::SysctlKey{name, s->key.name});
    if (!v || *v != s->wrote) return false;
  }
  return true;
}

Result<Agent::Planned> Agent::plan_now(const config::Config& cfg, const net::Journal* prior) {
  Planned out;
  if (prior != nullptr) {
    out.prior = *prior;
  } else {
    auto loaded = journal_.load();
    if (!loaded) return loaded.error();
    out.prior = loaded->value_or(net::Journal{});
  }
  const auto want = net::desired_state(cfg);
  auto have = engine_.observe(want, out.prior);
  if (!have) return have.error();
  out.observed = std::move(*have);
  out.plan = net::make_plan(want, out.observed, out.prior);
  return out;
}

Result<net::Plan> Agent::plan(const config::Config& cfg) {
  auto p = plan_now(cfg);
  if (!p) return p.error();
  return std::move(p->plan);
}

Result<Converged> Agent::converge(const config::Config& cfg, bool quiet, const net::Journal* prior) {
  auto planned = plan_now(cfg, prior);
  if (!planned) return planned.error();
  net::Plan& p = planned->plan;
  if (!p.errors.empty()) return Converged{{}, std::move(p), std::move(planned->observed)};
  if (!quiet) {
    for (const auto& n : p.notes) log::notice(n);
    for (const auto& w : p.warnings) log::warning(w);
  }
  auto report = engine_.apply(p, planned->prior);
  if (!report) return report.error();
  return Converged{*report, std::move(p), std::move(planned->observed)};
}

Status Agent::revert_all() {
  auto j = journal_.load();
  if (!j) return Status(j.error());
  if (!*j) return {};
  return engine_.revert(**j);
}

}  // namespace rsagent::daemon
