#include "rsagent/util/log.hpp"

#include <mutex>
#include <string>
#include <syslog.h>
#include <unistd.h>

namespace rsagent::log {

namespace {

std::mutex g_mutex;
Options g_opts;
bool g_syslog_open = false;

}  // namespace

void configure(const Options& opts) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_opts = opts;
  if (opts.to_syslog && !g_syslog_open) {
    openlog("rsagent", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    g_syslog_open = true;
  }
}

Options current() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_opts;
}

std::optional<Level> parse_level(std::string_view name) {
  if (name == "error") return Level::kError;
  if (name == "warning" || name == "warn") return Level::kWarning;
  if (name == "notice") return Level::kNotice;
  if (name == "info") return Level::kInfo;
  if (name == "debug") return Level::kDebug;
  return std::nullopt;
}

void write(Level level, std::string_view message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (static_cast<int>(level) > static_cast<int>(g_opts.level)) return;
  if (g_opts.to_syslog)
    syslog(static_cast<int>(level), "%.*s", static_cast<int>(message.size()), message.data());
  if (!g_opts.to_stderr || static_cast<int>(level) > static_cast<int>(g_opts.stderr_max) ||
      static_cast<int>(level) < static_cast<int>(g_opts.stderr_min))
    return;
  std::string line;
  line.reserve(message.size() + 24);
  if (g_opts.prefix_priority) {
    line.push_back('<');
    line.push_back(static_cast<char>('0' + static_cast<int>(level)));
    line.push_back('>');
  } else {
    line.append("rsagent: ");
    if (level == Level::kError) line.append("error: ");
    if (level == Level::kWarning) line.append("warning: ");
  }
  line.append(message);
  line += '\n';
  // One write(2) per line so lines from different threads never interleave.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace rsagent::log
