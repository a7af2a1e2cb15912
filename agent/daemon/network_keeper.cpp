#include "rsagent/daemon/network_keeper.hpp"

#include "rsagent/verdict/net_health.hpp"
#include "rsagent/util/log.hpp"
#include "rsagent/util/text.hpp"

#include <chrono>

namespace rsagent::daemon {

std::string refusal_text(const std::vector<std::string>& reasons, bool one_line) {
  std::string out = "refusing to change anything:";
  for (const auto& r : reasons) out += (one_line ? (&r == &reasons.front() ? " " : "; ") : "\n  ") + r;
  return one_line ? text::one_line(out) : out;
}

Result<std::unique_ptr<NetworkKeeper>> NetworkKeeper::open(const Paths& paths) {
  auto agent = Agent::open(paths);
  if (!agent) return agent.error();
  return std::unique_ptr<NetworkKeeper>(new NetworkKeeper(std::move(*agent)));
}

void NetworkKeeper::took(const Converged& conv) {
  journal_ = conv.plan.journal;
  if (!conv.report.unsaved) return;
  // The kernel holds what plan.journal says; the file still says the
  // intent, which owns all of it and what just left. Forgetting the change
  // (keeping the old journal) would leave the new VIPs unowned: `stop`
  // would never remove them.
  unsaved_ = conv.report.unsaved->str();
  log::warning("every change is made, but the journal could not be written after them (" + *unsaved_ +
               "); it keeps the write-ahead record, which covers them all, until it can be written");
}

Result<Converged> NetworkKeeper::take_over(const config::Config& cfg) {
  ++replans_;
  auto conv = agent_->converge(cfg);
  if (conv && !conv->refused()) took(*conv);
  return conv;
}

Result<Converged> NetworkKeeper::apply(const config::Config& next) {
  ++replans_;
  auto conv = agent_->converge(next, false, &journal_);
  if (conv && !conv->refused()) took(*conv);
  return conv;
}

std::optional<net::ObservedState> NetworkKeeper::repair(const config::Config& cfg, const char* why) {
  const auto t0 = std::chrono::steady_clock::now();
  ++replans_;
  auto conv = agent_->converge(cfg, true, &journal_);
  std::string refusal;
  if (!conv) {
    refusal = text::one_line(conv.error().str());
  } else if (conv->refused()) {
    refusal = refusal_text(conv->plan.errors, true);
  }
  if (!refusal.empty()) {
    // Once per distinct refusal: it is checked every few seconds.
    if (refusal != last_refusal_) log::error("self-heal (" + std::string(why) + "): " + refusal);
    last_refusal_ = std::move(refusal);
    return std::nullopt;
  }
  last_refusal_.clear();
  took(*conv);
  if (conv->report.changed == 0) return std::move(conv->observed);
  const auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - t0).count() / 1000.0;
  repairs_ += static_cast<std::uint64_t>(conv->report.changed);
  for (const auto& a : conv->plan.actions)
    log::warning("self-heal: someone changed what rsagent holds; " + a.str() + " (" + why +
                 ", fixed in " + std::to_string(ms) + " ms)");
  return net::after_plan(std::move(conv->observed), conv->plan);
}

void NetworkKeeper::report(const config::Config& cfg, verdict::Board& board,
                           std::optional<net::ObservedState> seen) {
  Result<net::ObservedState> have =
      seen ? Result<net::ObservedState>(std::move(*seen)) : agent_->observe(journal_);
  board.net_repairs = repairs_;
  board.net_replans = replans_;
  if (!have) {
    board.set_net({true, false, "cannot observe the network: " + have.error().str()}, {});
    return;
  }
  auto detail = verdict::describe_state(journal_, *have);
  auto nh = verdict::judge_network(detail, *have, verdict::net_policy(cfg), last_refusal_);
  board.set_net(std::move(nh), std::move(detail));
}

}  // namespace rsagent::daemon
