#include "rsagent/arp_guard/scheduler.hpp"

#include <algorithm>

namespace rsagent::arp_guard {

void Scheduler::start(TimePoint now, std::size_t vips) {
  count_ = vips;
  index_ = 0;
  const auto within = std::chrono::duration_cast<Duration>(opts_.first_within);
  const auto span = static_cast<std::uint64_t>(std::max<Duration::rep>(within.count(), 1));
  sweep_start_ = now + Duration(static_cast<Duration::rep>(next_random() % span));
  next_at_ = sweep_start_;
}

void Scheduler::set_count(std::size_t vips) {
  count_ = vips;
  index_ = std::min(index_, count_);
}

void Scheduler::set_options(Options o) { opts_ = o; }

Scheduler::Duration Scheduler::spacing() const {
  const int pps = std::max(opts_.probes_per_second, 1);
  return std::chrono::duration_cast<Duration>(std::chrono::seconds(1)) / pps;
}

std::uint64_t Scheduler::next_random() {
  // splitmix64: plenty for jitter, and reproducible from the seed in tests.
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Scheduler::Duration Scheduler::jitter(Duration around) {
  const auto tenth = around.count() / 10;
  if (tenth <= 0) return Duration::zero();
  const auto span = static_cast<std::uint64_t>(2 * tenth + 1);
  return Duration(static_cast<Duration::rep>(next_random() % span) - tenth);
}

std::optional<std::size_t> Scheduler::poll(TimePoint now) {
  if (now < next_at_) return std::nullopt;
  if (index_ >= count_) {
    // The sweep is over (or there is nothing to probe): plan the next one.
    ++sweeps_;
    const auto interval = std::chrono::duration_cast<Duration>(opts_.interval);
    sweep_start_ = std::max(sweep_start_ + interval + jitter(interval), now);
    index_ = 0;
    next_at_ = sweep_start_;
    if (now < next_at_ || count_ == 0) return std::nullopt;
  }
  // Spaced from now, not from the plan: a late wake-up never sends a burst.
  next_at_ = now + spacing();
  return index_++;
}

}  // namespace rsagent::arp_guard
