#include "rsagent/util/accept_loop.hpp"

#include "rsagent/util/log.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rsagent {

bool accept_starved(int err) { return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM; }

AcceptLoop::AcceptLoop(UniqueFd listener, int accept_flags, std::string name)
    : listener_(std::move(listener)),
      accept_flags_(accept_flags),
      name_(std::move(name)) {}

AcceptLoop::~AcceptLoop() { stop(); }

void AcceptLoop::start(Handler handler) {
  handler_ = std::move(handler);
  loop_.start([this] { run(); });
}

void AcceptLoop::stop() { loop_.stop(); }

void AcceptLoop::replace_listener(UniqueFd listener) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    next_listener_ = std::move(listener);
  }
  if (!loop_.running()) return take_new_listener();
  loop_.wake();
}

void AcceptLoop::take_new_listener() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (next_listener_.get() >= 0) listener_ = std::move(next_listener_);
}

void AcceptLoop::run() {
  bool paused = false;   // the listener is left out of this poll
  bool starved = false;  // said so in the log; not yet recovered
  while (true) {
    // poll() skips an entry whose fd is negative: while paused only the
    // wake fd and the timeout end the wait.
    pollfd fds[2] = {{paused ? -1 : listener_.get(), POLLIN, 0}, {loop_.fd(), POLLIN, 0}};
    const int timeout = paused ? static_cast<int>(kAcceptBackoff.count()) : -1;
    if (::poll(fds, 2, timeout) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    const bool woken = fds[1].revents != 0;
    if (woken) {
      if (loop_.stopping()) return;
      loop_.clear();
    }
    // Woken while paused: only the hand-over below. Otherwise take
    // everything the backlog holds before polling again; a listener handed
    // over replaces this one only after that, since the clients queued on
    // this one connected before the hand-over and are owed an answer.
    if (!woken) paused = false;
    while (!paused) {
      const int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | accept_flags_);
      if (c < 0) {
        const int err = errno;
        if (err == EINTR || err == ECONNABORTED) continue;
        if (accept_starved(err)) {
          paused = true;
          if (!starved)
            log::warning(name_ + ": cannot accept (" + std::strerror(err) + "); trying again every " +
                         std::to_string(kAcceptBackoff.count()) + " ms until it recovers");
          starved = true;
        }
        break;
      }
      if (starved) log::notice(name_ + ": accepting connections again");
      starved = false;
      handler_(UniqueFd(c));
    }
    if (woken) take_new_listener();
  }
}

}  // namespace rsagent
