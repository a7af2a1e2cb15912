#include "rsagent/health/http_server.hpp"

#include "rsagent/health/report.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <cctype>
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
constexpr std::int64_t kLivenessMs = 10'000;  // the main loop ticks every second
const char* const kAllow = "GET, HEAD, OPTIONS";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now().time_since_epoch())
      .count();
}

void plain(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "text/plain; charset=utf-8");
}

// A header value is one line: fold multi-line reasons.
std::string header_value(const std::string& v) {
  std::string out;
  for (char c : v.substr(0, 512)) {
    if (c == '\n') {
      out += "; ";
    } else if (c != '\r') {
      out += c;
    }
  }
  return out;
}

// cpp-httplib's request processing, reached from outside its own socket
// loop: process_request() is protected.
class Engine final : public httplib::Server {
 public:
  using httplib::Server::process_request;
};

// A complete request in memory in, the response into a buffer out.
class BufferStream final : public httplib::Stream {
 public:
  BufferStream(const std::string& in, std::string& out, int fd, const std::string& ip, int port)
      : in_(in), out_(out), fd_(fd), ip_(ip), port_(port) {}
  bool is_readable() const override { return pos_ < in_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = ip_;
    port = port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = 0;
  }
  socket_t socket() const override { return fd_; }

 private:
  const std::string& in_;
  std::string& out_;
  int fd_;
  const std::string& ip_;
  int port_;
  std::size_t pos_ = 0;
};

// Answers the loop gives itself, before cpp-httplib sees the request.
std::string canned(int status, const char* reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n"
         "Connection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

constexpr std::uint64_t kWakeTag = 1ULL << 40;
constexpr std::uint64_t kListenerTag = 1ULL << 41;
// Most requests arrive whole in one segment; the cap covers a maximal
// request line, the header block and the blank line.
constexpr std::size_t kMaxRequestBytes = kMaxUriBytes + kMaxHeaderBytes + 64;
// What a client may still send after its answer before it is cut off.
constexpr std::size_t kMaxDiscard = 64 * 1024;

bool known_path(const std::string& p) {
  return p == "/healthz" || p == "/readyz" || p == "/livez" || p == "/status" || p == "/metrics" ||
         p.rfind("/health/", 0) == 0;
}

}  // namespace

struct HttpServer::Conn {
  UniqueFd fd;
  std::string ip;
  int port = 0;
  std::string in;
  std::string out;
  std::size_t sent = 0;
  bool lingering = false;  // answered early; discarding the rest of the request
  std::size_t discarded = 0;
  std::uint32_t watching = 0;  // epoll events registered; 0: not in epoll
  std::chrono::steady_clock::time_point deadline;
  std::uint64_t serial = 0;
};

namespace {

Result<UniqueFd> listen_tcp(const config::Endpoint& at, const std::string& what) {
  const bool v4 = at.address.family == net::Family::kV4;
  UniqueFd fd(::socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return errno_error(errno, what + " " + at.str());
  // Only SO_REUSEADDR (restart over TIME_WAIT); never SO_REUSEPORT, which
  // would let a second process share the port and split the answers.
  const int yes = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(at.port);
    std::memcpy(&sin->sin_addr, at.address.bytes.data(), 4);
    len = sizeof *sin;
  } else {
    // [::] must not also take 0.0.0.0: both may be configured.
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof yes);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(at.port);
    std::memcpy(&sin6->sin6_addr, at.address.bytes.data(), 16);
    len = sizeof *sin6;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::listen(fd.get(), kListenBacklog) != 0)
    return errno_error(errno, what + " " + at.str() +
                                  ": cannot listen (another process has the port, or the address "
                                  "is not on this host); free it or change " + what);
  return fd;
}

}  // namespace

HttpServer::HttpServer(const config::Health& cfg, Board& board) : cfg_(cfg), board_(board) {
  heartbeat();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::heartbeat() { heartbeat_ms_ = now_ms(); }

Result<std::unique_ptr<HttpServer>> HttpServer::bind(const config::Health& cfg, Board& board) {
  std::unique_ptr<HttpServer> hs(new HttpServer(cfg, board));
  auto engine = std::make_unique<Engine>();
  engine->set_payload_max_length(4096);
  hs->install_routes(*engine);
  hs->engine_ = std::move(engine);
  for (const auto& ep : cfg.listen) {
    auto fd = listen_tcp(ep, "health.listen");
    if (!fd) return fd.error();
    // Wake us only once the request has arrived: checkers send it with
    // the handshake's last packet, so accept and answer are one step.
    const int secs = static_cast<int>(kConnectionTimeout.count() / 1000);
    ::setsockopt(fd->get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
    hs->listeners_.push_back(std::move(*fd));
  }
  hs->epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  hs->wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (hs->epoll_.get() < 0 || hs->wake_.get() < 0) return errno_error(errno, "health endpoint: epoll");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(hs->epoll_.get(), EPOLL_CTL_ADD, hs->wake_.get(), &ev);
  for (std::size_t i = 0; i < hs->listeners_.size(); ++i) {
    ev.events = EPOLLIN;
    ev.data.u64 = kListenerTag | i;
    ::epoll_ctl(hs->epoll_.get(), EPOLL_CTL_ADD, hs->listeners_[i].get(), &ev);
  }
  return hs;
}

void HttpServer::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  conns_.clear();
  deadlines_.clear();
}

void HttpServer::run() {
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

void HttpServer::accept_from(int listener) {
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
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
      c->port = ntohs(sin->sin_port);
    } else {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
      c->port = ntohs(sin6->sin6_port);
    }
    c->ip = buf;
    // The usual case ends here: the request is already in, the answer fits
    // the socket buffer, and the connection never enters epoll.
    if (!on_readable(*c)) continue;
    c->deadline = Steady::now() + kConnectionTimeout;
    c->serial = ++serial_;
    deadlines_.push_back({c->deadline, fd, c->serial});
    Conn& ref = *c;
    conns_.emplace(fd, std::move(c));
    watch(ref, ref.sent < ref.out.size() ? EPOLLOUT : EPOLLIN);
  }
}

bool HttpServer::on_readable(Conn& c) {
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;  // wait for more, or a broken connection
    }
    if (n == 0) return false;  // closed by the peer (or done lingering)
    if (c.lingering || !c.out.empty()) {
      // Answered already: discard, but not without end.
      c.discarded += static_cast<std::size_t>(n);
      if (c.discarded > kMaxDiscard) return false;
      continue;
    }
    const std::size_t old = c.in.size();
    c.in.append(buf, static_cast<std::size_t>(n));
    const std::size_t from = old >= 3 ? old - 3 : 0;
    if (c.in.find("\r\n\r\n", from) != std::string::npos || c.in.size() >= kMaxRequestBytes) {
      answer(c);
      return on_writable(c);
    }
  }
}

void HttpServer::answer(Conn& c) {
  const std::size_t end = c.in.find("\r\n\r\n");
  const std::size_t line = c.in.find("\r\n");
  if (end == std::string::npos) {
    // Cut off at the cap: the request line or the headers are too long. The
    // client may still be sending; discard the rest after the answer.
    ++board_.http_requests;
    ++board_.http_errors;
    c.lingering = true;
    c.out = (line == std::string::npos || line > kMaxUriBytes)
                ? canned(414, "URI Too Long", "request line too long\n")
                : canned(431, "Request Header Fields Too Large", "request header fields too large\n");
    return;
  }
  if (line > kMaxUriBytes) {
    ++board_.http_requests;
    ++board_.http_errors;
    c.out = canned(414, "URI Too Long", "request line too long\n");
    return;
  }
  if (end - line > kMaxHeaderBytes) {
    ++board_.http_requests;
    ++board_.http_errors;
    c.out = canned(431, "Request Header Fields Too Large", "request header fields too large\n");
    return;
  }
  if (answer_from_cache(c)) return;
  BufferStream strm(c.in, c.out, c.fd.get(), c.ip, c.port);
  bool closed = false;
  static_cast<Engine&>(*engine_).process_request(strm, true, closed, [](httplib::Request&) {});
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool hot_path(std::string_view p) {
  if (p == "/healthz" || p == "/readyz" || p == "/livez") return true;
  if (p.substr(0, 8) != "/health/" || p.size() == 8 || p.size() > 8 + 64) return false;
  for (char ch : p.substr(8))
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') return false;
  return true;
}

// Headers that cannot change what cpp-httplib answers on the hot paths.
// Anything else (Accept-Encoding, Range, a body, Expect, ...) takes the
// full path, so the cache never answers differently from cpp-httplib.
bool inert_header(std::string_view name) {
  for (const char* h : {"host", "user-agent", "accept", "connection", "cache-control", "pragma",
                        "accept-language", "keep-alive"})
    if (iequals(name, h)) return true;
  return name.size() > 2 && (name[0] == 'x' || name[0] == 'X') && name[1] == '-';
}

}  // namespace

// Directors poll the same few paths with the same plain request, and the
// answer only changes with the Board's snapshot. cpp-httplib renders it once
// per snapshot (rendered()); a request is answered from that rendering only
// when it is a GET or HEAD of a hot path with nothing but inert headers and
// from an allowed source. It still counts, and its director is recorded.
bool HttpServer::answer_from_cache(Conn& c) {
  const std::string_view in(c.in);
  const std::size_t line_end = in.find("\r\n");
  const std::string_view line = in.substr(0, line_end);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = line.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return false;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if ((method != "GET" && method != "HEAD") || (version != "HTTP/1.1" && version != "HTTP/1.0") ||
      !hot_path(path))
    return false;
  const std::size_t end = in.find("\r\n\r\n");
  std::string_view ua;
  std::size_t count = 0;
  for (std::size_t pos = line_end + 2; pos < end + 2;) {
    const std::size_t eol = in.find("\r\n", pos);
    const std::string_view h = in.substr(pos, eol - pos);
    const std::size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    const std::string_view name = h.substr(0, colon);
    for (char ch : name)
      if (ch <= ' ' || ch >= 127) return false;
    if (!inert_header(name)) return false;
    if (iequals(name, "user-agent")) ua = trim(h.substr(colon + 1));
    if (++count > kMaxHeaders) return false;
    pos = eol + 2;
  }
  if (!cfg_.allow.empty()) {
    auto ip = net::IpAddress::parse(c.ip);
    bool ok = false;
    for (const auto& cidr : cfg_.allow) ok = ok || (ip && cidr.contains(*ip));
    if (!ok) return false;  // the full path answers 403 and counts it
  }
  ++board_.http_requests;
  board_.note_request(c.ip, std::string(ua));
  c.out = rendered(std::string(method), std::string(path));
  return true;
}

const std::string& HttpServer::rendered(const std::string& method, const std::string& path) {
  auto snap = board_.snapshot();
  const bool alive = now_ms() - heartbeat_ms_.load() < kLivenessMs;
  if (snap != cached_snapshot_ || alive != cached_alive_ || cache_.size() > 256) {
    cache_.clear();
    cached_snapshot_ = std::move(snap);
    cached_alive_ = alive;
  }
  const std::string key = method + " " + path;
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  const std::string request = key + " HTTP/1.1\r\n\r\n";
  const std::string no_ip;
  std::string out;
  rendering_ = true;
  BufferStream strm(request, out, -1, no_ip, 0);
  bool closed = false;
  static_cast<Engine&>(*engine_).process_request(strm, true, closed, [](httplib::Request&) {});
  rendering_ = false;
  return cache_.emplace(key, std::move(out)).first->second;
}

bool HttpServer::on_writable(Conn& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      // A large /status or /metrics to a slow reader: wait for room, and
      // give it another timeout period while it makes progress.
      if (c.watching != 0) {
        c.deadline = Steady::now() + kConnectionTimeout;
        deadlines_.push_back({c.deadline, c.fd.get(), c.serial});
        watch(c, EPOLLOUT);
      }
      return true;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  if (c.out.empty()) return false;  // cpp-httplib had nothing to say: the request was unusable
  if (!c.lingering) return false;   // closing with nothing unread sends FIN, not RST
  // The client may still be sending what we refused: read it away for a
  // moment so that the close does not reset the answer out of its buffer.
  // Bounded by the connection's deadline.
  ::shutdown(c.fd.get(), SHUT_WR);
  if (c.watching != 0) watch(c, EPOLLIN);
  return true;
}

void HttpServer::watch(Conn& c, std::uint32_t events) {
  if (c.watching == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = static_cast<std::uint64_t>(c.fd.get());
  ::epoll_ctl(epoll_.get(), c.watching == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd.get(), &ev);
  c.watching = events;
}

void HttpServer::close_conn(int fd) {
  conns_.erase(fd);  // closing the fd also removes it from epoll
  if (paused_ && conns_.size() < kMaxConnections) pause_accepting(false);
}

void HttpServer::pause_accepting(bool pause) {
  paused_ = pause;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    epoll_event ev{};
    ev.events = pause ? 0U : static_cast<std::uint32_t>(EPOLLIN);
    ev.data.u64 = kListenerTag | i;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listeners_[i].get(), &ev);
  }
}

int HttpServer::next_timeout_ms() {
  if (deadlines_.empty()) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadlines_.front().at - Steady::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()) + 1);
}

void HttpServer::expire() {
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

void HttpServer::install_routes(httplib::Server& s) {
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    if (rendering_) {
      serve_get(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    ++board_.http_requests;
    if (!cfg_.allow.empty()) {
      auto ip = net::IpAddress::parse(req.remote_addr);
      bool ok = false;
      for (const auto& c : cfg_.allow) ok = ok || (ip && c.contains(*ip));
      if (!ok) {
        ++board_.http_denied;
        plain(res, 403, "forbidden\n");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    board_.note_request(req.remote_addr, req.get_header_value("User-Agent"));
    std::size_t bytes = 0;
    for (const auto& [k, v] : req.headers) bytes += k.size() + v.size() + 4;
    if (bytes > kMaxHeaderBytes || req.headers.size() > kMaxHeaders) {
      ++board_.http_errors;
      plain(res, 431, "request header fields too large\n");
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "GET" || req.method == "HEAD") {
      // Answered here, not through a route: cpp-httplib routes by std::regex,
      // which costs more than the whole answer.
      serve_get(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "OPTIONS") {
      if (!known_path(req.path)) {
        plain(res, 404, "not found\n");
      } else {
        res.set_header("Allow", kAllow);
        res.status = 204;
      }
      return httplib::Server::HandlerResponse::Handled;
    }
    ++board_.http_errors;
    res.set_header("Allow", kAllow);
    plain(res, 405, "method not allowed\n");
    return httplib::Server::HandlerResponse::Handled;
  });
}

void HttpServer::serve_get(const httplib::Request& req, httplib::Response& res) {
  {
    const auto snap = board_.snapshot();
    const std::string& p = req.path;
    if (p == "/healthz" || p == "/readyz") {
      const Verdict& v = snap->verdict;
      res.set_header("X-Rsagent-State", mode_name(v.mode));
      if (!v.reason.empty()) res.set_header("X-Rsagent-Reason", header_value(v.reason));
      return plain(res, v.ready() ? 200 : 503, v.body());
    }
    if (p.rfind("/health/", 0) == 0) {
      const std::string name = p.substr(8);
      for (const auto& c : snap->checks) {
        if (c.name != name) continue;
        res.set_header("X-Rsagent-State", c.up ? "up" : "down");
        if (c.has_result && !c.last.detail.empty())
          res.set_header("X-Rsagent-Reason", header_value(c.last.detail));
        return plain(res, c.up ? 200 : 503, c.up ? "up\n" : "down\n");
      }
      return plain(res, 404, "no check named " + name + "\n");
    }
    if (p == "/livez") {
      const bool alive = now_ms() - heartbeat_ms_.load() < kLivenessMs;
      return plain(res, alive ? 200 : 503, alive ? "alive\n" : "main loop stalled\n");
    }
    if (p == "/status") {
      res.status = 200;
      res.set_content(status_json(*snap, board_).dump(2) + "\n", "application/json");
      return;
    }
    if (p == "/metrics") {
      res.status = 200;
      res.set_content(metrics_text(*snap, board_), "text/plain; version=0.0.4; charset=utf-8");
      return;
    }
    plain(res, 404, "not found\n");
  }
}

// --- agent-check ---------------------------------------------------------

Result<std::unique_ptr<AgentCheckServer>> AgentCheckServer::bind(const config::Endpoint& at,
                                                                 Board& board) {
  auto fd = listen_tcp(at, "health.agent_check.listen");
  if (!fd) return fd.error();
  return std::unique_ptr<AgentCheckServer>(new AgentCheckServer(std::move(*fd), board));
}

AgentCheckServer::~AgentCheckServer() { stop(); }

void AgentCheckServer::start() {
  loop_.start([this](UniqueFd client) {
    // One line, then close: HAProxy reads until EOF. The line fits any
    // socket buffer, so a non-blocking send never waits on the peer.
    const std::string line = board_.snapshot()->verdict.agent_line();
    (void)!::send(client.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ++board_.agent_checks;
  });
}

void AgentCheckServer::stop() { loop_.stop(); }

}  // namespace rsagent::health
