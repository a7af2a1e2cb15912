#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

using rsagent::text::cut;
using rsagent::text::printable;
using rsagent::text::valid_utf8;

TEST_CASE("printable escapes invalid bytes and keeps valid UTF-8") {
  CHECK(printable("\xff") == "\\xff");
  CHECK(printable("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(printable("\xe2\x80\x9c" "198.51.100.1\xe2\x80\x9d") == "\xe2\x80\x9c" "198.51.100.1\xe2\x80\x9d");
  CHECK(printable("\xef\xbb\xbf{") == "\xef\xbb\xbf{");
  CHECK(printable("a\xc3") == "a\\xc3");                 // truncated sequence
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");          // overlong '/'
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // a UTF-16 surrogate
  CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
}

TEST_CASE("printable escapes control characters, keeping newlines only when asked") {
  CHECK(printable("a\nb\tc\x7f") == "a\\x0ab\\x09c\\x7f");
  CHECK(printable("a\nb", true) == "a\nb");
  CHECK(printable("\xc2\x85") == "\\xc2\\x85");  // C1 NEL
}

TEST_CASE("whatever printable returns can be dumped as JSON") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const std::string clean = printable(all + all.substr(128) + "\xe2\x82");
  CHECK(valid_utf8(clean));
  CHECK_NOTHROW((void)nlohmann::json(clean).dump());
}

TEST_CASE("cut never splits a character") {
  const std::string e3 = "\xc3\xa9\xc3\xa9\xc3\xa9";
  CHECK(cut(e3, 3) == "\xc3\xa9");
  CHECK(cut(e3, 4) == "\xc3\xa9\xc3\xa9");
  CHECK(cut(e3, 100) == e3);
  CHECK(cut("\xe2\x82\xac", 2).empty());
}

TEST_CASE("one_line makes one printable line of several, cut at a character") {
  CHECK(rsagent::text::one_line("refusing:\n  a\n  b\t c ") == "refusing: a b c");
  CHECK(rsagent::text::one_line("ok\xff") == "ok\\xff");
  CHECK(rsagent::text::one_line("\xc3\xa9\xc3\xa9", 3) == "\xc3\xa9");
  CHECK(rsagent::text::one_line("abcdef", 3, true) == "abc...");
  CHECK(rsagent::text::one_line("abc", 3, true) == "abc");
}
