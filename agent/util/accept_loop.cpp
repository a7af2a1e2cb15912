#include "rsagent/util/accept_loop.hpp"

#include <cerrno>
#include <cstdint>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

namespace rsagent {

AcceptLoop::AcceptLoop(UniqueFd listener, int accept_flags)
    : listener_(std::move(listener)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      accept_flags_(accept_flags) {}

AcceptLoop::~AcceptLoop() { stop(); }

void AcceptLoop::start(Handler handler) {
  handler_ = std::move(handler);
  thread_ = std::thread([this] { run(); });
}

void AcceptLoop::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void AcceptLoop::run() {
  while (true) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    // Take everything the backlog holds before polling again.
    while (true) {
      const int c = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | accept_flags_);
      if (c < 0) break;
      handler_(UniqueFd(c));
    }
  }
}

}  // namespace rsagent
