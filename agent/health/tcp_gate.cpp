#include "rsagent/health/tcp_gate.hpp"

#include "rsagent/health/http_loop.hpp"
#include "rsagent/util/log.hpp"

#include "rsagent/util/socket.hpp"

#include <cerrno>
#include <cstring>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rsagent::health {

namespace {
constexpr std::uint64_t kWakeTag = ~std::uint64_t{0};
}  // namespace

Result<std::unique_ptr<TcpGate>> TcpGate::bind(const std::vector<config::Endpoint>& at, Board& board) {
  std::vector<UniqueFd> fds;
  for (const auto& ep : at) {
    auto fd = listen_tcp(ep.address, ep.port, "health.tcp_gate.listen");
    if (!fd) return fd.error();
    fds.push_back(std::move(*fd));
  }
  return std::unique_ptr<TcpGate>(new TcpGate(std::move(fds), board));
}

TcpGate::TcpGate(std::vector<UniqueFd> listeners, Board& board)
    : listeners_(std::move(listeners)), board_(board),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    ev.data.u64 = i;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listeners_[i].get(), &ev);
  }
  // Closed until the first verdict says ready: a starting node is not ready.
  follow();
}

TcpGate::~TcpGate() { stop(); }

void TcpGate::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void TcpGate::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
}

void TcpGate::wake() {
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void TcpGate::follow() {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool want = board_.snapshot()->verdict.ready();
  if (want == open_) return;
  for (auto& l : listeners_) {
    // Both keep the port bound; shutdown also resets connections that were
    // waiting in the backlog, so none is accepted after the verdict changed.
    if (want) {
      if (::listen(l.get(), kListenBacklog) != 0)
        log::error(std::string("tcp gate: cannot listen again: ") + std::strerror(errno));
    } else {
      (void)::shutdown(l.get(), SHUT_RD);
    }
  }
  open_ = want;
  board_.gate_open = want;
  ++board_.gate_transitions;
}

void TcpGate::run() {
  epoll_event events[16];
  while (!stopping_) {
    const int n = ::epoll_wait(epoll_.get(), events, 16, 1000);
    // First the verdict, then any accept: also on the 1 s timeout, so a
    // missed change can never leave the gate wrong for long.
    follow();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        std::uint64_t x;
        (void)!::read(wake_.get(), &x, sizeof x);
        continue;
      }
      // The connect itself is the answer: close at once, without a word.
      for (int k = 0; k < 64; ++k) {
        const int fd = ::accept4(listeners_[tag].get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        ::close(fd);
        ++board_.gate_accepts;
      }
    }
  }
}

}  // namespace rsagent::health
