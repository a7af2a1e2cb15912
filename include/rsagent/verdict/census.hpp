// The checker census: who polls this node's health endpoint and agent-check,
// how (method, path, which checker by its User-Agent), how often (an interval
// estimated from its recent polls) and what it was told last (the state the
// endpoint rendered, the status, when). One row per checker (source address,
// kind, User-Agent): a director often runs several. At most kMaxRows rows; a
// new checker past that replaces the one silent the longest (counted).
// Threads: any thread notes and reads (one mutex; a note is a map lookup).
// Times are passed in (unix milliseconds), so tests need no clock. Nothing
// fails.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rsagent::verdict {

enum class CheckerKind : std::uint8_t { kHaproxy, kKeepalived, kLdirectord, kAgentCheck, kOther };
[[nodiscard]] const char* checker_kind_name(CheckerKind k);  // "haproxy", ..., "agent-check", "other"
// From what an HTTP checker sends: keepalived says "KeepAliveClient",
// ldirectord (Perl LWP) "libwww-perl" or its own name; HAProxy's httpchk sends
// no User-Agent unless told, and asks OPTIONS by default.
[[nodiscard]] CheckerKind classify_checker(std::string_view method, std::string_view user_agent);

// What a checker was given, as the endpoint rendered it.
struct PollAnswer {
  std::string state;  // "ready", "drain", "maint", "down" (a check's page: "up", "down")
  int status = 0;     // the HTTP status; an agent-check answer has none (0)
  std::int64_t at_unix_ms = 0;
};

struct PollNote {
  std::string source;      // the peer's address as printed
  std::string method;      // "GET", "OPTIONS", ...; "" for agent-check
  std::string path;        // normalised path; "" for agent-check
  std::string user_agent;  // cleaned again on intake
  CheckerKind kind = CheckerKind::kOther;
  PollAnswer answer;
};

struct Checker {
  std::string source, method, path, user_agent;
  CheckerKind kind = CheckerKind::kOther;
  std::uint64_t count = 0;
  std::int64_t first_unix_ms = 0;
  std::int64_t last_unix_ms = 0;
  std::int64_t interval_ms = 0;  // the median of its last gaps; 0 until two polls
  PollAnswer last_answer;
  // The last few poll times, oldest first (for the interval).
  static constexpr std::size_t kRecent = 5;
  std::array<std::int64_t, kRecent> recent{};
  std::size_t recent_n = 0;
};

class Census {
 public:
  static constexpr std::size_t kMaxRows = 64;

  void note(const PollNote& n, std::int64_t now_unix_ms);
  [[nodiscard]] std::vector<Checker> rows() const;
  [[nodiscard]] std::uint64_t evicted() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Checker> rows_;
  std::uint64_t evicted_ = 0;
};

}  // namespace rsagent::verdict
