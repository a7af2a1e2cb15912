#include "rsagent/net/engine.hpp"

#include "rsagent/util/log.hpp"

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
      const auto* r = std::get_if<RouteEntry>(&e);
      return r && r->spec.dst == a.route.dst;
    }
  }
  return false;
}

std::string past_tense(const Action& a) {
  switch (a.kind) {
    case Action::Kind::kWriteSysctl:
      return "set " + a.key.str() + " = " + std::to_string(a.to) + " (was " + std::to_string(a.from) + ")";
    case Action::Kind::kAddAddress: return "added address " + a.address.str();
    case Action::Kind::kDelAddress: return "deleted address " + a.address.str();
    case Action::Kind::kAddRoute: return "added route " + a.route.str();
    case Action::Kind::kDelRoute: return "deleted route " + a.route.str();
  }
  return "?";
}

}  // namespace

Result<ObservedState> Engine::observe(const DesiredState& want, const Journal& prior) {
  auto snap = kernel_.observe();
  if (!snap) return Result<ObservedState>(snap.error()).with_context("observe");
  ObservedState st;
  st.links = std::move(snap->links);
  st.addresses = std::move(snap->addresses);
  st.routes = std::move(snap->routes);
  for (const auto& l : st.links)
    if (l.loopback) lo_ifindex_ = l.ifindex;
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

Status Engine::execute(const Action& a) {
  switch (a.kind) {
    case Action::Kind::kWriteSysctl: return sysctls_.write(a.key, a.to);
    case Action::Kind::kAddAddress: {
      auto s = kernel_.add_address(a.address, lo_ifindex_);
      // EEXIST: it appeared on lo since we looked (an IPv4 add only collides
      // on the same device), which is the state we wanted.
      if (!s && s.error().err == EEXIST) return {};
      return s;
    }
    case Action::Kind::kDelAddress: return kernel_.del_address(a.address, lo_ifindex_);
    case Action::Kind::kAddRoute: {
      auto s = kernel_.add_route(a.route, lo_ifindex_);
      if (!s && s.error().err == EEXIST) return {};
      return s;
    }
    case Action::Kind::kDelRoute: return kernel_.del_route(a.route, lo_ifindex_);
  }
  return make_error("unknown action");
}

Status Engine::save_or_remove(const Journal& j) {
  return j.empty() ? journal_.remove() : journal_.save(j);
}

Result<ApplyReport> Engine::apply(const Plan& plan, const Journal& prior) {
  ApplyReport report;
  for (const auto& e : plan.journal.entries) {
    if (const auto* a = std::get_if<AddressEntry>(&e); a && !a->created) ++report.adopted;
    if (const auto* r = std::get_if<RouteEntry>(&e); r && !r->created) ++report.adopted;
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
  for (std::size_t i = 0; i < plan.actions.size(); ++i) {
    const Action& a = plan.actions[i];
    if (auto s = execute(a); !s) {
      log::error("apply: " + s.error().str() + "; rolling back " + std::to_string(i) +
                 " change(s)");
      for (std::size_t k = i; k-- > 0;) {
        const Action undo = plan.actions[k].inverse();
        if (auto u = execute(undo); !u) {
          log::error("rollback: " + u.error().str());
        } else {
          log::info("rollback: " + past_tense(undo));
        }
      }
      if (auto j = save_or_remove(prior); !j) log::error("rollback: " + j.error().str());
      return Result<ApplyReport>(s.error()).with_context("apply");
    }
    ++report.changed;
    log::info(past_tense(a));
  }
  if (auto s = save_or_remove(plan.journal); !s) return Result<ApplyReport>(s.error()).with_context("apply");
  return report;
}

Status Engine::revert(const Journal& journal) {
  auto st = observe(DesiredState{}, journal);
  if (!st) return Status(st.error()).with_context("revert");
  const Plan plan = make_revert_plan(journal, *st);
  for (const auto& w : plan.warnings) log::warning(w);
  for (const auto& n : plan.notes) log::info(n);
  Journal left;
  Error first;
  bool failed = false;
  for (const auto& a : plan.actions) {
    if (auto s = execute(a); !s) {
      log::error("revert: " + s.error().str());
      if (!failed) first = s.error();
      failed = true;
      for (const auto& e : journal.entries)
        if (entry_matches(e, a)) left.entries.push_back(e);
      continue;
    }
    log::info(past_tense(a));
  }
  // Collected newest first; the journal keeps application order.
  std::reverse(left.entries.begin(), left.entries.end());
  if (auto s = save_or_remove(left); !s) return Status(s.error()).with_context("revert");
  if (failed) return Status(first).with_context("revert");
  return {};
}

}  // namespace rsagent::net
