#include "rsagent/health/http_loop.hpp"

#include "rsagent/health/http_request.hpp"

#include "rsagent/util/socket.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rsagent::health {

namespace {

using Steady = std::chrono::steady_clock;
constexpr std::uint64_t kWakeTag = 1ULL << 40;
constexpr std::uint64_t kListenerTag = 1ULL << 41;
// What a connection buffers: a largest request (the parser answers 414, 431
// or 413 before that is reached) plus a few empty lines before it.
constexpr std::size_t kMaxBuffered = kMaxRequestBytes + 64;
// Answers queued for a client that pipelines faster than it reads.
constexpr std::size_t kMaxQueuedOut = 256 * 1024;
// What a client may still send after a closing answer before it is cut off.
constexpr std::size_t kMaxDiscard = 64 * 1024;

}  // namespace


struct HttpLoop::Conn {
  UniqueFd fd;
  Peer peer;
  std::string in;           // received, not yet answered
  std::string out;          // answers not yet sent
  std::size_t sent = 0;
  std::size_t answered = 0;  // requests answered on this connection
  bool closing = false;      // the last answer is in `out`
  bool lingering = false;    // answered and half-closed; discarding what still comes
  std::size_t discarded = 0;
  std::uint32_t watching = 0;  // epoll events registered; 0: not in epoll
  Steady::time_point deadline;
  std::uint64_t serial = 0;
};

Result<std::unique_ptr<HttpLoop>> HttpLoop::bind(const std::vector<config::Endpoint>& at,
                                                 const std::string& what, bool defer_accept) {
  std::unique_ptr<HttpLoop> loop(new HttpLoop());
  for (const auto& ep : at) {
    auto fd = listen_tcp(ep.address, ep.port, what);
    if (!fd) return fd.error();
    if (defer_accept) {
      // Checkers send the request with the handshake's last packet: accept
      // and answer become one step.
      const int secs = static_cast<int>(kConnectionTimeout.count() / 1000);
      ::setsockopt(fd->get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
    }
    loop->listeners_.push_back(std::move(*fd));
  }
  loop->epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  loop->wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (loop->epoll_.get() < 0 || loop->wake_.get() < 0) return errno_error(errno, what + ": epoll");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->wake_.get(), &ev);
  for (std::size_t i = 0; i < loop->listeners_.size(); ++i) {
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag | i;
    ::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->listeners_[i].get(), &ev);
  }
  return loop;
}

HttpLoop::~HttpLoop() { stop(); }

void HttpLoop::start(Responder responder) {
  if (thread_.joinable()) return;
  responder_ = std::move(responder);
  thread_ = std::thread([this] { run(); });
}

void HttpLoop::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  conns_.clear();
  deadlines_.clear();
}

void HttpLoop::run() {
  epoll_event events[64];
  while (true) {
    const int n = ::epoll_wait(epoll_.get(), events, 64, next_timeout_ms());
    if (n < 0 && errno != EINTR) return;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) return;
      if (tag & kListenerTag) {
        accept_from(listeners_[tag & 0xffff].get());
        continue;
      }
      const int fd = static_cast<int>(tag);
      auto it = conns_.find(fd);
      if (it == conns_.end()) continue;
      Conn& c = *it->second;
      bool keep = true;
      if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) keep = on_readable(c);
      if (keep && (events[i].events & EPOLLOUT)) keep = on_writable(c);
      if (!keep) close_conn(fd);
    }
    expire();
  }
}

void HttpLoop::accept_from(int listener) {
  // A bounded batch per wake-up keeps the other listeners and the open
  // connections served under a flood.
  for (int k = 0; k < 64; ++k) {
    if (conns_.size() >= kMaxConnections) return pause_accepting(true);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN, or out of descriptors: the rest wait in the backlog
    }
    auto c = std::make_unique<Conn>();
    c->fd = UniqueFd(fd);
    c->peer.fd = fd;
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
      c->peer.port = ntohs(sin->sin_port);
    } else {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
      c->peer.port = ntohs(sin6->sin6_port);
    }
    c->peer.ip = buf;
    // The usual case ends here: the request is already in, the answer fits
    // the socket buffer, and the connection never enters epoll.
    if (!on_readable(*c)) continue;
    c->serial = ++serial_;
    push_deadline(*c);
    Conn& ref = *c;
    conns_.emplace(fd, std::move(c));
    watch(ref, ref.sent < ref.out.size() ? EPOLLOUT : EPOLLIN);
  }
}

void HttpLoop::push_deadline(Conn& c) {
  c.deadline = Steady::now() + kConnectionTimeout;
  deadlines_.push_back({c.deadline, c.fd.get(), c.serial});
}

bool HttpLoop::on_readable(Conn& c) {
  char buf[4096];
  bool eof = false;
  while (c.lingering || c.in.size() < kMaxBuffered) {
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;  // a broken connection
      break;
    }
    if (n == 0) {
      // The peer is done sending: answer what it sent (a client may
      // half-close after its request), then close.
      if (c.lingering) return false;
      eof = true;
      break;
    }
    if (c.lingering || c.closing) {
      // Answered with close already: discard, but not without end.
      c.discarded += static_cast<std::size_t>(n);
      if (c.discarded > kMaxDiscard) return false;
      continue;
    }
    c.in.append(buf, static_cast<std::size_t>(n));
  }
  if (c.lingering) return true;
  serve(c);
  if (eof) {
    if (c.out.size() == c.sent) return false;  // nothing (more) to answer
    c.closing = true;
    c.in.clear();
  }
  return on_writable(c);
}

// Answers the whole requests at the front of `in`, as many as are there
// (pipelining), while the queued answers stay small.
void HttpLoop::serve(Conn& c) {
  std::size_t used = 0;
  while (!c.closing && used < c.in.size() && c.out.size() - c.sent < kMaxQueuedOut) {
    const bool last = c.answered + 1 >= kMaxRequestsPerConnection;
    const Reply r = responder_(std::string_view(c.in).substr(used), last, c.peer, c.out);
    if (r.consumed == 0 && !r.close) break;  // not whole yet
    used += r.consumed;
    ++c.answered;
    c.closing = r.close || last;
  }
  c.in.erase(0, used);
}

bool HttpLoop::on_writable(Conn& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      // A large /status or /metrics to a slow reader: wait for room, and
      // give it another timeout period while it makes progress.
      if (c.watching != 0) {
        push_deadline(c);
        watch(c, EPOLLOUT);
      }
      return true;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  c.out.clear();
  c.sent = 0;
  if (c.closing) {
    // Closing with nothing unread sends FIN; with unread bytes the kernel
    // would send RST, which can destroy the answer still in flight. So when
    // the client may still be sending, half-close and read the rest away
    // within the connection's deadline.
    if (c.in.empty()) return false;
    c.in.clear();
    c.lingering = true;
    ::shutdown(c.fd.get(), SHUT_WR);
  } else if (!c.in.empty()) {
    // Pipelined requests that waited for room.
    serve(c);
    if (!c.out.empty()) return on_writable(c);
  }
  // Keep-alive: wait for the next request, another timeout period of silence.
  if (c.watching != 0) {
    push_deadline(c);
    watch(c, EPOLLIN);
  }
  return true;
}

void HttpLoop::watch(Conn& c, std::uint32_t events) {
  if (c.watching == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = static_cast<std::uint64_t>(c.fd.get());
  ::epoll_ctl(epoll_.get(), c.watching == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd.get(), &ev);
  c.watching = events;
}

void HttpLoop::close_conn(int fd) {
  conns_.erase(fd);  // closing the fd also removes it from epoll
  if (paused_ && conns_.size() < kMaxConnections) pause_accepting(false);
}

void HttpLoop::pause_accepting(bool pause) {
  paused_ = pause;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    epoll_event ev{};
    ev.events = pause ? 0U : static_cast<std::uint32_t>(EPOLLIN);
    ev.data.u64 = kListenerTag | i;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listeners_[i].get(), &ev);
  }
}

int HttpLoop::next_timeout_ms() const {
  if (deadlines_.empty()) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadlines_.front().at - Steady::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()) + 1);
}

void HttpLoop::expire() {
  const auto now = Steady::now();
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    const Deadline d = deadlines_.front();
    deadlines_.pop_front();
    auto it = conns_.find(d.fd);
    // Stale entries: the connection is gone, or its deadline moved.
    if (it == conns_.end() || it->second->serial != d.serial || it->second->deadline > now) continue;
    close_conn(d.fd);
  }
}

}  // namespace rsagent::health
