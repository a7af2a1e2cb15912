#include "rsagent/util/text.hpp"

#include <cstdint>
#include <ctime>

namespace rsagent::text {

namespace {

// The length of the valid UTF-8 sequence at in[i], or 0 when the bytes there
// are not one (RFC 3629, table 3-7 of the Unicode standard).
std::size_t sequence_at(std::string_view in, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(in[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > in.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(k) < 0x80 || b(k) > 0xbf) return 0;
  return n;
}

void escape_byte(std::string& out, unsigned char c) {
  const char* hex = "0123456789abcdef";
  out += "\\x";
  out += hex[c >> 4];
  out += hex[c & 0xf];
}

}  // namespace

std::string printable(std::string_view in, bool keep_newlines) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size();) {
    const std::size_t n = sequence_at(in, i);
    const auto c = static_cast<unsigned char>(in[i]);
    if (n == 0) {
      escape_byte(out, c);
      ++i;
      continue;
    }
    if (n == 1) {
      if ((c < 0x20 && !(keep_newlines && c == '\n')) || c == 0x7f) {
        escape_byte(out, c);
      } else {
        out += static_cast<char>(c);
      }
    } else if (n == 2 && c == 0xc2 && static_cast<unsigned char>(in[i + 1]) < 0xa0) {
      // C1 controls (U+0080..U+009F): a terminal may act on them.
      escape_byte(out, c);
      escape_byte(out, static_cast<unsigned char>(in[i + 1]));
    } else {
      out.append(in.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string cut(std::string_view in, std::size_t max_bytes) {
  if (in.size() <= max_bytes) return std::string(in);
  std::size_t end = max_bytes;
  // Back up over continuation bytes to the start of the cut character.
  while (end > 0 && (static_cast<unsigned char>(in[end]) & 0xc0) == 0x80) --end;
  return std::string(in.substr(0, end));
}

bool valid_utf8(std::string_view in) {
  for (std::size_t i = 0; i < in.size();) {
    const std::size_t n = sequence_at(in, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string one_line(std::string_view in, std::size_t max_bytes, bool ellipsis) {
  std::string flat;
  flat.reserve(in.size());
  for (char c : in) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && (flat.empty() || flat.back() == ' ')) continue;
    flat += c;
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  flat = printable(flat);
  if (flat.size() <= max_bytes) return flat;
  return cut(flat, max_bytes) + (ellipsis ? "..." : "");
}

std::string utc_time(std::int64_t unix_seconds) {
  if (unix_seconds <= 0) return "?";
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32] = {};
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace rsagent::text
