// Who each director is, how it polls and what it sends, as plain rows for
// /status, /metrics, `rsagent status` and the drain violation alarm.
// The census (census.hpp) says who polls; the flow attribution thread
// (attribution/watcher.hpp) publishes an AttributionView: the senders of new
// connections to the VIPs by MAC (or outer source address), the neighbour table that names them, and
// the violations it found. join_directors() puts them together, one row per
// director: keyed by its MAC when the neighbour table knows it (a poller's
// address and a sender's MAC then meet), else by the poller's address, which
// a tunnelled sender's outer source address meets as well.
// Values and pure functions only: no threads, no failures.
#pragma once

#include "rsagent/verdict/census.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rsagent::verdict {

// One sender of new connections (TCP SYN without ACK) to a VIP: a MAC (the
// director's, in direct routing), or for SYNs that came in IPIP the outer
// source address (the director that encapsulated them; the frames' MAC is
// only the last router's).
struct SenderView {
  std::string mac;        // "aa:bb:cc:dd:ee:01"; "" for a tunnelled sender
  std::string tunnelled_from;  // "203.0.113.1": the outer source; "" for a MAC
  std::string interface;  // where its last SYN arrived
  std::uint64_t syns_total = 0;
  double rate_10s = 0;  // SYNs a second over the last 10 s
  std::int64_t first_syn_unix_ms = 0;
  std::int64_t last_syn_unix_ms = 0;
  struct Vip {
    std::string vip;  // the VIP, or the route-mode range ("198.51.100.0/24")
    std::uint64_t syns = 0;
  };
  std::vector<Vip> vips;       // at most kMaxVipsPerSender
  std::uint64_t vips_other = 0;  // SYNs to VIPs past that bound
  // Its key in the sender table and the violations: the MAC, or "ipip " and the address.
  [[nodiscard]] std::string key() const { return mac.empty() ? "ipip " + tunnelled_from : mac; }
};

struct ViolationView {
  std::int64_t since_unix_ms = 0;  // the first SYN counted as a violation in this drain
  std::uint64_t count = 0;         // new connections it sent after its grace in this drain
};

struct AttributionView {
  bool enabled = false;
  std::string reason;  // why it is off, when it is
  std::vector<std::string> interfaces;
  std::vector<SenderView> senders;  // at most kMaxSenders
  std::uint64_t other_syns = 0;     // from senders past the bound
  std::uint64_t evicted = 0;        // senders forgotten (long silent) to make room
  bool filter_exact = true;         // false: too many VIPs for the kernel filter; matched here
  std::uint64_t frames_dropped = 0;  // SYNs the kernel dropped because the ring was full
  std::map<std::string, std::vector<std::string>> addresses_of;  // MAC -> its neighbour addresses
  std::map<std::string, std::string> mac_of;                     // address -> MAC
  std::map<std::string, ViolationView> violations;               // by sender key, while drained
  // Violating new connections, by director (its address, else its MAC),
  // over the daemon's life; at most kMaxSenders labels.
  std::map<std::string, std::uint64_t> violations_total;
};

inline constexpr std::size_t kMaxSenders = 64;
inline constexpr std::size_t kMaxVipsPerSender = 8;

struct DirectorRow {
  std::string address;  // "" when unknown
  std::string mac;      // "" when unknown
  std::optional<Checker> polls;  // the checker that polled last
  std::vector<Checker> checkers;  // every checker from this director
  std::optional<SenderView> sends;
  std::optional<ViolationView> violation;
  // The name in logs and metric labels: the address, else the MAC.
  [[nodiscard]] std::string label() const { return address.empty() ? mac : address; }
};

[[nodiscard]] std::vector<DirectorRow> join_directors(const std::vector<Checker>& census,
                                                      const AttributionView& view);

// The contract's "directors", "directors_other", "attribution" and
// "now_unix_ms" members, to merge into /status and `rsagent status --json`.
[[nodiscard]] nlohmann::json directors_json(const std::vector<DirectorRow>& rows, const AttributionView& view,
                                            std::int64_t now_unix_ms);

// The /metrics lines: rsagent_attribution_enabled,
// rsagent_director_new_connections_total{director,vip},
// rsagent_director_other_new_connections_total,
// rsagent_director_last_poll_seconds{director} (seconds since its last
// poll) and rsagent_drain_violations_total{director}. Label sets are
// bounded by the tables (64 directors, 8 VIPs each).
[[nodiscard]] std::string directors_metrics(const std::vector<DirectorRow>& rows, const AttributionView& view,
                                            std::int64_t now_unix_ms);

}  // namespace rsagent::verdict
