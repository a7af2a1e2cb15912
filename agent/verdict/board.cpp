#include "rsagent/verdict/board.hpp"

#include "rsagent/util/text.hpp"

namespace rsagent::verdict {

namespace {
constexpr std::size_t kMaxDirectors = 64;  // a few directors poll a node; bound the table anyway

const char* type_name(config::Check::Type t) {
  switch (t) {
    case config::Check::Type::kTcp: return "tcp";
    case config::Check::Type::kHttp: return "http";
    case config::Check::Type::kExec: return "exec";
  }
  return "?";
}
}  // namespace

namespace {
CheckView view_of(const config::Check& c) {
  CheckView v;
  v.name = c.name;
  v.type = type_name(c.type);
  v.rise = c.rise;
  v.fall = c.fall;
  return v;
}
}  // namespace

Board::Board(const std::vector<config::Check>& checks, std::string maintenance_path) {
  auto s = std::make_shared<Snapshot>();
  for (const auto& c : checks) s->checks.push_back(view_of(c));
  s->maintenance_path = std::move(maintenance_path);
  s->verdict = decide(s->checks, s->net, s->op, s->maintenance_file, s->maintenance_path);
  current_ = std::move(s);
}

std::shared_ptr<const Snapshot> Board::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

template <typename F>
void Board::mutate(F f) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    changed = apply_locked(f);
  }
  if (changed && on_change_) on_change_();
}

template <typename F>
bool Board::apply_locked(F f) {
  auto next = std::make_shared<Snapshot>(*current_);
  f(*next);
  next->verdict = decide(next->checks, next->net, next->op, next->maintenance_file,
                         next->maintenance_path);
  // A node that speaks for a VIP on the wire steals the director's traffic:
  // down, like a broken network, when the operator asked for it.
  if (next->arp_guard && !next->arp_guard->not_ready.empty() &&
      (next->verdict.mode == Mode::kReady || next->verdict.mode == Mode::kDrain))
    next->verdict = Verdict{Mode::kDown, next->arp_guard->not_ready};
  if (next->stopping && next->verdict.mode == Mode::kReady)
    next->verdict = Verdict{Mode::kDrain, "rsagent is stopping"};
  const bool changed = !(next->verdict.mode == current_->verdict.mode);
  if (changed) ++verdict_changes;
  current_ = std::move(next);
  return changed;
}

void Board::update_check(std::size_t index, const ProbeResult& r) {
  mutate([&](Snapshot& s) {
    if (index < s.checks.size()) s.checks[index] = advance(s.checks[index], r, Clock::now());
  });
}

void Board::set_net(NetHealth net, NetDetail detail) {
  mutate([&](Snapshot& s) {
    s.net = std::move(net);
    s.net_detail = std::make_shared<const NetDetail>(std::move(detail));
  });
}

void Board::set_operator(OperatorState op) {
  mutate([&](Snapshot& s) { s.op = std::move(op); });
}

void Board::set_maintenance_file(bool present) {
  if (snapshot()->maintenance_file == present) return;
  mutate([&](Snapshot& s) { s.maintenance_file = present; });
}

void Board::set_stopping() {
  mutate([&](Snapshot& s) { s.stopping = true; });
}

void Board::set_arp_guard(ArpGuardView v) {
  mutate([&](Snapshot& s) { s.arp_guard = std::make_shared<const ArpGuardView>(std::move(v)); });
}

void Board::reset_checks(const std::vector<config::Check>& old_checks,
                         const std::vector<config::Check>& new_checks, std::string maintenance_path) {
  mutate([&](Snapshot& s) {
    std::vector<CheckView> next;
    for (const auto& c : new_checks) {
      CheckView v = view_of(c);
      for (std::size_t i = 0; i < old_checks.size() && i < s.checks.size(); ++i)
        if (old_checks[i] == c) v = s.checks[i];
      next.push_back(std::move(v));
    }
    s.checks = std::move(next);
    s.maintenance_path = std::move(maintenance_path);
  });
}

void Board::note_request(const std::string& source, const std::string& user_agent) {
  std::lock_guard<std::mutex> lock(directors_mutex_);
  // One row per checker: a director often runs several (HAProxy, keepalived).
  // Already clean from the parser; cleaned again here so that no caller can
  // put a byte in /status that its JSON dump would choke on.
  const std::string ua = text::cut(text::printable(user_agent), 128);
  const std::string key = source + "|" + ua;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       Clock::now().time_since_epoch()).count();
  auto it = directors_.find(key);
  if (it == directors_.end()) {
    if (directors_.size() >= kMaxDirectors) {
      // Forget the one silent the longest.
      auto oldest = directors_.begin();
      for (auto d = directors_.begin(); d != directors_.end(); ++d)
        if (d->second.last_seen_unix < oldest->second.last_seen_unix) oldest = d;
      directors_.erase(oldest);
    }
    it = directors_.emplace(key, Director{}).first;
  }
  it->second.source = source;
  it->second.user_agent = ua;
  it->second.last_seen_unix = now;
  ++it->second.count;
}

std::map<std::string, Director> Board::directors() const {
  std::lock_guard<std::mutex> lock(directors_mutex_);
  return directors_;
}

}  // namespace rsagent::verdict
