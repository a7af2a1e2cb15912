#include "rsagent/verdict/census.hpp"

#include "rsagent/util/text.hpp"

#include <algorithm>
#include <cctype>

namespace rsagent::verdict {

namespace {

bool contains_nocase(std::string_view hay, std::string_view needle) {
  const auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
  });
  return it != hay.end();
}

// The median gap of the recent polls: one extra poll (HAProxy's fastinter
// after a change, a manual curl from the director) does not move it.
std::int64_t median_gap(const Checker& c) {
  if (c.recent_n < 2) return 0;
  std::vector<std::int64_t> gaps;
  for (std::size_t i = 1; i < c.recent_n; ++i) gaps.push_back(c.recent[i] - c.recent[i - 1]);
  std::sort(gaps.begin(), gaps.end());
  return gaps[gaps.size() / 2];
}

// A dual-stack listener sees an IPv4 peer as ::ffff:a.b.c.d; the neighbour
// table and the operator know it as a.b.c.d.
std::string plain_address(const std::string& a) {
  constexpr std::string_view kMapped = "::ffff:";
  if (a.size() > kMapped.size() && a.compare(0, kMapped.size(), kMapped) == 0 &&
      a.find('.') != std::string::npos)
    return a.substr(kMapped.size());
  return a;
}

}  // namespace

const char* checker_kind_name(CheckerKind k) {
  switch (k) {
    case CheckerKind::kHaproxy: return "haproxy";
    case CheckerKind::kKeepalived: return "keepalived";
    case CheckerKind::kLdirectord: return "ldirectord";
    case CheckerKind::kAgentCheck: return "agent-check";
    case CheckerKind::kOther: return "other";
  }
  return "other";
}

CheckerKind classify_checker(std::string_view method, std::string_view user_agent) {
  if (contains_nocase(user_agent, "haproxy")) return CheckerKind::kHaproxy;
  if (contains_nocase(user_agent, "keepaliveclient") || contains_nocase(user_agent, "keepalived"))
    return CheckerKind::kKeepalived;
  if (contains_nocase(user_agent, "ldirectord") || contains_nocase(user_agent, "libwww-perl"))
    return CheckerKind::kLdirectord;
  if (user_agent.empty() && method == "OPTIONS") return CheckerKind::kHaproxy;
  return CheckerKind::kOther;
}

void Census::note(const PollNote& n, std::int64_t now_unix_ms) {
  // Already clean from the parser; cleaned again here so that no caller can
  // put a byte in /status that its JSON dump would choke on.
  const std::string ua = text::cut(text::printable(n.user_agent), 128);
  const std::string source = plain_address(n.source);
  const std::string key = source + "|" + checker_kind_name(n.kind) + "|" + ua;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    if (rows_.size() >= kMaxRows) {
      auto oldest = rows_.begin();
      for (auto r = rows_.begin(); r != rows_.end(); ++r)
        if (r->second.last_unix_ms < oldest->second.last_unix_ms) oldest = r;
      rows_.erase(oldest);
      ++evicted_;
    }
    it = rows_.emplace(key, Checker{}).first;
    it->second.source = source;
    it->second.user_agent = ua;
    it->second.kind = n.kind;
    it->second.first_unix_ms = now_unix_ms;
  }
  Checker& c = it->second;
  c.method = text::cut(text::printable(n.method), 16);
  c.path = text::cut(text::printable(n.path), 128);
  c.last_unix_ms = now_unix_ms;
  c.last_answer = n.answer;
  if (c.last_answer.at_unix_ms == 0) c.last_answer.at_unix_ms = now_unix_ms;
  ++c.count;
  if (c.recent_n == Checker::kRecent) {
    std::rotate(c.recent.begin(), c.recent.begin() + 1, c.recent.end());
    c.recent_n = Checker::kRecent - 1;
  }
  c.recent[c.recent_n++] = now_unix_ms;
  c.interval_ms = median_gap(c);
}

std::vector<Checker> Census::rows() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Checker> out;
  out.reserve(rows_.size());
  for (const auto& [key, c] : rows_) out.push_back(c);
  return out;
}

std::uint64_t Census::evicted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return evicted_;
}

}  // namespace rsagent::verdict
