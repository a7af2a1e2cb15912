#include "rsagent/drain/confirm.hpp"

#include "rsagent/util/text.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace rsagent::drain {

namespace {

using nlohmann::json;

// A "directors" row or one of its parts. Without exceptions: a field of the
// wrong type is an error naming it, never a throw.
Result<UnixMs> ms_at(const json& obj, const char* key, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return UnixMs{0};
  if (!it->is_number()) return make_error(where + "." + key + " must be a number");
  if (it->is_number_float()) return static_cast<UnixMs>(it->get<double>());
  return it->get<UnixMs>();
}

std::string str_at(const json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return text::printable(it->get<std::string>());
}

Result<Poll> parse_poll(const json& p, const std::string& where) {
  if (!p.is_object()) return make_error(where + " must be an object or null");
  Poll poll;
  poll.kind = str_at(p, "kind");
  auto last = ms_at(p, "last_poll_unix_ms", where);
  if (!last) return last.error();
  auto interval = ms_at(p, "interval_ms", where);
  if (!interval) return interval.error();
  poll.last_poll_ms = *last;
  poll.interval_ms = *interval;
  if (const auto a = p.find("last_answer"); a != p.end() && a->is_object()) {
    poll.answer_state = str_at(*a, "state");
    auto at = ms_at(*a, "at_unix_ms", where + ".last_answer");
    if (!at) return at.error();
    poll.answer_at_ms = *at;
  }
  return poll;
}

Result<Director> parse_director(const json& row, const std::string& where) {
  if (!row.is_object()) return make_error(where + " must be an object");
  Director d;
  d.address = str_at(row, "address");
  d.mac = str_at(row, "mac");
  if (const auto p = row.find("polls"); p != row.end() && !p->is_null()) {
    auto poll = parse_poll(*p, where + ".polls");
    if (!poll) return poll.error();
    d.polls = *poll;
  }
  if (const auto c = row.find("checkers"); c != row.end() && !c->is_null()) {
    if (!c->is_array()) return make_error(where + ".checkers must be an array");
    for (std::size_t i = 0; i < c->size(); ++i) {
      auto poll = parse_poll((*c)[i], where + ".checkers[" + std::to_string(i) + "]");
      if (!poll) return poll.error();
      d.checkers.push_back(*poll);
    }
  }
  if (d.checkers.empty() && d.polls) d.checkers.push_back(*d.polls);
  if (const auto s = row.find("sends"); s != row.end() && !s->is_null()) {
    if (!s->is_object()) return make_error(where + ".sends must be an object or null");
    Sends sends;
    if (const auto t = s->find("syns_total"); t != s->end()) {
      if (!t->is_number_unsigned()) return make_error(where + ".sends.syns_total must be a count");
      sends.syns_total = t->get<std::uint64_t>();
    }
    auto last = ms_at(*s, "last_syn_unix_ms", where + ".sends");
    if (!last) return last.error();
    sends.last_syn_ms = *last;
    d.sends = sends;
  }
  return d;
}

UnixMs wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

std::string connections_text(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " connection" : " connections");
}

// "saw the drain", "saw maint", "saw down": the answer it was given.
std::string saw_what(const std::string& state) {
  return state == "drain" ? "the drain" : state;
}

}  // namespace

std::string Director::name() const {
  if (!address.empty() && !mac.empty()) return address + " (" + mac + ")";
  if (!address.empty()) return address;
  if (!mac.empty()) return mac;
  return "a director with neither address nor MAC";
}

std::string Director::key() const { return mac.empty() ? "ip " + address : "mac " + mac; }

Result<Sample> parse_sample(const json& j) {
  if (!j.is_object()) return make_error("status is not a JSON object");
  Sample s;
  auto now = ms_at(j, "now_unix_ms", "status");
  if (!now) return now.error();
  s.now_ms = *now != 0 ? *now : wall_now_ms();
  if (const auto h = j.find("health"); h != j.end() && h->is_object()) s.state = str_at(*h, "state");
  const auto dirs = j.find("directors");
  if (dirs == j.end() || dirs->is_null()) {
    s.attribution = false;
    s.attribution_reason = "this daemon does not report the directors";
  } else {
    if (!dirs->is_array()) return make_error("status.directors must be an array");
    for (std::size_t i = 0; i < dirs->size(); ++i) {
      auto d = parse_director((*dirs)[i], "status.directors[" + std::to_string(i) + "]");
      if (!d) return d.error();
      s.directors.push_back(std::move(*d));
    }
    if (const auto o = j.find("directors_other"); o != j.end() && o->is_object()) {
      if (const auto t = o->find("syns_total"); t != o->end() && t->is_number_unsigned())
        s.other_syns = t->get<std::uint64_t>();
    }
    // Without the "attribution" object the rows are an older census that
    // does not see new connections.
    s.attribution = false;
    s.attribution_reason = "this daemon does not attribute new connections";
    if (const auto a = j.find("attribution"); a != j.end() && a->is_object()) {
      if (const auto e = a->find("enabled"); e != a->end() && e->is_boolean()) s.attribution = e->get<bool>();
      s.attribution_reason = str_at(*a, "reason");
    }
  }
  if (const auto c = j.find("vip_connections"); c != j.end() && c->is_object()) {
    if (const auto e = c->find("established"); e != c->end() && e->is_number_unsigned())
      s.established = e->get<std::size_t>();
    s.established_error = str_at(*c, "error");
  } else {
    s.established_error = "this daemon does not count the connections to its VIPs";
  }
  return s;
}

std::string clock_time(UnixMs t, bool utc) {
  const std::time_t secs = static_cast<std::time_t>(t / 1000);
  std::tm tm{};
  if (utc ? ::gmtime_r(&secs, &tm) == nullptr : ::localtime_r(&secs, &tm) == nullptr) return "?";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((t % 1000) / 100));
  return buf;
}

Confirmation::Confirmation(Settings settings, UnixMs set_at_ms)
    : settings_(std::move(settings)), set_at_ms_(set_at_ms) {}

std::vector<std::string> Confirmation::observe(const Sample& s) {
  std::vector<std::string> lines;
  now_ms_ = s.now_ms;
  state_ = s.state;
  if (!started_ && !s.attribution)
    lines.push_back("new connections cannot be told apart by director (" +
                    (s.attribution_reason.empty() ? std::string("attribution is off")
                                                  : s.attribution_reason) +
                    "); confirming by the directors' polls and the open connections only");
  attribution_ = s.attribution;
  if (!undone_ && s.state == "ready") {
    undone_ = true;
    lines.push_back("the node is ready again (someone ran `rsagent ready`?): the " + settings_.wanted +
                    " was undone; not waiting");
  }
  track(s, lines);
  if (!started_) {
    const bool any = std::any_of(tracked_.begin(), tracked_.end(),
                                 [](const auto& kv) { return kv.second.required; });
    if (!any)
      lines.push_back("no director polled in the last " + seconds_text(settings_.recent) +
                      ": none has to see the " + settings_.wanted);
  }
  say_connections(s, lines);
  started_ = true;
  if (!holds()) {
    holds_since_ms_.reset();
  } else if (!holds_since_ms_) {
    holds_since_ms_ = s.now_ms;
  }
  return lines;
}

void Confirmation::track(const Sample& s, std::vector<std::string>& lines) {
  for (auto& [key, t] : tracked_) t.in_last_sample = false;
  for (const auto& d : s.directors) {
    auto it = tracked_.find(d.key());
    if (it == tracked_.end()) {
      if (tracked_.size() >= kMaxTracked) continue;  // the daemon's own table is smaller
      it = tracked_.emplace(d.key(), Tracked{}).first;
    }
    Tracked& t = it->second;
    t.in_last_sample = true;
    t.name = d.name();
    t.polls = d.polls;
    t.checkers = d.checkers;
    t.sends = d.sends;
    if (std::any_of(d.checkers.begin(), d.checkers.end(), [&](const Poll& p) { return recent(p); }))
      t.required = true;
    if (d.sends) {
      t.history.emplace_back(s.now_ms, d.sends->syns_total);
      while (t.history.size() > kMaxHistory) t.history.pop_front();
    }
    // Seen once every checker of it that polls was answered since: the
    // last of them is when the director as a whole took the node out.
    const Poll* last = nullptr;
    bool saw = false;
    for (const auto& p : d.checkers) {
      if (!answered(p)) {
        if (!recent(p)) continue;  // a checker it no longer runs
        saw = false;
        last = nullptr;
        break;
      }
      saw = true;
      if (!last || p.answer_at_ms > last->answer_at_ms) last = &p;
    }
    if (saw && !t.saw)
      lines.push_back(t.name + " saw " + saw_what(last->answer_state) + " at " + time(last->answer_at_ms));
    t.saw = saw;
    const bool sending = sends_now(t);
    if (sending && (!t.sending || s.now_ms - t.sending_line_ms >= settings_.quiet.count())) {
      lines.push_back(sends_line(t));
      t.sending_line_ms = s.now_ms;
    } else if (!sending && t.sending && t.sends) {
      lines.push_back(t.name + " stopped sending: its last new connection came at " +
                      time(t.sends->last_syn_ms));
    }
    t.sending = sending;
  }
  // A row the daemon no longer lists is forgotten unless it had to see
  // the drain (then it is still waited for, by its last known state).
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    if (!it->second.in_last_sample && !it->second.required) {
      it = tracked_.erase(it);
    } else {
      ++it;
    }
  }
  if (!other_.empty() && other_.back().second != s.other_syns) other_changed_ms_ = s.now_ms;
  other_.emplace_back(s.now_ms, s.other_syns);
  while (other_.size() > kMaxHistory) other_.pop_front();
}

void Confirmation::say_connections(const Sample& s, std::vector<std::string>& lines) {
  established_ = s.established;
  if (!s.established) {
    if (established_error_ != s.established_error)
      lines.push_back("the open connections to the VIPs cannot be counted: " + s.established_error);
    established_error_ = s.established_error;
    return;
  }
  established_error_.clear();
  const std::size_t n = *s.established;
  if (said_established_ == n) return;
  const bool now_ok = n <= settings_.connections;
  // A count that moves every sample (short connections coming and going)
  // is said at most once a second.
  if (said_established_ && s.now_ms - established_line_ms_ < 1000) return;
  lines.push_back(now_ok ? connections_text(n) + " to the VIPs open (" +
                               std::to_string(settings_.connections) + " allowed)"
                         : connections_text(n) + " to the VIPs still open");
  said_established_ = n;
  established_line_ms_ = s.now_ms;
}

std::uint64_t Confirmation::recent_syns(const Tracked& t) const {
  if (!t.sends || t.history.empty()) return 0;
  // The count at the last sample at or before the window's start, else the
  // oldest one kept.
  std::uint64_t base = t.history.front().second;
  for (const auto& [at, syns] : t.history) {
    if (at > now_ms_ - settings_.quiet.count()) break;
    base = syns;
  }
  return t.sends->syns_total >= base ? t.sends->syns_total - base : 0;
}

bool Confirmation::sends_now(const Tracked& t) const {
  return t.sends && t.sends->last_syn_ms > 0 &&
         t.sends->last_syn_ms > now_ms_ - settings_.quiet.count();
}

std::string Confirmation::sends_line(const Tracked& t) const {
  const std::uint64_t n = recent_syns(t);
  std::string line = t.name + " still sends: ";
  if (n > 0) {
    line += std::to_string(n) + (n == 1 ? " new connection" : " new connections") + " in the last " +
            seconds_text(settings_.quiet);
  } else {
    line += "a new connection at " + time(t.sends->last_syn_ms);
  }
  if (!t.polls) line += " (it does not poll this node)";
  return line;
}

bool Confirmation::quiet() const {
  if (!attribution_) return true;  // not observable; said once
  for (const auto& [key, t] : tracked_)
    if (t.in_last_sample && sends_now(t)) return false;
  return other_changed_ms_ == 0 || other_changed_ms_ <= now_ms_ - settings_.quiet.count();
}

// A checker that polled in the last minute before the drain. One that has
// polled only once (no interval yet) is a person or a script (a curl of
// /healthz), not a director's checker: waiting for it to come back could
// only end at the timeout.
bool Confirmation::recent(const Poll& p) const {
  return p.interval_ms > 0 && p.last_poll_ms >= set_at_ms_ - settings_.recent.count();
}

bool Confirmation::answered(const Poll& p) const {
  return p.answer_at_ms >= set_at_ms_ && !p.answer_state.empty() && p.answer_state != "ready";
}

bool Confirmation::connections_ok() const {
  return established_ && *established_ <= settings_.connections;
}

bool Confirmation::confirmed() const {
  return holds() && holds_since_ms_ && now_ms_ - *holds_since_ms_ >= settings_.settle.count();
}

bool Confirmation::holds() const {
  if (!started_ || undone_) return false;
  for (const auto& [key, t] : tracked_)
    if (t.required && !t.saw) return false;
  return quiet() && connections_ok();
}

std::vector<std::string> Confirmation::pending() const {
  std::vector<std::string> out;
  if (undone_) out.push_back("the node is " + state_ + ": the " + settings_.wanted + " was undone");
  for (const auto& [key, t] : tracked_) {
    if (t.required && !t.saw) {
      // The checker that holds it back (the first one not answered).
      const Poll* p = nullptr;
      for (const auto& c : t.checkers)
        if (!answered(c) && recent(c) && !p) p = &c;
      const std::string what = p && !p->kind.empty() && p->kind != "other" ? " (" + p->kind + ")" : "";
      if (p && p->last_poll_ms >= set_at_ms_) {
        out.push_back(t.name + " has not seen the " + settings_.wanted + ": its last poll" + what + " at " +
                      time(p->last_poll_ms) + " was answered " +
                      (p->answer_state.empty() ? "?" : p->answer_state));
      } else if (p) {
        out.push_back(t.name + " has not polled" + what + " since " + time(p->last_poll_ms) +
                      ", before the " + settings_.wanted);
      } else {
        out.push_back(t.name + " has not polled since the " + settings_.wanted);
      }
    }
    if (attribution_ && t.in_last_sample && sends_now(t)) out.push_back(sends_line(t));
  }
  if (attribution_ && other_changed_ms_ != 0 && other_changed_ms_ > now_ms_ - settings_.quiet.count())
    out.push_back("senders beyond the daemon's table still send: a new connection at " +
                  time(other_changed_ms_));
  if (!established_) {
    out.push_back("the open connections to the VIPs cannot be counted: " + established_error_);
  } else if (*established_ > settings_.connections) {
    out.push_back(connections_text(*established_) + " to the VIPs still open (" +
                  std::to_string(settings_.connections) + " allowed; --connections N allows more)");
  }
  return out;
}

std::string Confirmation::summary() const {
  std::size_t saw = 0;
  for (const auto& [key, t] : tracked_) saw += t.required && t.saw ? 1 : 0;
  std::string line = "confirmed: " + std::to_string(saw) + (saw == 1 ? " director" : " directors") +
                     " saw the " + settings_.wanted + ", ";
  line += attribution_ ? "no new connection for " + seconds_text(settings_.quiet)
                       : "new connections not observed";
  line += ", " + connections_text(established_.value_or(0)) + " to the VIPs open";
  return line;
}

}  // namespace rsagent::drain
