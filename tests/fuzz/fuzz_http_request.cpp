// libFuzzer target: the health endpoint's HTTP/1.x request parser.
// Beyond "no crash, no leak, no UB", it checks what the responder relies on:
// a complete request never claims more bytes than it was given, what it
// hands on is printable valid UTF-8, and the framing of a connection's
// requests does not depend on how the bytes were split into reads, and
// the resumed framing the endpoint uses (FrameScan: parse only where it
// can decide) frames exactly as parsing after every read does.
#include "fuzz_support.hpp"
#include "rsagent/endpoint/http_request.hpp"
#include "rsagent/util/text.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using rsagent::endpoint::HttpParse;
using rsagent::endpoint::parse_http_request;
using State = HttpParse::State;

namespace {

void check_one(std::string_view in, const HttpParse& p) {
  using rsagent::fuzz::is_printable;
  using rsagent::text::valid_utf8;
  switch (p.state) {
    case State::kIncomplete:
      // The connection may keep buffering only while under the cap.
      FUZZ_CHECK(in.size() <= rsagent::endpoint::kMaxRequestBytes, "incomplete beyond the cap");
      break;
    case State::kComplete: {
      const auto& r = p.request;
      FUZZ_CHECK(p.consumed > 0 && p.consumed <= in.size(),
                 "consumed " + std::to_string(p.consumed));
      FUZZ_CHECK(valid_utf8(r.path) && is_printable(r.path), "path is not printable");
      FUZZ_CHECK(valid_utf8(r.target) && is_printable(r.target), "target is not printable");
      FUZZ_CHECK(valid_utf8(r.user_agent) && is_printable(r.user_agent),
                 "user_agent is not printable");
      FUZZ_CHECK(r.user_agent.size() <= 256, "user_agent longer than 256 bytes");
      FUZZ_CHECK(!r.method.empty() && is_printable(r.method), "method");
      FUZZ_CHECK(r.minor == 0 || r.minor == 1, "minor");
      FUZZ_CHECK(!r.path.empty(), "empty path");
      break;
    }
    case State::kError:
      FUZZ_CHECK(p.status >= 400 && p.status <= 599, "status " + std::to_string(p.status));
      FUZZ_CHECK(!p.reason.empty() && is_printable(p.reason), "reason is not one printable line");
      break;
  }
}

struct Frame {
  State state;
  std::size_t consumed;
  int status;
  std::string path;
  bool keep_alive;
  bool operator==(const Frame&) const = default;
};

// What a connection does: append what arrives, take every complete request
// off the front, stop at an error (it closes) or at a request that does not
// keep the connection alive. `cuts` are the offsets where reads end.
std::vector<Frame> frames(std::string_view all, const std::vector<std::size_t>& cuts) {
  std::vector<Frame> out;
  std::string buf;
  std::size_t fed = 0;
  auto take = [&]() -> bool {  // false once the connection closes
    while (true) {
      const HttpParse p = parse_http_request(buf);
      check_one(buf, p);
      if (p.state == State::kIncomplete) return true;
      out.push_back(Frame{p.state, p.consumed, p.status, p.request.path, p.request.keep_alive});
      if (p.state == State::kError || !p.request.keep_alive) return false;
      buf.erase(0, p.consumed);
    }
  };
  for (const std::size_t cut : cuts) {
    buf.append(all.substr(fed, cut - fed));
    fed = cut;
    if (!take()) return out;
  }
  buf.append(all.substr(fed));
  if (take()) out.push_back(Frame{State::kIncomplete, buf.size(), 0, {}, false});
  return out;
}

// As frames(), the way the endpoint does it: the scan resumes where it
// stopped and the parser runs only when the scan says it may decide. Where
// the scan says "not yet", no request may be complete; an error it lets
// wait (a bad header field before the block's end) is found at the end of
// the input, as the endpoint parses when the client half-closes.
std::vector<Frame> frames_resumed(std::string_view all, const std::vector<std::size_t>& cuts) {
  std::vector<Frame> out;
  std::string buf;
  rsagent::endpoint::FrameScan scan;
  std::size_t fed = 0;
  // `eof`: the client sent all it will; the endpoint then parses anyway.
  auto take = [&](bool eof) -> bool {  // false once the connection closes
    while (true) {
      if (!scan.ready(buf) && !(eof && !buf.empty())) {
        // An error in a header field may wait for the block's end; a
        // whole request never waits.
        FUZZ_CHECK(parse_http_request(buf).state != State::kComplete,
                   "the scan waits where a request is complete");
        return true;
      }
      const HttpParse p = parse_http_request(buf);
      if (p.state == State::kIncomplete) {
        if (eof) return true;
        scan.parsed(p);
        continue;  // ready() now looks further, or says not yet
      }
      out.push_back(Frame{p.state, p.consumed, p.status, p.request.path, p.request.keep_alive});
      if (p.state == State::kError || !p.request.keep_alive) return false;
      buf.erase(0, p.consumed);
      scan.reset();
    }
  };
  for (const std::size_t cut : cuts) {
    buf.append(all.substr(fed, cut - fed));
    fed = cut;
    if (!take(false)) return out;
  }
  buf.append(all.substr(fed));
  if (take(false) && take(true)) out.push_back(Frame{State::kIncomplete, buf.size(), 0, {}, false});
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::vector<Frame> whole = frames(in, {});
  // Split points: every one for small inputs, a spread of them otherwise.
  std::vector<std::size_t> points;
  if (size <= 256) {
    for (std::size_t k = 1; k < size; ++k) points.push_back(k);
  } else {
    for (std::size_t k = 1; k < 32; ++k) points.push_back(size * k / 32);
    // Where limits bite: around the ends of lines (a CR whose LF has not
    // arrived yet) and just before the end.
    std::size_t lines = 0;
    for (std::size_t k = in.find('\n'); k != std::string_view::npos && lines < 16;
         k = in.find('\n', k + 1), ++lines) {
      if (k > 1) points.push_back(k - 1);
      if (k > 0) points.push_back(k);
      if (k + 1 < size) points.push_back(k + 1);
    }
    points.push_back(size - 1);
  }
  FUZZ_CHECK(frames_resumed(in, {}) == whole, "resumed framing differs from a whole parse");
  for (const std::size_t k : points) {
    FUZZ_CHECK(frames(in, {k}) == whole,
               "framing differs when the bytes arrive split at " + std::to_string(k));
    FUZZ_CHECK(frames_resumed(in, {k}) == whole,
               "resumed framing differs when the bytes arrive split at " + std::to_string(k));
  }
  // One byte at a time, the worst a slow client can do (bounded: quadratic).
  if (size <= 256) {
    std::vector<std::size_t> each;
    for (std::size_t k = 1; k < size; ++k) each.push_back(k);
    FUZZ_CHECK(frames(in, each) == whole, "framing differs when the bytes arrive one by one");
    FUZZ_CHECK(frames_resumed(in, each) == whole,
               "resumed framing differs when the bytes arrive one by one");
  }
  return 0;
}
