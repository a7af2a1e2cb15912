#include "rsagent/net/engine.hpp"

#include "rsagent/util/log.hpp"

#include <net/if.h>

#include <algorithm>
#include <cerrno>

namespace rsagent::net {

namespace {

// The journal entry an action works on, for keeping failed reverts.
bool entry_matches(const JournalEntry& e, const Action& a) {
  switch (a.kind) {
    case Action::Kind::kWriteSysctl: {
      const auto* s = std::get_if<SysctlEntry>(&e);
      return s && s->key == a.key;
    }
    case Action::Kind::kAddAddress:
    case Action::Kind::kDelAddress: {
      const auto* x = std::get_if<AddressEntry>(&e);
      return x && x->spec.address == a.address.address;
    }
    case Action::Kind::kAddRoute:
    case Action::Kind::kDelRoute: {
      // A VIP changing mode has a main-table and a local route at once.
      const auto* r = std::get_if<RouteEntry>(&e);
      return r && r->spec.dst == a.route.dst && r->spec.type == a.route.type &&
             r->spec.table == a.route.table;
    }
    case Action::Kind::kAddLink:
    case Action::Kind::kDelLink:
    case Action::Kind::kLinkUp:
    case Action::Kind::kLinkDown: {
      const auto* l = std::get_if<LinkEntry>(&e);
      return l && l->spec.name == a.link.name;
    }
    case Action::Kind::kSetClamp:
    case Action::Kind::kDelClamp: return std::holds_alternative<ClampEntry>(e);
  }
  return false;
}

// The kernel's answers to deleting what is already gone: the state wanted.
bool already_gone(const KernelOp& op, int err) {
  if (op.kind == KernelOp::Kind::kDelAddress)
    return err == EADDRNOTAVAIL || err == ENOENT || err == ENODEV;
  if (op.kind == KernelOp::Kind::kDelRoute) return err == ESRCH || err == ENOENT || err == ENODEV;
  if (op.kind == KernelOp::Kind::kDelLink) return err == ENODEV;
  if (op.kind == KernelOp::Kind::kDelClamp) return err == ENOENT;
  return false;
}

// Link and nftables changes go to the kernel one at a time.
bool is_link(const Action& a) {
  return a.kind == Action::Kind::kAddLink || a.kind == Action::Kind::kDelLink ||
         a.kind == Action::Kind::kLinkUp || a.kind == Action::Kind::kLinkDown ||
         a.kind == Action::Kind::kSetClamp || a.kind == Action::Kind::kDelClamp;
}

// A kernel without the tunnel type: say what to load.
Status explain_link_failure(Status st, const KernelOp& op) {
  if (st || op.kind != KernelOp::Kind::kAddLink) return st;
  const int err = st.error().err;
  if (err != EOPNOTSUPP && err != EAFNOSUPPORT) return st;
  const std::string mod = op.link.kind == "ip6tnl" ? "ip6_tunnel" : "ipip";
  return Status(st.error())
      .with_context("this kernel cannot make " + op.link.kind + " devices: load the module with `modprobe " +
                    mod + "` (and at boot: `cp /usr/share/rsagent/modules-load.d/rsagent-tunnel.conf "
                    "/etc/modules-load.d/`), or create " + op.link.name +
                    " yourself (rsagent adopts a device of that name, whatever its type)");
}

KernelOp to_op(const Action& a, int ifindex) {
  KernelOp op;
  op.ifindex = ifindex;
  op.address = a.address;
  op.route = a.route;
  op.link = a.link;
  // An address on a tunnel device: the kernel edge finds it by name.
  if (!a.address.dev.empty()) op.ifindex = 0;
  switch (a.kind) {
    case Action::Kind::kAddAddress: op.kind = KernelOp::Kind::kAddAddress; break;
    case Action::Kind::kDelAddress: op.kind = KernelOp::Kind::kDelAddress; break;
    case Action::Kind::kAddRoute: op.kind = KernelOp::Kind::kAddRoute; break;
    case Action::Kind::kDelRoute: op.kind = KernelOp::Kind::kDelRoute; break;
    case Action::Kind::kAddLink: op.kind = KernelOp::Kind::kAddLink; break;
    case Action::Kind::kDelLink: op.kind = KernelOp::Kind::kDelLink; break;
    case Action::Kind::kLinkUp: op.kind = KernelOp::Kind::kLinkUp; break;
    case Action::Kind::kLinkDown: op.kind = KernelOp::Kind::kLinkDown; break;
    case Action::Kind::kSetClamp:
      op.kind = KernelOp::Kind::kSetClamp;
      op.nft = a.clamp.ruleset();
      break;
    case Action::Kind::kDelClamp: op.kind = KernelOp::Kind::kDelClamp; break;
    case Action::Kind::kWriteSysctl: break;
  }
  return op;
}

std::string past_tense(const Action& a) {
  switch (a.kind) {
    case Action::Kind::kWriteSysctl:
      return "set " + a.key.str() + " = " + std::to_string(a.to) + " (was " + std::to_string(a.from) + ")";
    case Action::Kind::kAddAddress: return "added address " + a.address.str();
    case Action::Kind::kDelAddress: return "deleted address " + a.address.str();
    case Action::Kind::kAddRoute: return "added route " + a.route.str();
    case Action::Kind::kDelRoute: return "deleted route " + a.route.str();
    case Action::Kind::kAddLink: return "created link " + a.link.str() + " (up)";
    case Action::Kind::kDelLink: return "deleted link " + a.link.name;
    case Action::Kind::kLinkUp: return "set link " + a.link.name + " up";
    case Action::Kind::kLinkDown: return "set link " + a.link.name + " down";
    case Action::Kind::kSetClamp: return a.str();
    case Action::Kind::kDelClamp: return std::string("deleted nft table inet ") + kClampTable;
  }
  return "?";
}

}  // namespace

Result<ObservedState> Engine::observe(const DesiredState& want, const Journal& prior,
                                      bool with_objects) {
  auto snap = kernel_.observe(with_objects);
  if (!snap) return Result<ObservedState>(snap.error()).with_context("observe");
  ObservedState st;
  st.links = std::move(snap->links);
  st.addresses = std::move(snap->addresses);
  st.routes = std::move(snap->routes);
  for (const auto& l : st.links)
    if (l.loopback) lo_ifindex_ = l.ifindex;
  // rsagent's nftables table, only where tunnel mode may own it: listing
  // reads the ruleset, which on a firewall host is not small.
  const bool clamp = (want.tunnel && want.tunnel->clamp) ||
                     std::any_of(prior.entries.begin(), prior.entries.end(),
                                 [](const JournalEntry& e) { return std::holds_alternative<ClampEntry>(e); });
  if (clamp && with_objects) {
    auto listing = kernel_.clamp_listing();
    if (!listing) return Result<ObservedState>(listing.error()).with_context("observe");
    st.clamp_listing = std::move(*listing);
  }
  for (const auto& key : keys_to_observe(want, prior, st.links)) {
    auto v = sysctls_.read(key);
    if (v) {
      st.sysctls[key] = *v;
    } else if (v.error().err != ENOENT) {
      return Result<ObservedState>(v.error()).with_context("observe");
    }
  }
  return st;
}

std::vector<std::optional<Status>> Engine::run(const std::vector<Action>& actions,
                                               bool stop_on_failure) {
  std::vector<std::optional<Status>> out(actions.size());
  std::size_t i = 0;
  while (i < actions.size()) {
    bool failed = false;
    if (actions[i].kind == Action::Kind::kWriteSysctl) {
      out[i] = sysctls_.write(actions[i].key, actions[i].to);
      failed = !out[i]->ok();
      ++i;
    } else {
      // Consecutive kernel changes go down as one pipelined batch; a link
      // change goes alone, so what follows it finds the link as it left it.
      std::vector<KernelOp> ops;
      std::size_t j = i;
      for (; j < actions.size() && actions[j].kind != Action::Kind::kWriteSysctl &&
             ops.size() < kBatch && (ops.empty() || !is_link(actions[j])) &&
             !(j > i && is_link(actions[j - 1]));
           ++j)
        ops.push_back(to_op(actions[j], lo_ifindex_));
      auto res = kernel_.execute(ops);
      for (std::size_t k = 0; k < ops.size(); ++k) {
        Status st = std::move(res[k]);
        // EEXIST on an add: it appeared on lo since we looked (an IPv4 add
        // only collides on the same device), which is the state we wanted.
        const bool add = ops[k].kind == KernelOp::Kind::kAddAddress ||
                         ops[k].kind == KernelOp::Kind::kAddRoute;
        if (!st && add && st.error().err == EEXIST) st = Status{};
        if (!st && already_gone(ops[k], st.error().err)) st = Status{};
        st = explain_link_failure(std::move(st), ops[k]);
        failed = failed || !st;
        out[i + k] = std::move(st);
      }
      i = j;
    }
    if (failed && stop_on_failure) break;
  }
  return out;
}

Status Engine::save_or_remove(const Journal& j) {
  return j.empty() ? journal_.remove() : journal_.save(j);
}

Result<ApplyReport> Engine::apply(const Plan& plan, const Journal& prior) {
  ApplyReport report;
  for (const auto& e : plan.journal.entries) {
    if (const auto* a = std::get_if<AddressEntry>(&e); a && !a->created) ++report.adopted;
    if (const auto* r = std::get_if<RouteEntry>(&e); r && !r->created) ++report.adopted;
    if (const auto* l = std::get_if<LinkEntry>(&e); l && !l->created) ++report.adopted;
  }
  if (plan.actions.empty()) {
    if (!(plan.journal == prior)) {
      if (auto s = save_or_remove(plan.journal); !s) return Result<ApplyReport>(s.error()).with_context("apply");
    }
    return report;
  }
  // Write-ahead: the whole intent is durable before the first change, so a
  // crash anywhere below leaves a journal that covers every change made.
  if (auto s = journal_.save(plan.intent); !s) return Result<ApplyReport>(s.error()).with_context("apply");
  const auto results = run(plan.actions, true);
  std::vector<Action> done;
  std::optional<Error> failure;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i]) continue;
    if (results[i]->ok()) {
      done.push_back(plan.actions[i]);
      log::info(past_tense(plan.actions[i]));
    } else if (!failure) {
      failure = results[i]->error();
    }
  }
  if (failure) {
    log::error("apply: " + failure->str() + "; rolling back " + std::to_string(done.size()) +
               " change(s)");
    std::vector<Action> undo;
    for (auto it = done.rbegin(); it != done.rend(); ++it) undo.push_back(it->inverse());
    const auto undone = run(undo, false);
    for (std::size_t i = 0; i < undo.size(); ++i) {
      if (undone[i] && !undone[i]->ok()) {
        log::error("rollback: " + undone[i]->error().str());
      } else {
        log::info("rollback: " + past_tense(undo[i]));
      }
    }
    if (auto j = save_or_remove(prior); !j) log::error("rollback: " + j.error().str());
    return Result<ApplyReport>(*failure).with_context("apply");
  }
  report.changed = static_cast<int>(done.size());
  // The intent already says exactly this unless something was being removed.
  // If this write fails the kernel changes stay: undoing them could fail
  // too, and the intent on disk already covers them all.
  if (!(plan.journal == plan.intent)) {
    if (auto s = save_or_remove(plan.journal); !s) report.unsaved = s.error();
  }
  return report;
}

Status Engine::revert(const Journal& recorded) {
  auto st = observe(DesiredState{}, recorded, false);
  if (!st) return Status(st.error()).with_context("revert");
  // Sysctls follow their interface, not its name: eth0 renamed eth9 keeps
  // the values rsagent wrote, under the new name.
  std::vector<std::string> moved;
  const Journal journal = follow_renamed_interfaces(recorded, st->links, moved);
  for (const auto& n : moved) log::notice(n);
  if (!(journal == recorded)) {
    st = observe(DesiredState{}, journal, false);
    if (!st) return Status(st.error()).with_context("revert");
  }
  const Plan plan = make_revert_plan(journal, *st);
  for (const auto& w : plan.warnings) log::warning(w);
  for (const auto& n : plan.notes) log::info(n);
  Journal left;
  Error first;
  bool failed = false;
  const auto results = run(plan.actions, false);
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Action& a = plan.actions[i];
    if (results[i] && results[i]->ok()) {
      log::info(past_tense(a));
      continue;
    }
    const Error err = results[i] ? results[i]->error() : make_error("not attempted");
    log::error("revert: " + err.str());
    if (!failed) first = err;
    failed = true;
    for (const auto& e : journal.entries)
      if (entry_matches(e, a)) left.entries.push_back(e);
  }
  // Collected newest first; the journal keeps application order.
  std::reverse(left.entries.begin(), left.entries.end());
  if (auto s = save_or_remove(left); !s) return Status(s.error()).with_context("revert");
  if (failed) return Status(first).with_context("revert");
  return {};
}

Result<std::unique_ptr<Engine>> Engine::open(const std::string& journal_path) {
  auto k = make_netlink_kernel();
  if (!k) return k.error();
  return std::unique_ptr<Engine>(new Engine(std::move(*k), make_proc_sysctl_store(), journal_path));
}

bool Engine::sysctls_as_written(const Journal& j) {
  for (const auto& e : j.entries) {
    const auto* s = std::get_if<SysctlEntry>(&e);
    if (s == nullptr) continue;
    auto v = sysctls_.read(s->key);
    // A renamed interface: its index names it now (one ioctl, no dump).
    char name[IF_NAMESIZE] = {};
    if (!v && s->ifindex > 0 && ::if_indextoname(static_cast<unsigned>(s->ifindex), name) != nullptr)
      v = sysctls_.read(SysctlKey{name, s->key.name});
    if (!v || *v != s->wrote) return false;
  }
  return true;
}

Result<Engine::Planned> Engine::plan_now(const config::Config& cfg, const Journal* prior) {
  Planned out;
  if (prior != nullptr) {
    out.prior = *prior;
  } else {
    auto loaded = journal_.load();
    if (!loaded) return loaded.error();
    out.prior = loaded->value_or(Journal{});
  }
  const auto want = desired_state(cfg);
  auto have = observe(want, out.prior);
  if (!have) return have.error();
  out.observed = std::move(*have);
  out.plan = make_plan(want, out.observed, out.prior);
  return out;
}

Result<Plan> Engine::plan(const config::Config& cfg) {
  auto p = plan_now(cfg, nullptr);
  if (!p) return p.error();
  return std::move(p->plan);
}

Result<Converged> Engine::converge(const config::Config& cfg, bool quiet, const Journal* prior) {
  auto planned = plan_now(cfg, prior);
  if (!planned) return planned.error();
  Plan& p = planned->plan;
  if (!p.errors.empty()) return Converged{{}, std::move(p), std::move(planned->observed)};
  if (!quiet) {
    for (const auto& n : p.notes) log::notice(n);
    for (const auto& w : p.warnings) log::warning(w);
  }
  auto report = apply(p, planned->prior);
  if (!report) return report.error();
  return Converged{*report, std::move(p), std::move(planned->observed)};
}

Status Engine::revert_all() {
  auto j = journal_.load();
  if (!j) return Status(j.error());
  if (!*j) return {};
  return revert(**j);
}

}  // namespace rsagent::net
