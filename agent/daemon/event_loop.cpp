#include "rsagent/daemon/event_loop.hpp"

#include <cerrno>
#include <csignal>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

namespace rsagent::daemon {

void Coalescer::event(Clock::time_point now) {
  if (!first_) first_ = now;
  last_ = now;
}

std::optional<Coalescer::Clock::time_point> Coalescer::due() const {
  if (!first_) return std::nullopt;
  return std::min(last_ + kQuiet, *first_ + kMaxDelay);
}

bool Coalescer::take(Clock::time_point now) {
  const auto d = due();
  if (!d || now < *d) return false;
  first_.reset();
  return true;
}

Result<EventLoop> EventLoop::open(std::chrono::microseconds tick) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  UniqueFd signals(signalfd(-1, &set, SFD_CLOEXEC));
  if (signals.get() < 0) return errno_error(errno, "signalfd");
  UniqueFd timer(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  if (timer.get() < 0) return errno_error(errno, "timerfd");
  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) return errno_error(errno, "eventfd");
  itimerspec its{};
  its.it_value.tv_sec = tick.count() / 1'000'000;
  its.it_value.tv_nsec = (tick.count() % 1'000'000) * 1000;
  its.it_interval = its.it_value;
  if (timerfd_settime(timer.get(), 0, &its, nullptr) != 0) return errno_error(errno, "timerfd_settime");
  return EventLoop(std::move(signals), std::move(timer), std::move(wake));
}

void EventLoop::watch_netlink(int fd, std::function<net::Kernel::Drained()> drain) {
  netlink_fd_ = fd;
  drain_ = std::move(drain);
}

void EventLoop::wake() {
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

LoopEvents EventLoop::wait() {
  while (true) {
    int timeout = -1;
    if (const auto due = burst_.due()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*due - Coalescer::Clock::now());
      timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    LoopEvents ev = poll_once(timeout, false);
    if (burst_.take(Coalescer::Clock::now())) {
      ev.net_changed = true;
      ev.net_lost = burst_lost_;
      burst_lost_ = false;
    }
    if (ev.tick || ev.woken || ev.net_changed || !ev.signals.empty()) return ev;
  }
}

LoopEvents EventLoop::wait_quietly(std::chrono::milliseconds most) {
  return poll_once(static_cast<int>(most.count()), true);
}

LoopEvents EventLoop::poll_once(int timeout_ms, bool quiet) {
  LoopEvents ev;
  pollfd fds[4] = {{timer_.get(), POLLIN, 0},
                   {wake_.get(), POLLIN, 0},
                   {signals_.get(), POLLIN, 0},
                   {netlink_fd_, POLLIN, 0}};
  const nfds_t n = quiet ? 2 : (netlink_fd_ >= 0 ? 4 : 3);
  if (::poll(fds, n, timeout_ms) <= 0) return ev;  // timeout or EINTR: the caller looks again
  std::uint64_t count;
  if (fds[0].revents) ev.tick = ::read(timer_.get(), &count, sizeof count) == sizeof count;
  if (fds[1].revents) ev.woken = ::read(wake_.get(), &count, sizeof count) == sizeof count;
  if (n > 2 && fds[2].revents) {
    signalfd_siginfo si{};
    if (::read(signals_.get(), &si, sizeof si) == sizeof si) ev.signals.push_back(static_cast<int>(si.ssi_signo));
  }
  if (n > 3 && fds[3].revents) {
    const auto d = drain_();
    burst_lost_ = burst_lost_ || d.lost;
    if (d.changed || d.lost) burst_.event(Coalescer::Clock::now());
  }
  return ev;
}

}  // namespace rsagent::daemon
