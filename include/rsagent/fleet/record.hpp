// A node's record in the fleet: what one node publishes under
// PREFIX/nodes/NAME and what `rsagent fleet` reads back. Owns the record's
// JSON codec (strict on read: a record another version or a stranger wrote
// is refused with a reason, never trusted half-way), the building of a
// record from the Board's snapshot, and the fleet table (attention first).
// Pure; no threads; decoding returns a Result naming what was wrong.
#pragma once

#include "rsagent/util/result.hpp"
#include "rsagent/verdict/board.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rsagent::fleet {

struct NodeRecord {
  std::string name;
  std::string version;
  std::vector<std::string> addresses;  // the node's own addresses (not lo, not the VIPs)
  std::vector<std::string> vips;
  std::string verdict = "down";  // ready, drain, maint, down
  std::string reason;
  std::string state = "ready";  // the operator's: ready, drain, maint
  std::string state_reason;
  int checks_up = 0;
  int checks_total = 0;
  std::vector<std::string> checks_down;  // names
  std::vector<std::string> directors;    // sources that asked for the verdict
  std::int64_t last_change = 0;          // unix seconds of the last verdict change
  bool operator==(const NodeRecord&) const = default;
};

// At most this many of a list are published (addresses, VIPs, directors,
// checks down); the rest are counted in the list's last entry ("+N more").
inline constexpr std::size_t kMaxListed = 64;

[[nodiscard]] std::string encode(const NodeRecord& r);
[[nodiscard]] Result<NodeRecord> decode(const std::string& text);

// The record of this node from the Board's state. `last_change` is the
// caller's to keep (it knows when the verdict last changed).
[[nodiscard]] NodeRecord make_record(const std::string& name, const verdict::Snapshot& snap,
                                     const std::vector<verdict::DirectorRow>& directors,
                                     std::vector<std::string> addresses);

// PREFIX + "nodes/" (+ NAME).
[[nodiscard]] std::string nodes_prefix(const std::string& prefix);

// Nodes needing attention first (down, maint, drain, then ready), by name.
void sort_by_attention(std::vector<NodeRecord>& nodes);

// The fleet table, one line per node: NAME VERDICT STATE REASON VIPS
// DIRECTORS AGE; `now` in unix seconds for the age column.
[[nodiscard]] std::string render_table(const std::vector<NodeRecord>& nodes, std::int64_t now);

}  // namespace rsagent::fleet
