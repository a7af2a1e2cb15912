#include "rsagent/health/http_server.hpp"

#include "rsagent/health/report.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <netinet/in.h>
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

// A fixed set of workers and a bounded queue: when every worker is busy and
// the queue is full, the accept thread waits, and new connections wait in the
// kernel's backlog instead of growing memory without bound.
class BoundedPool final : public httplib::TaskQueue {
 public:
  BoundedPool(std::size_t workers, std::size_t max_queue) : max_queue_(max_queue) {
    for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] { return jobs_.size() < max_queue_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    not_empty_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      shutdown_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    while (true) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        not_empty_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;
        fn = std::move(jobs_.front());
        jobs_.pop_front();
        not_full_.notify_one();
      }
      fn();
    }
  }
  const std::size_t max_queue_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> jobs_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  bool shutdown_ = false;
};

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

bool known_path(const std::string& p) {
  return p == "/healthz" || p == "/readyz" || p == "/livez" || p == "/status" || p == "/metrics" ||
         p.rfind("/health/", 0) == 0;
}

}  // namespace

HttpServer::HttpServer(const config::Health& cfg, Board& board) : cfg_(cfg), board_(board) {
  heartbeat();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::heartbeat() { heartbeat_ms_ = now_ms(); }

Result<std::unique_ptr<HttpServer>> HttpServer::bind(const config::Health& cfg, Board& board) {
  std::unique_ptr<HttpServer> hs(new HttpServer(cfg, board));
  for (const auto& ep : cfg.listen) {
    auto s = std::make_unique<httplib::Server>();
    int fd = -1;
    // Only SO_REUSEADDR (restart over TIME_WAIT); never SO_REUSEPORT, which
    // would let a second process share the port and split the answers.
    s->set_socket_options([&fd](int sock) {
      const int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      fd = sock;
    });
    s->new_task_queue = [] { return new BoundedPool(kWorkers, kQueuedConnections); };
    s->set_read_timeout(3, 0);
    s->set_write_timeout(3, 0);
    // One request per connection: checkers connect per check anyway, and a
    // kept-alive connection would hold a worker while it idles. Clients that
    // ask for keep-alive get "Connection: close" and simply reconnect.
    s->set_keep_alive_max_count(1);
    s->set_payload_max_length(4096);
    hs->install_routes(*s);
    errno = 0;
    if (!s->bind_to_port(ep.address.str().c_str(), ep.port)) {
      const int e = errno;
      return errno_error(e ? e : EADDRINUSE,
                         "health.listen " + ep.str() +
                             ": cannot listen (another process has the port, or the address is "
                             "not on this host); free it or change health.listen");
    }
    // cpp-httplib listens with a backlog of 5; directors open a connection per
    // check, so raise it (listen() again on a listening socket only resizes).
    if (fd >= 0) ::listen(fd, kListenBacklog);
    hs->servers_.push_back(std::move(s));
  }
  return hs;
}

void HttpServer::start() {
  for (auto& s : servers_) threads_.emplace_back([srv = s.get()] { srv->listen_after_bind(); });
}

void HttpServer::stop() {
  for (auto& s : servers_) s->stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void HttpServer::install_routes(httplib::Server& s) {
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    ++board_.http_requests;
    res.set_header("Cache-Control", "no-store");
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
  const bool v4 = at.address.family == net::Family::kV4;
  UniqueFd fd(::socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return errno_error(errno, "agent_check.listen " + at.str());
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
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(at.port);
    std::memcpy(&sin6->sin6_addr, at.address.bytes.data(), 16);
    len = sizeof *sin6;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::listen(fd.get(), kListenBacklog) != 0)
    return errno_error(errno, "agent_check.listen " + at.str() +
                                  ": cannot listen; free the port or change agent_check.listen");
  return std::unique_ptr<AgentCheckServer>(new AgentCheckServer(std::move(fd), board));
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
