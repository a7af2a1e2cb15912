#include "rsagent/checks/monitor.hpp"

namespace rsagent::checks {

Monitor::Monitor(std::vector<config::Check> checks, verdict::Board& board, std::unique_ptr<Prober> prober)
    : checks_(std::move(checks)), board_(board), prober_(std::move(prober)) {}

Monitor::~Monitor() { stop(); }

void Monitor::start() {
  for (std::size_t i = 0; i < checks_.size(); ++i) threads_.emplace_back([this, i] { run(i); });
}

void Monitor::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  // A probe in progress ends now rather than at its deadline.
  if (prober_) prober_->cancel();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void Monitor::run(std::size_t index) {
  const config::Check& ck = checks_[index];
  auto next = std::chrono::steady_clock::now();
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (cv_.wait_until(lock, next, [this] { return stopping_; })) return;
    }
    next += ck.interval;
    // The probe runs outside the lock: it may take up to its timeout.
    const verdict::ProbeResult r = prober_->probe(ck);
    {
      // A probe cut short by stop() says nothing about the check.
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
    }
    board_.update_check(index, r);
    // A probe that overran (a stalled machine) must not cause a burst.
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;
  }
}

}  // namespace rsagent::checks
