// The proof that a drain took hold, from the real server's side. Owns:
// reading one status sample (the daemon's `directors` census, the open
// connections to the VIPs, the state the directors are given) and deciding,
// sample after sample, whether (a) every director that polled in the last
// minute before the drain has polled again since and was given a non-ready
// answer, (b) no new connection reached a VIP for `quiet`, and (c) at most
// `connections` connections to the VIPs are still open. It says each
// change as one line naming the director, and on demand what is not done.
// Pure: times come in with the samples (unix milliseconds, the daemon's
// clock), so tests drive it with a fake clock. No threads; one
// Confirmation belongs to one waiter. Errors: parse_sample returns what is
// wrong with the JSON; a Confirmation never fails, it only is not done.
// Bounds: the directors it tracks (kMaxTracked) and each one's history
// (kMaxHistory samples).
#pragma once

#include "rsagent/util/result.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace rsagent::drain {

using UnixMs = std::int64_t;

// How one checker of a director polls (a director may run several: an
// HTTP check and an agent-check).
struct Poll {
  std::string kind;           // "haproxy", "agent-check", ... ("" when not told)
  UnixMs last_poll_ms = 0;
  UnixMs interval_ms = 0;     // 0 until the daemon has seen two polls
  std::string answer_state;   // the state the last answer carried: "ready", "drain", ...
  UnixMs answer_at_ms = 0;
  bool operator==(const Poll&) const = default;
};

struct Sends {
  std::uint64_t syns_total = 0;
  UnixMs last_syn_ms = 0;  // 0: none seen
  bool operator==(const Sends&) const = default;
};

struct Director {
  std::string address;  // "" when not known
  std::string mac;      // "" when seen at layer 3 only
  std::optional<Poll> polls;   // its latest poll
  std::vector<Poll> checkers;  // each of its checkers; {polls} when the daemon lists none
  std::optional<Sends> sends;
  // "203.0.113.1 (aa:bb:cc:dd:ee:01)", "203.0.113.1", "aa:bb:cc:dd:ee:01"
  [[nodiscard]] std::string name() const;
  // The same director from one sample to the next: its MAC when known.
  [[nodiscard]] std::string key() const;
  bool operator==(const Director&) const = default;
};

struct Sample {
  UnixMs now_ms = 0;
  std::vector<Director> directors;
  std::uint64_t other_syns = 0;  // senders beyond the daemon's table, together
  bool attribution = true;       // false: the daemon cannot see new connections
  std::string attribution_reason;
  std::optional<std::size_t> established;  // open connections to the VIPs
  std::string established_error;           // why established is unknown
  std::string state;                       // what the directors are told now
};

// One sample from the status JSON (`rsagent status --json`, /status, the
// control socket's `drain-status`): "directors", "directors_other",
// "attribution", "now_unix_ms", "health.state" and "vip_connections". A
// status without a census (attribution not built in) reads as attribution
// off. The error names the field that is wrong.
[[nodiscard]] Result<Sample> parse_sample(const nlohmann::json& j);

struct Settings {
  std::chrono::milliseconds quiet{5000};   // (b): no new connection for this long
  std::size_t connections = 0;             // (c): this many open connections are fine
  std::chrono::milliseconds recent{60000}; // (a): who polled this long before the drain
  // All three must hold this long before the drain counts as confirmed:
  // the daemon publishes the SYNs it counts about once a second, so a new
  // connection can show up in the census a second after it arrived.
  std::chrono::milliseconds settle{1500};
  std::string wanted = "drain";            // the word the lines use: "the drain", "maint"
  bool utc = false;                        // times in lines: local time unless true
};

// "12:00:01.2": the time of day a line shows (tenths of a second).
[[nodiscard]] std::string clock_time(UnixMs t, bool utc);

class Confirmation {
 public:
  static constexpr std::size_t kMaxTracked = 256;
  static constexpr std::size_t kMaxHistory = 512;

  // set_at_ms: when the drain was set (before the request went out); an
  // answer given before it does not count.
  Confirmation(Settings settings, UnixMs set_at_ms);

  // Takes the next sample; returns one line per change since the last one.
  [[nodiscard]] std::vector<std::string> observe(const Sample& s);
  // All three conditions hold in the last sample.
  [[nodiscard]] bool confirmed() const;
  // The node was made ready again while waiting: nothing will be confirmed.
  [[nodiscard]] bool undone() const { return undone_; }
  // What is still not done, one line each; empty when confirmed.
  [[nodiscard]] std::vector<std::string> pending() const;
  // One line for the end: what was confirmed.
  [[nodiscard]] std::string summary() const;

 private:
  struct Tracked {
    std::string name;
    bool required = false;  // polled in the last minute before the drain, or since
    bool saw = false;
    bool sending = false;
    UnixMs sending_line_ms = 0;  // when "still sends" was last said
    std::optional<Poll> polls;
    std::vector<Poll> checkers;
    std::optional<Sends> sends;
    std::deque<std::pair<UnixMs, std::uint64_t>> history;  // (sample time, syns_total)
    bool in_last_sample = false;
  };
  [[nodiscard]] std::uint64_t recent_syns(const Tracked& t) const;
  [[nodiscard]] bool sends_now(const Tracked& t) const;
  [[nodiscard]] std::string sends_line(const Tracked& t) const;
  [[nodiscard]] bool quiet() const;
  // A checker (one that polled twice or more) that polled in the last
  // minute before the drain, or since.
  [[nodiscard]] bool recent(const Poll& p) const;
  [[nodiscard]] bool answered(const Poll& p) const;  // non-ready, since the drain
  [[nodiscard]] bool connections_ok() const;
  [[nodiscard]] bool holds() const;  // the three conditions, in the last sample
  [[nodiscard]] std::string time(UnixMs t) const { return clock_time(t, settings_.utc); }
  void track(const Sample& s, std::vector<std::string>& lines);
  void say_connections(const Sample& s, std::vector<std::string>& lines);

  Settings settings_;
  UnixMs set_at_ms_;
  UnixMs now_ms_ = 0;
  bool started_ = false;
  bool undone_ = false;
  bool attribution_ = true;
  std::map<std::string, Tracked> tracked_;
  std::deque<std::pair<UnixMs, std::uint64_t>> other_;  // (sample time, other_syns)
  UnixMs other_changed_ms_ = 0;
  std::optional<std::size_t> established_;
  std::string established_error_;
  std::optional<std::size_t> said_established_;
  UnixMs established_line_ms_ = 0;
  std::string state_;
  std::optional<UnixMs> holds_since_ms_;  // since when holds() has been true
};

}  // namespace rsagent::drain
