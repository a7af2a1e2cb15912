#include "rsagent/fleet/budget.hpp"

#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>

namespace rsagent::fleet {

namespace {
using nlohmann::json;

const std::vector<std::string> kStates{"drain", "maint", "stop"};

}  // namespace

std::string encode_holder(const Holder& h) {
  const json j{{"name", h.name}, {"state", h.state}, {"reason", h.reason}, {"since", h.since}, {"vips", h.vips}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Holder> decode_holder(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error("a budget slot must be a JSON object");
  Holder h;
  if (!j.contains("name") || !j["name"].is_string()) return make_error("a budget slot has no \"name\"");
  // Cleaned where it enters: another host wrote it.
  h.name = text::one_line(j["name"].get<std::string>(), 253);
  if (!j.contains("state") || !j["state"].is_string()) return make_error("a budget slot has no \"state\"");
  h.state = j["state"].get<std::string>();
  if (std::find(kStates.begin(), kStates.end(), h.state) == kStates.end())
    return make_error("a budget slot's state \"" + text::one_line(h.state, 40) + "\" is not drain, maint or stop");
  if (j.contains("reason") && j["reason"].is_string()) h.reason = text::one_line(j["reason"].get<std::string>(), 512);
  if (j.contains("since") && j["since"].is_number_integer()) h.since = j["since"].get<std::int64_t>();
  if (j.contains("vips") && j["vips"].is_array())
    for (const json& v : j["vips"])
      if (v.is_string() && h.vips.size() < kMaxListed) h.vips.push_back(text::one_line(v.get<std::string>(), 64));
  return h;
}

std::string budget_prefix(const std::string& prefix) { return prefix + "budget/"; }

int budget_limit(const config::Fleet& f, int nodes) {
  if (f.drain_budget > 0) return f.drain_budget;
  return std::max(1, f.drain_budget_percent * nodes / 100);
}

namespace {
bool has(const std::vector<std::string>& vips, const std::string& vip) {
  return std::find(vips.begin(), vips.end(), vip) != vips.end();
}

// The budget of the nodes that have `vip` (every node, for a node with no VIP).
BudgetView one_vip(const config::Fleet& f, const std::string& self, const std::string* vip,
                   const std::vector<Holder>& holders, const std::vector<NodeRecord>& records) {
  BudgetView v;
  if (vip != nullptr) v.vip = *vip;
  v.nodes = 1;
  for (const auto& r : records)
    if (r.name != self && vip != nullptr && has(r.vips, *vip)) ++v.nodes;
  for (const auto& h : holders) {
    if (h.name == self) {
      v.self_holds = true;
    } else if (vip != nullptr && has(h.vips, *vip)) {
      v.holders.push_back(h);
    }
  }
  // Out without a slot: down on its own, in maintenance by its file, or
  // drained where no budget is configured.
  for (const auto& r : records) {
    if (r.name == self || r.verdict == "ready" || vip == nullptr || !has(r.vips, *vip)) continue;
    const bool holds = std::any_of(holders.begin(), holders.end(), [&](const Holder& h) { return h.name == r.name; });
    if (!holds) v.down.push_back(r);
  }
  v.limit = budget_limit(f, v.nodes);
  return v;
}
}  // namespace

BudgetView budget_view(const config::Fleet& f, const std::string& self, const std::vector<std::string>& self_vips,
                       const std::vector<Holder>& holders, const std::vector<NodeRecord>& records) {
  if (self_vips.empty()) return one_vip(f, self, nullptr, holders, records);
  // Each VIP has its own budget; the one with the least room decides (a
  // full one refuses).
  BudgetView tightest;
  bool first = true;
  for (const auto& vip : self_vips) {
    BudgetView v = one_vip(f, self, &vip, holders, records);
    if (first || v.limit - v.out() < tightest.limit - tightest.out()) tightest = std::move(v);
    first = false;
  }
  return tightest;
}

std::string budget_text(const config::Fleet& f) {
  if (f.drain_budget > 0) return std::to_string(f.drain_budget) + " per VIP";
  return std::to_string(f.drain_budget_percent) + "% of the nodes that share a VIP";
}

std::string holders_text(const BudgetView& v) {
  std::string out;
  for (const auto& h : v.holders)
    out += "  " + h.name + "  " + h.state + "  since " + text::utc_time(h.since) + (h.reason.empty() ? "" : "  " + h.reason) + "\n";
  for (const auto& r : v.down)
    out += "  " + r.name + "  " + r.verdict + " on its own" + (r.reason.empty() ? "" : ": " + r.reason) + "\n";
  return out;
}

}  // namespace rsagent::fleet
