// LoopThread: the wake-up and stop every loop thread of the daemon shares.
#include "rsagent/util/loop_thread.hpp"

#include <doctest/doctest.h>
#include <poll.h>

#include <atomic>

using namespace rsagent;

TEST_CASE("a loop blocked in poll wakes for wake(), and stop() ends and joins it") {
  LoopThread t;
  REQUIRE(t.ok());
  std::atomic<int> wakeups{0};
  std::atomic<bool> returned{false};
  t.start([&] {
    while (true) {
      pollfd p{t.fd(), POLLIN, 0};
      ::poll(&p, 1, -1);  // no timeout: only the eventfd ends this wait
      if (t.stopping()) break;
      t.clear();
      ++wakeups;
    }
    returned = true;
  });
  CHECK(t.running());
  t.wake();
  for (int i = 0; i < 2000 && wakeups == 0; ++i) {
    pollfd none{-1, 0, 0};
    ::poll(&none, 0, 1);
  }
  CHECK(wakeups >= 1);
  t.stop();
  CHECK(returned);
  CHECK_FALSE(t.running());
  t.stop();  // a second stop is nothing
  // It can run again after a stop.
  returned = false;
  t.start([&] {
    pollfd p{t.fd(), POLLIN, 0};
    while (!t.stopping()) ::poll(&p, 1, -1);
    returned = true;
  });
  t.stop();
  CHECK(returned);
}
