// The drain budget: how many nodes that share a VIP may be out at once.
// Owns the holder's key and value (PREFIX/budget/NAME, under its node's
// lease, so a crashed holder's slot frees itself within the TTL), the
// decision whether one more node may go out (pure), and its texts (the
// refusal's list of holders, `rsagent fleet`'s budget line).
// Why a key per holder and not numbered slots: the taking transaction
// compares the mod revision of every key under PREFIX/budget/ with the
// revision the decision was made at (a range compare), so it fails when
// any other node took a slot meanwhile, whatever the limit; a limit that
// differs from node to node (a percentage of each VIP's nodes) and a node
// taking its own slot again then need no slot numbers.
// Pure; no threads; decoding returns a Result naming what was wrong.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/fleet/record.hpp"
#include "rsagent/util/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace rsagent::fleet {

struct Holder {
  std::string name;
  std::string state;  // drain, maint, stop
  std::string reason;
  std::int64_t since = 0;  // unix seconds
  std::vector<std::string> vips;
  bool operator==(const Holder&) const = default;
};

[[nodiscard]] std::string encode_holder(const Holder& h);
[[nodiscard]] Result<Holder> decode_holder(const std::string& text);

// PREFIX + "budget/" (+ NAME).
[[nodiscard]] std::string budget_prefix(const std::string& prefix);

// What counts against this node's budget on one of its VIPs, from etcd.
struct BudgetView {
  std::string vip;                   // the VIP ("" for a node with none)
  int limit = 0;                     // how many of its nodes may be out at once
  int nodes = 0;                     // nodes with the VIP (this one included)
  std::vector<Holder> holders;       // other nodes holding a slot, with the VIP
  std::vector<NodeRecord> down;      // others out holding none (verdict not ready: down, maint, drain)
  bool self_holds = false;           // this node holds a slot already
  [[nodiscard]] int out() const { return int(holders.size() + down.size()); }
  [[nodiscard]] bool allows() const { return self_holds || out() < limit; }
};

// The limit for `nodes` nodes: the count, or the percentage rounded down
// but at least 1.
[[nodiscard]] int budget_limit(const config::Fleet& f, int nodes);

// Decides from every holder and record under the prefix, for each of this
// node's VIPs on its own (nodes, out, limit); the answer is the VIP with
// the least room, so it allows only when every VIP allows and a refusal
// names the VIP that is full. A node with no VIP shares none.
[[nodiscard]] BudgetView budget_view(const config::Fleet& f, const std::string& self,
                                     const std::vector<std::string>& self_vips, const std::vector<Holder>& holders,
                                     const std::vector<NodeRecord>& records);

// "2 (per VIP)" or "25% of the nodes that share a VIP".
[[nodiscard]] std::string budget_text(const config::Fleet& f);

// One line per node that is out: "  web-3  drain  since 2026-12-05 16:20:01 UTC  upgrade".
[[nodiscard]] std::string holders_text(const BudgetView& v);

}  // namespace rsagent::fleet
