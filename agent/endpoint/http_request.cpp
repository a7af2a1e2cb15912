#include "rsagent/endpoint/http_request.hpp"

#include "rsagent/util/text.hpp"

#include <cctype>
#include <cstring>
#include <optional>

namespace rsagent::endpoint {

namespace {

using State = HttpParse::State;

HttpParse fail(int status, std::string reason) {
  HttpParse p;
  p.state = State::kError;
  p.status = status;
  p.reason = std::move(reason);
  return p;
}

// RFC 9110 5.6.2.
bool tchar(unsigned char c) {
  if (std::isalnum(c)) return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~"))
    if (c == static_cast<unsigned char>(t)) return true;
  return false;
}

bool token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!tchar(static_cast<unsigned char>(c))) return false;
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// The line that starts at `pos`, without its LF or CRLF; `next` is where
// the following line starts. False when no LF has arrived yet.
bool line_at(std::string_view in, std::size_t pos, std::string_view& line, std::size_t& next) {
  const std::size_t lf = in.find('\n', pos);
  if (lf == std::string_view::npos) return false;
  std::size_t end = lf;
  if (end > pos && in[end - 1] == '\r') --end;  // CRLF; a bare LF is accepted too (RFC 9112 2.2)
  line = in.substr(pos, end - pos);
  next = lf + 1;
  return true;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "HTTP/1.1" -> 1; -1 when malformed, -2 when a major version other than 1.
int version_minor(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || !std::isdigit(static_cast<unsigned char>(v[5])) ||
      !std::isdigit(static_cast<unsigned char>(v[7])))
    return -1;
  if (v[5] != '1') return -2;
  return v[7] == '0' ? 0 : 1;  // 1.2 and later speak 1.1 to us (RFC 9110 2.5)
}

}  // namespace

bool normalise_target(std::string_view target, std::string& path) {
  path.clear();
  if (target == "*") {
    path = "*";
    return true;
  }
  std::string_view rest = target;
  if (rest.empty()) return false;
  if (rest.front() != '/') {
    // absolute-form (RFC 9112 3.2.2): what a proxy, or a checker that
    // thinks it talks to one, sends.
    const std::size_t colon = rest.find("://");
    if (colon == std::string_view::npos) return false;
    const std::string_view scheme = rest.substr(0, colon);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) return false;
    rest.remove_prefix(colon + 3);
    const std::size_t slash = rest.find_first_of("/?#");
    rest = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    if (rest.front() != '/') {
      path = "/";  // "http://host?x": the path is empty, which means "/"
      return true;
    }
  }
  const std::size_t q = rest.find_first_of("?#");
  if (q != std::string_view::npos) rest = rest.substr(0, q);
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] != '%') {
      path += rest[i];
      continue;
    }
    if (i + 2 >= rest.size()) return false;
    const int hi = hex(rest[i + 1]);
    const int lo = hex(rest[i + 2]);
    if (hi < 0 || lo < 0) return false;
    path += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

namespace {

// Where the request line starts: a client may send a few empty lines
// before a request (RFC 9112 2.2).
std::size_t skip_empty_lines(std::string_view in) {
  std::size_t pos = 0;
  for (int skipped = 0; skipped < 4; ++skipped) {
    if (pos < in.size() && in[pos] == '\n') {
      pos += 1;
    } else if (pos + 1 < in.size() && in[pos] == '\r' && in[pos + 1] == '\n') {
      pos += 2;
    } else {
      break;
    }
  }
  return pos;
}

// Method, target and version into r; an error answer when malformed.
std::optional<HttpParse> request_line(std::string_view line, HttpRequest& r) {
  if (line.size() > kMaxRequestLine) return fail(414, "request line too long");
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos) return fail(400, "malformed request line");
  if (sp2 == std::string_view::npos)
    return fail(400, "HTTP/0.9 (a request line without a version) is not supported");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!token(method)) return fail(400, "malformed method");
  if (target.empty()) return fail(400, "empty request target");
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return fail(400, "malformed request target");
  }
  const int minor = version_minor(version);
  if (minor == -2) return fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  if (minor < 0) return fail(400, "malformed HTTP version");
  r.method = std::string(method);
  r.target = text::cut(text::printable(target), 1024);
  r.minor = minor;
  if (!normalise_target(target, r.path)) return fail(400, "malformed request target");
  // Raw or percent-encoded bytes that are not UTF-8, or control characters,
  // made printable where they enter: the path is matched against check
  // names (which cannot hold a backslash) and may end up in a log.
  r.path = text::printable(r.path);
  if (r.path == "*" && method != "OPTIONS") return fail(400, "\"*\" is a target for OPTIONS only");
  return std::nullopt;
}

// What the header fields say about the connection and the body.
struct Framing {
  bool close = false;
  bool keep_alive = false;
  bool have_length = false;
  std::size_t length = 0;
};

// The options of a Connection field: a comma-separated list (RFC 9110 7.6.1).
void connection_options(std::string_view value, Framing& f) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view opt = trim_ows(value.substr(0, comma));
    if (iequals(opt, "close")) f.close = true;
    if (iequals(opt, "keep-alive")) f.keep_alive = true;
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
  }
}

// One header field line into r and f; an error answer when malformed.
std::optional<HttpParse> header_field(std::string_view line, HttpRequest& r, Framing& f) {
  if (line.front() == ' ' || line.front() == '\t') return fail(400, "obsolete line folding in a header field");
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || !token(line.substr(0, colon)))
    return fail(400, "malformed header field");
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim_ows(line.substr(colon + 1));
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return fail(400, "control character in a header field");
  }
  if (iequals(name, "User-Agent")) {
    r.user_agent = text::cut(text::printable(value), 256);
  } else if (iequals(name, "Connection")) {
    connection_options(value, f);
  } else if (iequals(name, "Transfer-Encoding")) {
    return fail(501, "request bodies in a transfer coding are not accepted");
  } else if (iequals(name, "Content-Length")) {
    if (value.empty() || value.size() > 9) return fail(value.empty() ? 400 : 413, "bad Content-Length");
    std::size_t n = 0;
    for (char c : value) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return fail(400, "bad Content-Length");
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (f.have_length && n != f.length) return fail(400, "conflicting Content-Length fields");
    f.have_length = true;
    f.length = n;
  }
  return std::nullopt;
}

}  // namespace

HttpParse parse_http_request(std::string_view in) {
  std::size_t pos = skip_empty_lines(in);
  std::string_view line;
  std::size_t next = 0;
  if (!line_at(in, pos, line, next)) {
    // + 1: the CR of a line of exactly kMaxRequestLine may come before its
    // LF; refusing it now would make the answer depend on how reads split.
    if (in.size() - pos > kMaxRequestLine + 1) return fail(414, "request line too long");
    return {};
  }
  HttpParse p;
  HttpRequest& r = p.request;
  if (auto error = request_line(line, r)) return *error;
  Framing f;
  std::size_t count = 0;
  const std::size_t headers_start = next;
  for (pos = next;;) {
    if (!line_at(in, pos, line, next)) {
      if (in.size() - headers_start > kMaxHeaderBlock) return fail(431, "request header fields too large");
      return {};
    }
    if (next - headers_start > kMaxHeaderBlock) return fail(431, "request header fields too large");
    pos = next;
    if (line.empty()) break;
    if (++count > kMaxHeaderCount) return fail(431, "too many request header fields");
    if (auto error = header_field(line, r, f)) return *error;
  }
  if (f.length > kMaxRequestBody) return fail(413, "request body too large (checkers send none)");
  if (in.size() - pos < f.length) {
    HttpParse more;
    more.need = pos + f.length;
    return more;
  }
  r.keep_alive = r.minor == 1 ? !f.close : (f.keep_alive && !f.close);
  p.state = State::kComplete;
  p.consumed = pos + f.length;
  return p;
}

bool FrameScan::ready(std::string_view in) {
  if (need_ != 0) return in.size() >= need_;
  bool hit = false;
  while (!hit && scanned_ < in.size()) {
    const void* lf = std::memchr(in.data() + scanned_, '\n', in.size() - scanned_);
    if (lf == nullptr) {
      scanned_ = in.size();
      break;
    }
    const auto at = static_cast<std::size_t>(static_cast<const char*>(lf) - in.data());
    const std::size_t length = at - line_start_;
    const bool empty = length == 0 || (length == 1 && in[line_start_] == '\r');
    hit = !seen_lf_ || empty;
    seen_lf_ = true;
    line_start_ = at + 1;
    scanned_ = at + 1;
  }
  // Beyond the cap the parser always decides (413, 414 or 431).
  return hit || in.size() > kMaxRequestBytes;
}

}  // namespace rsagent::endpoint
