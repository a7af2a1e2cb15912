// The health endpoint's HTTP/1.x request parser: a pure function from the
// bytes a connection has sent so far to one framed request (or "need more",
// or the error status to answer). Strict where a checker could be misled,
// lenient where real checkers differ (RFC 9112): bare LF line endings are
// accepted, a missing Host is not an error. Owns nothing. Threads: pure.
// Errors: a malformed request is a status to answer (400, 405 is the
// responder's, 413, 414, 431, 501, 505) with a short reason, and the
// connection closes after it. Nothing here throws, whatever the bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rsagent::endpoint {

inline constexpr std::size_t kMaxRequestLine = 8192;   // else 414
inline constexpr std::size_t kMaxHeaderBlock = 8192;   // else 431
inline constexpr std::size_t kMaxHeaderCount = 64;     // else 431
inline constexpr std::size_t kMaxRequestBody = 4096;   // else 413 (checkers send none)
// What a connection may buffer before a request must be complete: up to
// four empty lines before it (8 bytes), the request line and its CRLF, the
// header block (its end included) and the body.
inline constexpr std::size_t kMaxRequestBytes =
    8 + kMaxRequestLine + 2 + kMaxHeaderBlock + kMaxRequestBody;

struct HttpRequest {
  std::string method;      // the token as sent (a valid token, so printable ASCII)
  std::string target;      // as sent, made printable (for logs)
  std::string path;        // normalised: no scheme/authority, no query, percent-decoded
  int minor = 1;           // HTTP/1.<minor>, 0 or 1
  bool keep_alive = false; // HTTP/1.1 unless "Connection: close"; 1.0 only with "keep-alive"
  std::string user_agent;  // printable valid UTF-8 (text::printable), at most 256 bytes
};

struct HttpParse {
  enum class State { kIncomplete, kComplete, kError };
  State state = State::kIncomplete;
  std::size_t consumed = 0;  // kComplete: bytes of this request, body included
  std::size_t need = 0;      // kIncomplete: the header block is whole; complete at this many bytes
  HttpRequest request;       // kComplete
  int status = 0;            // kError: the status to answer, then close
  std::string reason;        // kError: what was wrong, one printable line
};

// Parses the request at the start of `in`. kIncomplete while the request may
// still become valid and is within the limits above.
[[nodiscard]] HttpParse parse_http_request(std::string_view in);

// Where a connection's framing resumes: the bytes of a request already
// looked at, so that each byte is scanned once however it arrives, and the
// parser runs only when it can say more than kIncomplete (the request line
// ended, an empty line ended - the header block's end, or one of the empty
// lines allowed before a request -, the body is in, or the limits are
// reached). A malformed header field is so answered when the header
// block ends (or at the cap), not as soon as its own line does. Offsets are
// from the request's first byte; reset() once the request is taken off the
// front. Pure.
class FrameScan {
 public:
  // Whether parse_http_request(in) may now be other than kIncomplete. `in`
  // starts at the request and only grows between calls.
  [[nodiscard]] bool ready(std::string_view in);
  // A parse said kIncomplete: nothing changes before `p.need` bytes.
  void parsed(const HttpParse& p) { need_ = p.need; }
  void reset() { *this = FrameScan(); }
  [[nodiscard]] std::size_t scanned() const { return scanned_; }

 private:
  std::size_t scanned_ = 0;
  std::size_t line_start_ = 0;
  std::size_t need_ = 0;
  bool seen_lf_ = false;
};

// "/healthz" from "/healthz?x", "http://host:9799/healthz" or "/health%7Az";
// false when the target is not origin-form, absolute-form or "*", or its
// percent-encoding is broken.
[[nodiscard]] bool normalise_target(std::string_view target, std::string& path);

}  // namespace rsagent::endpoint
