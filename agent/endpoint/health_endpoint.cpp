#include "rsagent/endpoint/health_endpoint.hpp"

#include "rsagent/endpoint/report.hpp"
#include "rsagent/util/text.hpp"

#include <algorithm>
#include <chrono>

namespace rsagent::endpoint {

namespace {

using Steady = std::chrono::steady_clock;
constexpr std::int64_t kLivenessMs = 10'000;  // the main loop ticks every second
constexpr std::string_view kAllow = "GET, HEAD, OPTIONS";
constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now().time_since_epoch())
      .count();
}

std::string_view status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

// A header value is one printable line.
std::string header_value(std::string_view v) { return text::one_line(v, 512); }

// One answer as it goes on the wire. Always Content-Length, never chunked;
// HEAD and OPTIONS carry no body (HEAD's Content-Length is GET's).
struct Answer {
  int status = 200;
  std::string content_type{kTextPlain};
  std::string body;
  std::vector<std::pair<std::string_view, std::string>> headers;
  bool send_body = true;
  bool close = false;

  [[nodiscard]] std::string wire() const {
    std::string out;
    out.reserve(160 + body.size());
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += status_text(status);
    out += "\r\nContent-Type: ";
    out += content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\nCache-Control: no-store\r\n";
    for (const auto& [name, value] : headers) {
      out += name;
      out += ": ";
      out += value;
      out += "\r\n";
    }
    out += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
    if (send_body) out += body;
    return out;
  }
};

Answer text_answer(int status, std::string body) {
  Answer a;
  a.status = status;
  a.body = std::move(body);
  return a;
}

bool health_path(const std::string& p) {
  return p == "/" || p == "*" || p == "/healthz" || p == "/readyz" || p == "/livez" ||
         p.rfind("/health/", 0) == 0;
}

bool known_path(const std::string& p) { return health_path(p) || p == "/status" || p == "/metrics"; }

}  // namespace

HealthEndpoint::HealthEndpoint(verdict::Board& board, std::unique_ptr<HttpLoop> loop)
    : board_(board), loop_(std::move(loop)) {
  heartbeat();
}

HealthEndpoint::~HealthEndpoint() { stop(); }

void HealthEndpoint::heartbeat() { heartbeat_ms_ = now_ms(); }

void HealthEndpoint::start() {
  loop_->start(
      [this](const HttpParse& p, bool last, const Peer& peer, std::string& out) {
        return respond(p, last, peer, out);
      },
      [this](HttpLoop::Event e) {
        switch (e) {
          case HttpLoop::Event::kDenied: ++board_.http_denied; break;
          case HttpLoop::Event::kSourceFull: ++board_.http_source_full; break;
          case HttpLoop::Event::kHeaderTimeout:
          case HttpLoop::Event::kIdleTimeout:
          case HttpLoop::Event::kSendTimeout: ++board_.http_timeouts; break;
        }
      });
}

void HealthEndpoint::stop() {
  if (loop_) loop_->stop();
}

HttpLoop::Reply HealthEndpoint::respond(const HttpParse& p, bool last, const Peer& peer, std::string& out) {
  ++board_.http_requests;
  if (p.state != HttpParse::State::kComplete) {
    ++board_.http_errors;
    Answer a = text_answer(p.status, p.reason + "\n");
    a.close = true;
    out += a.wire();
    return {true};  // the loop reads away what the client still sends
  }
  board_.note_request(peer.ip, p.request.user_agent);
  const bool close = last || !p.request.keep_alive;
  out += answer(p.request, close);
  return {close};
}

std::string HealthEndpoint::answer(const HttpRequest& req, bool close) const {
  const std::string& m = req.method;
  const bool get = m == "GET", head = m == "HEAD", options = m == "OPTIONS";
  Answer a;
  if (!get && !head && !options) {
    ++board_.http_errors;
    a = text_answer(405, "method not allowed\n");
    a.headers.emplace_back("Allow", kAllow);
  } else if (!known_path(req.path)) {
    a = text_answer(404, "not found\n");
  } else {
    const auto snap = board_.snapshot();
    const std::string& p = req.path;
    if (p == "/" || p == "*" || p == "/healthz" || p == "/readyz") {
      // "/" too: HAProxy's `option httpchk` with no URI, and ldirectord's default.
      const verdict::Verdict& v = snap->verdict;
      a = text_answer(v.ready() ? 200 : 503, v.body());
      a.headers.emplace_back("X-Rsagent-State", std::string(verdict::mode_name(v.mode)));
      if (!v.reason.empty()) a.headers.emplace_back("X-Rsagent-Reason", header_value(v.reason));
    } else if (p.rfind("/health/", 0) == 0) {
      const std::string name = p.substr(8);
      const auto it = std::find_if(snap->checks.begin(), snap->checks.end(),
                                   [&](const verdict::CheckView& c) { return c.name == name; });
      if (it == snap->checks.end()) {
        a = text_answer(404, "no check named \"" + text::cut(text::printable(name), 128) + "\"\n");
      } else {
        a = text_answer(it->up ? 200 : 503, it->up ? "up\n" : "down\n");
        a.headers.emplace_back("X-Rsagent-State", it->up ? "up" : "down");
        if (it->has_result && !it->last.detail.empty())
          a.headers.emplace_back("X-Rsagent-Reason", header_value(it->last.detail));
      }
    } else if (p == "/livez") {
      const bool alive = now_ms() - heartbeat_ms_.load() < kLivenessMs;
      a = text_answer(alive ? 200 : 503, alive ? "alive\n" : "main loop stalled\n");
    } else if (p == "/status") {
      a.content_type = "application/json";
      // replace: a byte that slipped past the intake cleaning must not turn
      // /status into an error.
      a.body = status_json(*snap, board_).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    } else {
      a.content_type = "text/plain; version=0.0.4; charset=utf-8";
      a.body = metrics_text(*snap, board_);
    }
    // OPTIONS answers like GET (a checker's `option httpchk` sends OPTIONS
    // and reads only the status), with the methods allowed and no body.
    if (options) {
      a.headers.emplace_back("Allow", kAllow);
      a.body.clear();
    }
    a.send_body = get;
  }
  if (head) a.send_body = false;
  a.close = close;
  return a.wire();
}

}  // namespace rsagent::endpoint
