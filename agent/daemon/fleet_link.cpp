#include "rsagent/daemon/fleet_link.hpp"

#include "rsagent/daemon/options.hpp"
#include "rsagent/util/log.hpp"

#include <algorithm>
#include <ctime>

namespace rsagent::daemon {

void FleetLink::apply(const config::Fleet& f) {
  if (running_ && *running_ == f) return;
  // The same node under the same prefix keeps its lease, as a restart does:
  // revoked, a drained node's slot would be free until the new publisher
  // puts it again, and another node could take it meanwhile.
  stop(running_ && fleet::node_name(*running_) == fleet::node_name(f) && running_->prefix == f.prefix);
  if (!f.enabled()) return;
  if (factory_ == nullptr) {
    log::warning("fleet: this binary has no etcd client; the fleet section is ignored");
    return;
  }
  const std::string name = fleet::node_name(f);
  verdict::Board* board = &board_;
  auto p = std::make_unique<fleet::Publisher>(f, factory_(f), [name, board] {
    return fleet::make_record(name, *board->snapshot(), board->directors(), fleet::local_addresses());
  });
  p->start();
  // A node that is out already (a drain kept across a restart, a reload
  // that set a budget) holds its slot: it counts whether or not it asked.
  if (f.budgeted()) {
    const auto snap = board_.snapshot();
    if (snap->op.admin != verdict::Admin::kReady) {
      auto h = fleet::Holder{name, verdict::admin_name(snap->op.admin), snap->op.reason, snap->op.since_unix,
                             fleet::make_record(name, *snap, {}, {}).vips};
      p->hold_slot(h);
    }
  }
  log::info("fleet: publishing this node as " + name + " under " + f.prefix + " (etcd " + f.endpoints.front() +
            (f.endpoints.size() > 1 ? " and others" : "") + ")");
  std::lock_guard lock(mutex_);
  publisher_ = std::move(p);
  running_ = f;
}

void FleetLink::notify() {
  std::lock_guard lock(mutex_);
  if (publisher_) publisher_->notify();
}

void FleetLink::stop(bool keep_lease) {
  std::shared_ptr<fleet::Publisher> p;
  {
    std::lock_guard lock(mutex_);
    p = std::move(publisher_);
    running_.reset();
  }
  if (p) p->stop(keep_lease);  // outside the lock: notify() never waits on an etcd call
}

// Long enough for the publisher to finish a call under way (which may try
// every endpoint, a deadline each) and make the take's own (a read and a
// transaction, a lost race read again); never more than kSlotTakeLimitMs,
// so the daemon answers before the control client stops waiting.
std::chrono::milliseconds take_wait(const config::Fleet& f) {
  const auto endpoints = static_cast<long>(std::max<std::size_t>(1, f.endpoints.size()));
  return std::min<std::chrono::milliseconds>((endpoints + 3) * fleet::fleet_deadline(f.ttl),
                                             std::chrono::milliseconds(kSlotTakeLimitMs));
}

namespace {

std::string others(const config::Fleet& f) {
  return f.drain_budget > 0 ? "up to " + std::to_string(f.drain_budget) + " other node(s)"
                            : "the budget's " + std::to_string(f.drain_budget_percent) + "% of the nodes";
}
}  // namespace

fleet::Holder FleetLink::holder(const config::Fleet& f, const std::string& state, const std::string& reason,
                                std::int64_t since) const {
  const auto snap = board_.snapshot();
  return {fleet::node_name(f), state, reason, since, fleet::make_record("", *snap, {}, {}).vips};
}

std::pair<std::shared_ptr<fleet::Publisher>, config::Fleet> FleetLink::budgeted() {
  std::lock_guard lock(mutex_);
  if (!publisher_ || !running_ || !running_->budgeted()) return {};
  return {publisher_, *running_};
}

std::optional<ControlReply> FleetLink::admit(const ControlRequest& r, const verdict::OperatorState& op,
                                             std::string& note) {
  const auto [publisher, f] = budgeted();
  if (!publisher) return std::nullopt;
  const fleet::Holder h = holder(f, verdict::admin_name(op.admin), op.reason, op.since_unix);
  const std::string budget = "the drain budget (" + fleet::budget_text(f) + ")";
  // Out already (drained, in maintenance): it holds its slot, so etcd is not
  // asked again; the slot takes the new state and reason, written once etcd
  // answers. A second `drain --wait`, or a new reason, works with etcd down.
  if (board_.snapshot()->op.admin != verdict::Admin::kReady) {
    publisher->hold_slot(h);
    note = "; it keeps its slot of " + budget;
    return std::nullopt;
  }
  const auto a = publisher->take_slot(h, take_wait(f));
  if (a.kind == fleet::SlotAnswer::Kind::kTaken) {
    note = "; it holds a slot of " + budget + ": " + std::to_string(a.view.out() + 1) + " of " +
           std::to_string(a.view.limit) + " out";
    return std::nullopt;
  }
  if (a.kind == fleet::SlotAnswer::Kind::kFull) {
    // A view that allows: other nodes took slots each time, kTakeRounds times.
    const std::string raced = a.view.allows() ? "it lost the race for a slot to other nodes " +
                                                    std::to_string(fleet::kTakeRounds) + " times in a row (last seen: "
                                              : "";
    const std::string shared =
        a.view.vip.empty() ? " node(s) that share a VIP with " : " node(s) that share VIP " + a.view.vip + " with ";
    const std::string out = raced + std::to_string(a.view.out()) + " of the " + std::to_string(a.view.nodes) +
                            shared + h.name + " are out, and " + budget + " allows " +
                            std::to_string(a.view.limit) + (raced.empty() ? "" : ")");
    if (r.force) {
      publisher->hold_slot(h);
      note = "; --force: " + out + ", so this node goes over the budget:\n" + fleet::holders_text(a.view);
      log::warning("fleet: " + r.cmd + " --force over the drain budget: " + out);
      return std::nullopt;
    }
    return ControlReply{false,
                        r.cmd + " refused: " + out + ":\n" + fleet::holders_text(a.view) + "`rsagent " + r.cmd +
                            " --wait` waits in line for a slot; --force goes anyway. Nothing was changed",
                        exit_code::kNoSlot};
  }
  const std::string where = f.endpoints.size() == 1 ? "etcd at " + f.endpoints.front() : "etcd (" + f.endpoints.front() + " and others)";
  if (r.force) {
    publisher->hold_slot(h);
    note = "; --force: " + where + " is unreachable, so " + budget + " was not checked: " + others(f) +
           " that share a VIP may be out at the same time; this node's slot is written once etcd answers";
    log::warning("fleet: " + r.cmd + " --force without the drain budget: " + where + " is unreachable (" + a.error + ")");
    return std::nullopt;
  }
  return ControlReply{false,
                      r.cmd + " refused: " + where + " is unreachable (" + a.error + "): " + budget +
                          " cannot be checked. Nothing was changed. --force goes anyway, and then " + others(f) +
                          " that share a VIP may be out at the same time",
                      exit_code::kFailure};
}

void FleetLink::release() {
  std::lock_guard lock(mutex_);
  if (publisher_) publisher_->release_slot();
}

void FleetLink::stopping() {
  const auto [publisher, f] = budgeted();
  if (!publisher) return;
  const auto since = static_cast<std::int64_t>(std::time(nullptr));
  const fleet::Holder h = holder(f, "stop", "stopping", since);
  const auto a = publisher->take_slot(h, take_wait(f));
  if (a.kind == fleet::SlotAnswer::Kind::kTaken) return;
  // The stop goes on (shutdown and package removal must finish); the slot
  // says this node is out, over the budget if it must be.
  publisher->hold_slot(h);
  if (a.kind == fleet::SlotAnswer::Kind::kFull) {
    std::string who = fleet::holders_text(a.view);
    for (auto& ch : who)
      if (ch == '\n') ch = ';';
    log::warning("stopping over the drain budget (" + std::to_string(a.view.limit) + "): out already:" + who);
  } else {
    log::warning("stopping without the drain budget's consent: etcd is unreachable (" + a.error + ")");
  }
}

}  // namespace rsagent::daemon
