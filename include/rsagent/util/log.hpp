// Logging to stderr (plain, or with <N> syslog priority prefixes that journald
// reads when running under systemd) and optionally to syslog for a daemon that
// has left its terminal. Thread-safe: one mutex around each line. Never fails
// visibly: a lost log line must not stop the agent.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rsagent::log {

// Syslog priorities, so the numbers double as journald's <N> prefixes.
enum class Level : int { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

struct Options {
  Level level = Level::kInfo;
  bool prefix_priority = false;  // "<6>..." for journald
  bool to_syslog = false;
  Level stderr_max = Level::kDebug;  // lines less severe than this skip stderr
  Level stderr_min = Level::kError;  // lines more severe than this skip stderr
  bool to_stderr = true;
};

void configure(const Options& opts);
[[nodiscard]] Options current();
[[nodiscard]] std::optional<Level> parse_level(std::string_view name);

void write(Level level, std::string_view message);
inline void error(std::string_view m) { write(Level::kError, m); }
inline void warning(std::string_view m) { write(Level::kWarning, m); }
inline void notice(std::string_view m) { write(Level::kNotice, m); }
inline void info(std::string_view m) { write(Level::kInfo, m); }
inline void debug(std::string_view m) { write(Level::kDebug, m); }

}  // namespace rsagent::log
