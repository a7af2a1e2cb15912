#include "rsagent/attribution/senders.hpp"

#include <algorithm>
#include <cstdio>

namespace rsagent::attribution {

void SenderTable::note(const Mac& mac, const std::string& interface, const Target& target, std::int64_t now_ms) {
  verdict::SenderView who;
  who.mac = mac_text(mac);
  note(who, interface, target, now_ms);
}

void SenderTable::note_tunnelled(const IpAddress& outer_source, const std::string& interface, const Target& target,
                                 std::int64_t now_ms) {
  verdict::SenderView who;
  who.tunnelled_from = outer_source.str();
  note(who, interface, target, now_ms);
}

bool SenderTable::knows(const Mac& mac) const { return rows_.count(mac_text(mac)) != 0; }

void SenderTable::note(const verdict::SenderView& who, const std::string& interface, const Target& target,
                       std::int64_t now_ms) {
  const std::string key = who.key();
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    if (rows_.size() >= verdict::kMaxSenders) {
      auto oldest = rows_.begin();
      for (auto r = rows_.begin(); r != rows_.end(); ++r)
        if (r->second.v.last_syn_unix_ms < oldest->second.v.last_syn_unix_ms) oldest = r;
      if (now_ms - oldest->second.v.last_syn_unix_ms < kForgetAfterMs) {
        ++other_;
        return;
      }
      rows_.erase(oldest);
      ++evicted_;
    }
    it = rows_.emplace(key, Row{}).first;
    it->second.v.mac = who.mac;
    it->second.v.tunnelled_from = who.tunnelled_from;
    it->second.v.first_syn_unix_ms = now_ms;
  }
  Row& r = it->second;
  if (r.v.interface != interface) r.v.interface = interface;
  ++r.v.syns_total;
  r.v.last_syn_unix_ms = now_ms;
  const std::int64_t second = now_ms / 1000;
  const auto slot = static_cast<std::size_t>(second % 10);
  if (r.bucket_second[slot] != second) {
    r.bucket_second[slot] = second;
    r.buckets[slot] = 0;
  }
  ++r.buckets[slot];
  auto v = std::find_if(r.v.vips.begin(), r.v.vips.end(),
                        [&](const verdict::SenderView::Vip& x) { return x.vip == target.name; });
  if (v != r.v.vips.end()) {
    ++v->syns;
  } else if (r.v.vips.size() < verdict::kMaxVipsPerSender) {
    r.v.vips.push_back({target.name, 1});
  } else {
    ++r.v.vips_other;
  }
}

std::vector<verdict::SenderView> SenderTable::view(std::int64_t now_ms) const {
  std::vector<verdict::SenderView> out;
  out.reserve(rows_.size());
  const std::int64_t second = now_ms / 1000;
  for (const auto& [key, r] : rows_) {
    verdict::SenderView v = r.v;
    std::uint64_t recent = 0;
    // The last ten whole seconds, this one included.
    for (std::size_t i = 0; i < 10; ++i)
      if (r.bucket_second[i] > second - 10 && r.bucket_second[i] <= second) recent += r.buckets[i];
    v.rate_10s = static_cast<double>(recent) / 10.0;
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<std::string> ViolationTracker::update(const std::vector<verdict::DirectorRow>& rows, bool draining,
                                                  std::int64_t now_ms) {
  std::vector<std::string> warnings;
  if (!draining) {
    drain_since_ms_.reset();
    per_.clear();
    current_.clear();
    return warnings;
  }
  if (!drain_since_ms_) drain_since_ms_ = now_ms;
  for (const auto& row : rows) {
    if (!row.sends) continue;
    const auto& s = *row.sends;
    const std::int64_t interval =
        row.polls && row.polls->interval_ms > 0 ? row.polls->interval_ms : kDefaultIntervalMs;
    const std::int64_t grace_end = *drain_since_ms_ + 3 * interval;
    Per& p = per_[s.key()];
    if (now_ms < grace_end) {
      p.baseline = s.syns_total;
      p.have_baseline = true;
      continue;
    }
    if (!p.have_baseline) {
      // First seen after its grace: what it sent before this drain began is
      // not a violation; what it sent since, is.
      p.baseline = s.first_syn_unix_ms >= *drain_since_ms_ ? 0 : s.syns_total;
      p.have_baseline = true;
    }
    if (s.syns_total <= p.baseline || s.last_syn_unix_ms < grace_end) continue;
    const std::uint64_t count = s.syns_total - p.baseline;
    auto [cur, fresh] = current_.try_emplace(s.key());
    if (fresh) cur->second.since_unix_ms = std::max(grace_end, s.last_syn_unix_ms);
    cur->second.count = count;
    const std::string label = row.label();
    auto total = totals_.find(label);
    if (total == totals_.end()) {
      // The metric's label set stays bounded like the table it comes from.
      total = totals_.size() < verdict::kMaxSenders ? totals_.emplace(label, 0).first
                                                   : totals_.emplace("other", 0).first;
    }
    total->second += count - p.counted;
    p.counted = count;
    if (!p.warned || now_ms - p.last_warn_ms >= kWarnEveryMs) {
      p.warned = true;
      p.last_warn_ms = now_ms;
      std::string who = row.address.empty() ? row.mac
                        : row.mac.empty()   ? row.address
                                            : row.address + " (" + row.mac + ")";
      std::string told = "it does not poll this node";
      if (row.polls) {
        char every[32];
        std::snprintf(every, sizeof every, "%.1f", static_cast<double>(row.polls->interval_ms) / 1000.0);
        told = std::string("it polls every ") + every + " s and was last told \"" + row.polls->last_answer.state +
               "\" " + std::to_string(std::max<std::int64_t>(0, now_ms - row.polls->last_answer.at_unix_ms) / 1000) +
               " s ago";
      }
      warnings.push_back("drain violation: director " + who + " still sends new connections to this drained node: " +
                         std::to_string(count) + " after its grace of " + std::to_string(3 * interval / 1000) +
                         " s (" + told + "); its clients will be cut when the node goes away");
    }
  }
  return warnings;
}

}  // namespace rsagent::attribution
