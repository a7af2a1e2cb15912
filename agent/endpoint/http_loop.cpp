#include "rsagent/endpoint/http_loop.hpp"

#include "rsagent/util/log.hpp"
#include "rsagent/util/socket.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rsagent::endpoint {

namespace {

using Steady = std::chrono::steady_clock;
constexpr std::uint64_t kWakeTag = 1ULL << 40;
constexpr std::uint64_t kListenerTag = 1ULL << 41;
// What a connection buffers: a largest request (the parser answers 414, 431
// or 413 before that is reached) plus a few empty lines before it.
constexpr std::size_t kMaxBuffered = kMaxRequestBytes + 64;
// Answers queued for a client that pipelines faster than it reads; no more
// requests of its are read until they are out. Small: 64 pipelining peers
// may hold this much each (a single answer, /metrics or /status, may be
// larger, and is still sent whole).
constexpr std::size_t kMaxQueuedOut = 32 * 1024;
// What a client may still send after a closing answer before it is cut off.
constexpr std::size_t kMaxDiscard = 64 * 1024;

bool out_of_descriptors(int err) {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

}  // namespace

struct HttpLoop::Conn {
  UniqueFd fd;
  Peer peer;
  std::uint64_t id = 0;
  std::string in;            // received, not yet answered
  std::string out;           // answers not yet sent
  std::size_t sent = 0;
  std::size_t answered = 0;  // requests answered on this connection
  FrameScan scan;            // how far `in` has been looked at
  bool closing = false;      // the last answer is in `out`
  bool lingering = false;    // answered and half-closed; discarding what still comes
  std::size_t discarded = 0;
  std::uint32_t watching = 0;  // epoll events registered; 0: not in epoll
  Phase phase = Phase::kNone;
  Steady::time_point deadline;
  bool queued = false;         // an entry for this connection is in deadlines_
  Steady::time_point queued_at;
  std::uint64_t seq = 0;
};

HttpLoop::HttpLoop(Options options)
    : opt_(std::move(options)),
      per_source_(static_cast<std::size_t>(std::max(1, opt_.limits.max_connections_per_source))) {}

Result<std::unique_ptr<HttpLoop>> HttpLoop::bind(const std::vector<config::Endpoint>& at,
                                                 const std::string& what, bool defer_accept,
                                                 Options options) {
  std::unique_ptr<HttpLoop> loop(new HttpLoop(std::move(options)));
  for (const auto& ep : at) {
    auto fd = listen_tcp(ep.address, ep.port, what);
    if (!fd) return fd.error();
    if (defer_accept) {
      // Checkers send the request with the handshake's last packet: accept
      // and answer become one step. A silent connection is handed over
      // after about the header deadline, which then closes it.
      const auto ms = loop->opt_.limits.header_timeout.count();
      const int secs = static_cast<int>(std::max<std::int64_t>(1, (ms + 999) / 1000));
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

void HttpLoop::start(Handler handler, OnEvent on_event) {
  if (thread_.joinable()) return;
  handler_ = std::move(responder);
  on_event_ = std::move(on_event);
  thread_ = std::thread([this] { run(); });
}

void HttpLoop::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  conns_.clear();
  deadlines_ = {};
}

void HttpLoop::run() {
  // Named for ps and top (and the tests that watch its CPU).
  ::pthread_setname_np(::pthread_self(), "rsagent-http");
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
      if (keep) settle(c);
      if (!keep) close_conn(fd);
    }
    expire();
    if (!listening_ && !full_ && Steady::now() >= backoff_until_) update_listeners();
  }
}

bool HttpLoop::allowed(const sockaddr_storage& ss) const {
  if (opt_.allow.empty()) return true;
  const auto a = peer_address(ss);
  return a && std::any_of(opt_.allow.begin(), opt_.allow.end(),
                          [&](const Cidr& c) { return c.contains(*a); });
}

void HttpLoop::accept_from(int listener) {
  // A bounded batch per wake-up keeps the other listeners and the open
  // connections served under a flood.
  for (int k = 0; k < 64; ++k) {
    if (conns_.size() >= opt_.max_connections) {
      full_ = true;
      return update_listeners();
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;
      if (out_of_descriptors(err)) {
        // The listener stays readable while the connection waits in the
        // backlog: stop watching it for a while rather than spin.
        if (!out_of_fds_)
          log::warning(std::string("health endpoint: accept: ") + std::strerror(err) +
                       "; not accepting for " + std::to_string(kAcceptBackoff.count()) +
                       " ms at a time until a descriptor is free");
        out_of_fds_ = true;
        backoff_until_ = Steady::now() + kAcceptBackoff;
        update_listeners();
      }
      return;  // EAGAIN: the backlog is empty
    }
    if (out_of_fds_) {
      out_of_fds_ = false;
      log::notice("health endpoint: accepting again");
    }
    UniqueFd owned(fd);
    // Refused sources are closed before a byte of theirs is read.
    if (!allowed(ss)) {
      if (on_event_) on_event_(Event::kDenied);
      continue;
    }
    char buf[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (ss.ss_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
      port = ntohs(sin->sin_port);
    } else {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
      port = ntohs(sin6->sin6_port);
    }
    if (!per_source_.admit(buf)) {
      if (on_event_) on_event_(Event::kSourceFull);
      continue;
    }
    auto c = std::make_unique<Conn>();
    c->fd = std::move(owned);
    c->peer = Peer{buf, port, fd};
    c->id = ++next_id_;
    Conn& ref = *c;
    conns_.emplace(fd, std::move(c));
    // The first request's header deadline runs from the accept.
    arm(ref, Phase::kHeader, opt_.limits.header_timeout);
    // The usual case ends here: the request is already in, the answer fits
    // the socket buffer, and the connection is closed at once.
    if (!on_readable(ref)) {
      close_conn(fd);
      continue;
    }
    settle(ref);
    watch(ref, ref.sent < ref.out.size() ? EPOLLOUT : EPOLLIN);
  }
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
  serve(c, eof);
  if (eof) {
    if (c.out.size() == c.sent) return false;  // nothing (more) to answer
    c.closing = true;
    c.in.clear();
  }
  return on_writable(c);
}

// Answers the whole requests at the front of `in`, as many as are there
// (pipelining), while the queued answers stay small. The parser runs only
// where the scan says it can decide.
// `eof`: the client sent all it will, so what it sent is parsed even where
// the scan would wait (an error in a header field is found then, not only
// at the block's end).
void HttpLoop::serve(Conn& c, bool eof) {
  std::size_t used = 0;
  while (!c.closing && used < c.in.size() && c.out.size() - c.sent < kMaxQueuedOut) {
    const std::string_view rest = std::string_view(c.in).substr(used);
    if (!c.scan.ready(rest) && !eof) break;
    const HttpParse p = parse_http_request(rest);
    if (p.state == HttpParse::State::kIncomplete) {
      c.scan.parsed(p);
      break;
    }
    const bool last = c.answered + 1 >= kMaxRequestsPerConnection;
    const Reply r = handler_(p, last, c.peer, c.out);
    ++c.answered;
    c.scan.reset();
    // The request is answered: its header deadline is over.
    c.phase = Phase::kNone;
    if (p.state == HttpParse::State::kError) {
      c.closing = true;  // what follows is read away
      break;
    }
    used += p.consumed;
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
      // A large /status or /metrics to a slow reader: wait for room, within
      // the send deadline (settle()).
      if (c.watching != 0) watch(c, EPOLLOUT);
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
    // within the linger deadline.
    if (c.in.empty()) return false;
    c.in.clear();
    c.lingering = true;
    ::shutdown(c.fd.get(), SHUT_WR);
  } else if (!c.in.empty()) {
    // Pipelined requests that waited for room.
    serve(c);
    if (!c.out.empty()) return on_writable(c);
  }
  if (c.watching != 0) watch(c, EPOLLIN);
  return true;
}

void HttpLoop::settle(Conn& c) {
  const auto& l = opt_.limits;
  if (c.lingering) {
    if (c.phase != Phase::kLinger) arm(c, Phase::kLinger, l.keepalive_timeout);
  } else if (c.sent < c.out.size()) {
    if (c.phase != Phase::kSending) arm(c, Phase::kSending, l.send_timeout);
  } else if (!c.in.empty()) {
    // A request has begun: its first byte starts the header deadline.
    if (c.phase != Phase::kHeader) arm(c, Phase::kHeader, l.header_timeout);
  } else if (c.phase != Phase::kIdle && !(c.phase == Phase::kHeader && c.answered == 0)) {
    // Answered: wait for the next request's first byte. (A new connection
    // waits for its first one within the header deadline from its accept.)
    arm(c, Phase::kIdle, l.keepalive_timeout);
  }
}

void HttpLoop::arm(Conn& c, Phase phase, std::chrono::milliseconds timeout) {
  c.phase = phase;
  c.deadline = Steady::now() + timeout;
  // A later deadline is not pushed now: the entry already queued comes due
  // first and pushes it then (expire()).
  if (c.queued && c.queued_at <= c.deadline) return;
  c.queued = true;
  c.queued_at = c.deadline;
  deadlines_.push({c.deadline, c.fd.get(), c.id, ++c.seq});
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
  const auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  per_source_.release(it->second->peer.ip);
  conns_.erase(it);  // closing the fd also removes it from epoll
  if (full_ && conns_.size() < opt_.max_connections) {
    full_ = false;
    update_listeners();
  }
}

// The listeners are watched unless the connections are at their cap or
// accept ran out of descriptors a moment ago.
void HttpLoop::update_listeners() {
  const bool listen = !full_ && Steady::now() >= backoff_until_;
  if (listen == listening_) return;
  listening_ = listen;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    epoll_event ev{};
    ev.events = listen ? static_cast<std::uint32_t>(EPOLLIN) : 0U;
    ev.data.u64 = kListenerTag | i;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listeners_[i].get(), &ev);
  }
}

int HttpLoop::next_timeout_ms() const {
  std::optional<Steady::time_point> next;
  if (!deadlines_.empty()) next = deadlines_.top().at;
  if (!listening_ && !full_ && (!next || backoff_until_ < *next)) next = backoff_until_;
  if (!next) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*next - Steady::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()) + 1);
}

void HttpLoop::expire() {
  const auto now = Steady::now();
  while (!deadlines_.empty() && deadlines_.top().at <= now) {
    const Deadline d = deadlines_.top();
    deadlines_.pop();
    auto it = conns_.find(d.fd);
    // Stale entries: the connection is gone, or a newer entry stands for it.
    if (it == conns_.end() || it->second->id != d.id || it->second->seq != d.seq) continue;
    Conn& c = *it->second;
    c.queued = false;
    if (c.deadline > now) {
      // The connection moved on to a later deadline since this was queued.
      c.queued = true;
      c.queued_at = c.deadline;
      deadlines_.push({c.deadline, d.fd, c.id, ++c.seq});
      continue;
    }
    if (on_event_) {
      if (c.phase == Phase::kHeader) on_event_(Event::kHeaderTimeout);
      if (c.phase == Phase::kIdle) on_event_(Event::kIdleTimeout);
      if (c.phase == Phase::kSending) on_event_(Event::kSendTimeout);
    }
    close_conn(d.fd);
  }
}

}  // namespace rsagent::endpoint
