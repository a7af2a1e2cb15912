// The senders of new connections, and the drain violations they commit.
//  - SenderTable: per source MAC (per outer source address for SYNs that
//    came in IPIP), SYNs in all, a rate over the last 10 s
//    (ten one-second buckets), first and last SYN, and the VIPs it sent to.
//    At most verdict::kMaxSenders senders and verdict::kMaxVipsPerSender VIPs
//    per sender; a new sender past the bound takes the row of one silent for
//    kForgetAfter, else its SYNs are counted together ("other").
//  - ViolationTracker: while the node is drained or in maintenance, a
//    director that still sends new connections after a grace of three of
//    its own poll intervals (kDefaultInterval when it does not poll) is a
//    violation: counted (new connections, per director), listed, and
//    warned about at most once a minute per director.
// Pure: times are passed in (unix milliseconds); one thread uses each.
// Nothing fails.
#pragma once

#include "rsagent/attribution/syn_filter.hpp"
#include "rsagent/verdict/directors.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rsagent::attribution {

inline constexpr std::int64_t kForgetAfterMs = 10 * 60 * 1000;

class SenderTable {
 public:
  void note(const Mac& mac, const std::string& interface, const Target& target, std::int64_t now_ms);
  // A SYN that came in IPIP: its sender is the outer source address.
  void note_tunnelled(const IpAddress& outer_source, const std::string& interface, const Target& target,
                      std::int64_t now_ms);
  [[nodiscard]] std::vector<verdict::SenderView> view(std::int64_t now_ms) const;
  [[nodiscard]] std::uint64_t other_syns() const { return other_; }
  [[nodiscard]] std::uint64_t evicted() const { return evicted_; }
  [[nodiscard]] bool knows(const Mac& mac) const;

 private:
  void note(const verdict::SenderView& who, const std::string& interface, const Target& target, std::int64_t now_ms);
  struct Row {
    verdict::SenderView v;
    std::array<std::uint32_t, 10> buckets{};
    std::array<std::int64_t, 10> bucket_second{};
  };
  std::map<std::string, Row> rows_;  // by SenderView::key()
  std::uint64_t other_ = 0;
  std::uint64_t evicted_ = 0;
};

inline constexpr std::int64_t kDefaultIntervalMs = 2000;  // HAProxy's default `inter`
inline constexpr std::int64_t kWarnEveryMs = 60'000;

class ViolationTracker {
 public:
  // One round, about once a second: `rows` joined from the census and the
  // senders; `draining` while the verdict is drain or maint. Returns the
  // warnings to log now.
  std::vector<std::string> update(const std::vector<verdict::DirectorRow>& rows, bool draining,
                                  std::int64_t now_ms);
  [[nodiscard]] const std::map<std::string, verdict::ViolationView>& current() const { return current_; }
  [[nodiscard]] const std::map<std::string, std::uint64_t>& totals() const { return totals_; }

 private:
  struct Per {
    std::uint64_t baseline = 0;  // its SYNs when its grace ended
    bool have_baseline = false;
    std::uint64_t counted = 0;  // violations already added to totals_
    std::int64_t last_warn_ms = 0;
    bool warned = false;
  };
  std::optional<std::int64_t> drain_since_ms_;
  std::map<std::string, Per> per_;  // by SenderView::key()
  std::map<std::string, verdict::ViolationView> current_;
  std::map<std::string, std::uint64_t> totals_;  // by director label
};

}  // namespace rsagent::attribution
