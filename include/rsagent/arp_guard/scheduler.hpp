// The segment probe's sweep planner: which VIP to probe next, and when.
// Owns: the sweep position and the time of the next probe. A sweep probes
// every VIP once, spaced 1/probes_per_second apart, so the cost is bounded
// whatever the number of VIPs (1000 VIPs at 5/s: a sweep of 200 s); the
// next sweep starts `interval` after the previous one started (or at once
// when the sweep took longer), moved by up to +-10% jitter so that the real
// servers of a cluster, started together, do not probe in step.
// Pure: the caller passes the time (tests use a fake clock) and the seed.
// No threads, no failures.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace rsagent::arp_guard {

class Scheduler {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;

  struct Options {
    std::chrono::milliseconds interval{60'000};
    int probes_per_second = 5;
    // The first sweep starts within this of start(): soon, but not all
    // real servers of a cluster at once.
    std::chrono::milliseconds first_within{1000};
  };

  Scheduler(Options o, std::uint64_t seed) : opts_(o), rng_(seed ? seed : 1) {}

  void start(TimePoint now, std::size_t vips);
  // After a reload: the sweep goes on from where it was, clamped to the new count.
  void set_count(std::size_t vips);
  void set_options(Options o);

  // The VIP (index) to probe now, or nullopt before next_due(). At most one
  // per call: the caller asks again after next_due().
  [[nodiscard]] std::optional<std::size_t> poll(TimePoint now);
  [[nodiscard]] TimePoint next_due() const { return next_at_; }
  [[nodiscard]] std::uint64_t sweeps() const { return sweeps_; }

 private:
  [[nodiscard]] Duration spacing() const;
  [[nodiscard]] Duration jitter(Duration around);  // uniform in [-10%, +10%] of around
  std::uint64_t next_random();

  Options opts_;
  std::uint64_t rng_;
  std::size_t count_ = 0;
  std::size_t index_ = 0;
  TimePoint sweep_start_{};
  TimePoint next_at_{TimePoint::max()};
  std::uint64_t sweeps_ = 0;
};

}  // namespace rsagent::arp_guard
