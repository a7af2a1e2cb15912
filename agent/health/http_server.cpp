#include "rsagent/health/http_server.hpp"

#include "rsagent/health/report.hpp"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstring>

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

bool known_path(const std::string& p) {
  return p == "/healthz" || p == "/readyz" || p == "/livez" || p == "/status" || p == "/metrics" ||
         p.rfind("/health/", 0) == 0;
}

}  // namespace

HttpServer::HttpServer(const config::Health& cfg, Board& board, std::unique_ptr<HttpLoop> loop)
    : cfg_(cfg), board_(board), loop_(std::move(loop)) {
  auto engine = std::make_unique<Engine>();
  engine->set_payload_max_length(4096);
  install_routes(*engine);
  engine_ = std::move(engine);
  heartbeat();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::heartbeat() { heartbeat_ms_ = now_ms(); }

void HttpServer::start() {
  loop_->start([this](const std::string& request, bool complete, const Peer& peer, std::string& out) {
    respond(request, complete, peer, out);
  });
}

void HttpServer::stop() {
  if (loop_) loop_->stop();
}

void HttpServer::respond(const std::string& in, bool complete, const Peer& peer, std::string& out) {
  const std::size_t line = in.find("\r\n");
  const std::size_t end = complete ? in.find("\r\n\r\n") : std::string::npos;
  // The size limits, before cpp-httplib reads anything.
  const bool uri_too_long = line == std::string::npos || line > kMaxUriBytes;
  const bool headers_too_large = !complete || end - line > kMaxHeaderBytes;
  if (uri_too_long || headers_too_large) {
    ++board_.http_requests;
    ++board_.http_errors;
    out = uri_too_long ? canned(414, "URI Too Long", "request line too long\n")
                       : canned(431, "Request Header Fields Too Large", "request header fields too large\n");
    return;
  }
  if (answer_from_cache(in, line, end, peer, out)) return;
  BufferStream strm(in, out, peer.fd, peer.ip, peer.port);
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
bool HttpServer::answer_from_cache(const std::string& request, std::size_t line_end, std::size_t end,
                                   const Peer& peer, std::string& out) {
  const std::string_view in(request);
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
  if (!allowed(peer.ip)) return false;  // the full path answers 403 and counts it
  ++board_.http_requests;
  board_.note_request(peer.ip, std::string(ua));
  out = rendered(std::string(method), std::string(path));
  return true;
}

bool HttpServer::allowed(const std::string& ip) const {
  if (cfg_.allow.empty()) return true;
  const auto addr = net::IpAddress::parse(ip);
  return addr && std::any_of(cfg_.allow.begin(), cfg_.allow.end(),
                             [&](const config::Cidr& c) { return c.contains(*addr); });
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

void HttpServer::install_routes(httplib::Server& s) {
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    if (rendering_) {
      serve_get(req, res);
      return httplib::Server::HandlerResponse::Handled;
    }
    ++board_.http_requests;
    if (!allowed(req.remote_addr)) {
      ++board_.http_denied;
      plain(res, 403, "forbidden\n");
      return httplib::Server::HandlerResponse::Handled;
    }
    board_.note_request(req.remote_addr, req.get_header_value("User-Agent"));
    // The header block's size was capped by respond(); its count is capped here.
    if (req.headers.size() > kMaxHeaders) {
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

}  // namespace rsagent::health
