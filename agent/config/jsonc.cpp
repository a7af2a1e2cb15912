#include "rsagent/config/jsonc.hpp"

#include "rsagent/util/text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>

namespace rsagent::config {

namespace {

constexpr int kMaxDepth = 64;

struct Fail {
  Pos pos;
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  std::variant<JsoncDoc, JsoncError> run() {
    JsoncDoc doc;
    // A UTF-8 byte order mark, as some Windows editors write one: not content.
    if (s_.substr(0, 3) == "\xef\xbb\xbf") i_ = 3;
    skip_ws();
    if (failed_) return JsoncError{fail_.pos, fail_.message};
    if (at_end()) return JsoncError{pos_, "empty file: expected a JSON object"};
    auto v = value("", 0, doc);
    if (!failed_) {
      skip_ws();
      if (!failed_ && !at_end()) error(pos_, found(" after the end of the document"));
    }
    if (failed_) return JsoncError{fail_.pos, fail_.message};
    doc.root = std::move(*v);
    return doc;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
  Pos pos_;
  bool failed_ = false;
  Fail fail_;

  [[nodiscard]] bool at_end() const { return i_ >= s_.size(); }
  [[nodiscard]] char peek() const { return at_end() ? '\0' : s_[i_]; }

  void advance() {
    if (at_end()) return;
    const auto c = static_cast<unsigned char>(s_[i_++]);
    if (c == '\n') {
      ++pos_.line;
      pos_.col = 1;
    } else if ((c & 0xc0) != 0x80) {
      // Continuation bytes do not start a character.
      ++pos_.col;
    }
  }

  void error(Pos p, std::string msg) {
    if (failed_) return;
    failed_ = true;
    fail_ = Fail{p, std::move(msg)};
  }

  // "found X": the character at the cursor as a message shows it,
  // printable and whole (never half a UTF-8 sequence), `after` it, then a
  // hint for the usual paste accidents.
  std::string found(std::string_view after = {}) const {
    std::string what;
    std::string hint;
    const auto c = static_cast<unsigned char>(peek());
    if (at_end()) {
      what = "end of file";
    } else if (c < 0x20 || c == 0x7f) {
      what = "control character " + text::printable(s_.substr(i_, 1));
    } else if (c < 0x80) {
      what = std::string("'") + static_cast<char>(c) + "'";
    } else if (const std::size_t n = utf8_len(); n == 0) {
      what = "the byte " + text::printable(s_.substr(i_, 1));
      hint = "; it is not UTF-8 (save the file as UTF-8)";
    } else {
      const std::string_view ch = s_.substr(i_, n);
      what = "'" + text::printable(ch) + "'";
      // U+201C U+201D U+201E U+2018 U+2019 U+00AB U+00BB: what word
      // processors and chat tools turn '"' into.
      for (const std::string_view q : {"\xe2\x80\x9c", "\xe2\x80\x9d", "\xe2\x80\x9e", "\xe2\x80\x98",
                                       "\xe2\x80\x99", "\xc2\xab", "\xc2\xbb"})
        if (ch == q) {
          what = "a typographic quote " + what;
          hint = "; JSON strings need straight double quotes (\")";
        }
      if (ch == "\xef\xbb\xbf") {
        what = "a byte order mark (U+FEFF)";
        hint = "; only the very start of a file may hold one";
      } else if (ch == "\xc2\xa0") {
        what = "a no-break space (U+00A0)";
        hint = "; use a plain space";
      }
    }
    return "found " + what + std::string(after) + hint;
  }

  void skip_ws() {
    while (!at_end() && !failed_) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '/') {
        while (!at_end() && peek() != '\n') advance();
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '*') {
        const Pos start = pos_;
        advance();
        advance();
        while (!at_end() && !(peek() == '*' && i_ + 1 < s_.size() && s_[i_ + 1] == '/')) advance();
        if (at_end()) {
          error(start, "unterminated /* comment");
          return;
        }
        advance();
        advance();
      } else if (c == '/') {
        error(pos_, "a lone '/': comments start with // or /*");
        return;
      } else {
        return;
      }
    }
  }

  std::optional<nlohmann::json> value(const std::string& ptr, int depth, JsoncDoc& doc) {
    if (depth > kMaxDepth) {
      error(pos_, "nesting deeper than 64 levels");
      return std::nullopt;
    }
    doc.value_pos[ptr] = pos_;
    const char c = peek();
    if (c == '{') return object(ptr, depth, doc);
    if (c == '[') return array(ptr, depth, doc);
    if (c == '"') {
      auto str = string();
      if (!str) return std::nullopt;
      return nlohmann::json(std::move(*str));
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    for (const auto& [word, val] : {std::pair<std::string_view, nlohmann::json>{"true", true},
                                    {"false", false},
                                    {"null", nullptr}}) {
      if (s_.substr(i_, word.size()) == word) {
        for (std::size_t k = 0; k < word.size(); ++k) advance();
        return val;
      }
    }
    if (c == '\'') {
      error(pos_, "strings use double quotes, not single quotes");
    } else if (c == '}' || c == ']') {
      error(pos_, "expected a value before '" + std::string(1, c) + "' (trailing comma?)");
    } else {
      error(pos_, "expected a value (object, array, string, number, true, false or null), " + found());
    }
    return std::nullopt;
  }

  std::optional<nlohmann::json> object(const std::string& ptr, int depth, JsoncDoc& doc) {
    const Pos open = pos_;
    advance();  // {
    nlohmann::json obj = nlohmann::json::object();
    skip_ws();
    if (failed_) return std::nullopt;
    if (peek() == '}') {
      advance();
      return obj;
    }
    while (true) {
      skip_ws();
      if (failed_) return std::nullopt;
      if (peek() == '}') {
        error(pos_, "trailing comma before '}'");
        return std::nullopt;
      }
      if (peek() != '"') {
        error(pos_, at_end() ? "unterminated object (opened at " + std::to_string(open.line) + ":" +
                                   std::to_string(open.col) + ")"
                             : "expected a quoted key, " + found());
        return std::nullopt;
      }
      const Pos key_at = pos_;
      auto key = string();
      if (!key) return std::nullopt;
      const std::string child = pointer_child(ptr, *key);
      if (obj.contains(*key)) {
        const Pos first = doc.key_pos[child];
        error(key_at, "duplicate key \"" + *key + "\" (first at " + std::to_string(first.line) +
                          ":" + std::to_string(first.col) + ")");
        return std::nullopt;
      }
      doc.key_pos[child] = key_at;
      skip_ws();
      if (failed_) return std::nullopt;
      if (peek() != ':') {
        error(pos_, "expected ':' after key \"" + *key + "\", " + found());
        return std::nullopt;
      }
      advance();
      skip_ws();
      if (failed_) return std::nullopt;
      auto v = value(child, depth + 1, doc);
      if (!v) return std::nullopt;
      obj[*key] = std::move(*v);
      skip_ws();
      if (failed_) return std::nullopt;
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == '}') {
        advance();
        return obj;
      }
      error(pos_, at_end() ? "unterminated object (opened at " + std::to_string(open.line) + ":" +
                                 std::to_string(open.col) + ")"
                           : "expected ',' or '}' after a member, " + found());
      return std::nullopt;
    }
  }

  std::optional<nlohmann::json> array(const std::string& ptr, int depth, JsoncDoc& doc) {
    const Pos open = pos_;
    advance();  // [
    nlohmann::json arr = nlohmann::json::array();
    skip_ws();
    if (failed_) return std::nullopt;
    if (peek() == ']') {
      advance();
      return arr;
    }
    while (true) {
      skip_ws();
      if (failed_) return std::nullopt;
      if (peek() == ']') {
        error(pos_, "trailing comma before ']'");
        return std::nullopt;
      }
      auto v = value(pointer_child(ptr, arr.size()), depth + 1, doc);
      if (!v) return std::nullopt;
      arr.push_back(std::move(*v));
      skip_ws();
      if (failed_) return std::nullopt;
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == ']') {
        advance();
        return arr;
      }
      error(pos_, at_end() ? "unterminated array (opened at " + std::to_string(open.line) + ":" +
                                 std::to_string(open.col) + ")"
                           : "expected ',' or ']' after an element, " + found());
      return std::nullopt;
    }
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::optional<std::uint32_t> hex4() {
    if (i_ + 4 > s_.size()) return std::nullopt;
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = peek();
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
      advance();
    }
    return v;
  }

  // Length of the valid UTF-8 sequence starting at i_, or 0.
  [[nodiscard]] std::size_t utf8_len() const {
    const auto b0 = static_cast<unsigned char>(s_[i_]);
    std::size_t n = 0;
    std::uint32_t min = 0;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      n = 2;
      min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      n = 3;
      min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      n = 4;
      min = 0x10000;
    } else {
      return 0;
    }
    if (i_ + n > s_.size()) return 0;
    std::uint32_t cp = b0 & (0xff >> (n + 1));
    for (std::size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s_[i_ + k]);
      if ((b & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
  }

  std::optional<std::string> string() {
    const Pos open = pos_;
    advance();  // "
    std::string out;
    while (true) {
      if (at_end() || peek() == '\n') {
        error(open, "unterminated string");
        return std::nullopt;
      }
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        advance();
        return out;
      }
      if (c < 0x20) {
        error(pos_, "control character in a string: write it as an escape (\\n, \\t, \\u00XX)");
        return std::nullopt;
      }
      if (c == '\\') {
        const Pos esc = pos_;
        advance();
        const char e = peek();
        advance();
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            auto cp = hex4();
            if (!cp) {
              error(esc, "\\u must be followed by four hex digits");
              return std::nullopt;
            }
            if (*cp >= 0xd800 && *cp <= 0xdbff) {
              std::optional<std::uint32_t> lo;
              if (peek() == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == 'u') {
                advance();
                advance();
                lo = hex4();
              }
              if (!lo || *lo < 0xdc00 || *lo > 0xdfff) {
                error(esc, "unpaired UTF-16 surrogate in \\u escape");
                return std::nullopt;
              }
              *cp = 0x10000 + ((*cp - 0xd800) << 10) + (*lo - 0xdc00);
            } else if (*cp >= 0xdc00 && *cp <= 0xdfff) {
              error(esc, "unpaired UTF-16 surrogate in \\u escape");
              return std::nullopt;
            }
            append_utf8(out, *cp);
            break;
          }
          default:
            error(esc, "unknown escape sequence in a string");
            return std::nullopt;
        }
        continue;
      }
      if (c < 0x80) {
        out += static_cast<char>(c);
        advance();
        continue;
      }
      const std::size_t n = utf8_len();
      if (n == 0) {
        error(pos_, "invalid UTF-8 in a string: the byte " + text::printable(s_.substr(i_, 1)) +
                        " (save the file as UTF-8)");
        return std::nullopt;
      }
      out.append(s_.substr(i_, n));
      for (std::size_t k = 0; k < n; ++k) advance();
    }
  }

  std::optional<nlohmann::json> number() {
    const Pos start = pos_;
    const std::size_t begin = i_;
    bool is_float = false;
    if (peek() == '-') advance();
    if (peek() == '0') {
      advance();
      if (peek() >= '0' && peek() <= '9') {
        error(start, "numbers must not have leading zeros");
        return std::nullopt;
      }
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') advance();
    } else {
      error(start, "malformed number");
      return std::nullopt;
    }
    if (peek() == '.') {
      is_float = true;
      advance();
      if (!(peek() >= '0' && peek() <= '9')) {
        error(start, "malformed number: digits must follow '.'");
        return std::nullopt;
      }
      while (peek() >= '0' && peek() <= '9') advance();
    }
    if (peek() == 'e' || peek() == 'E') {
      is_float = true;
      advance();
      if (peek() == '+' || peek() == '-') advance();
      if (!(peek() >= '0' && peek() <= '9')) {
        error(start, "malformed number: digits must follow the exponent");
        return std::nullopt;
      }
      while (peek() >= '0' && peek() <= '9') advance();
    }
    const std::string_view text = s_.substr(begin, i_ - begin);
    const std::string shown = text.size() > 40 ? std::string(text.substr(0, 40)) + "..." : std::string(text);
    if (!is_float) {
      std::int64_t v = 0;
      const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec == std::errc() && p == text.data() + text.size()) return nlohmann::json(v);
      error(start, "integer " + shown + " is out of range (no setting takes a number this large)");
      return std::nullopt;
    }
    // Fractions become doubles; callers wanting integers reject them with a
    // positioned message. from_chars, unlike strtod, ignores the locale.
    double d = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(d)) {
      error(start, "number " + shown + " is out of range (no setting takes such a number)");
      return std::nullopt;
    }
    return nlohmann::json(d);
  }
};

}  // namespace

std::variant<JsoncDoc, JsoncError> parse_jsonc(std::string_view text) {
  return Parser(text).run();
}

std::string pointer_child(const std::string& parent, std::string_view token) {
  std::string out = parent + "/";
  for (const char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string pointer_child(const std::string& parent, std::size_t index) {
  return parent + "/" + std::to_string(index);
}

Pos JsoncDoc::pos_of(const std::string& pointer) const {
  std::string p = pointer;
  while (true) {
    if (auto it = value_pos.find(p); it != value_pos.end()) return it->second;
    if (p.empty()) return Pos{};
    p.erase(p.rfind('/'));
  }
}

Pos JsoncDoc::key_pos_of(const std::string& pointer) const {
  if (auto it = key_pos.find(pointer); it != key_pos.end()) return it->second;
  return pos_of(pointer);
}

}  // namespace rsagent::config
