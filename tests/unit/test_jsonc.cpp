#include "rsagent/config/jsonc.hpp"

#include <doctest/doctest.h>

using rsagent::config::JsoncDoc;
using rsagent::config::JsoncError;
using rsagent::config::parse_jsonc;
using rsagent::config::Pos;

namespace {
JsoncError must_fail(const std::string& text) {
  auto r = parse_jsonc(text);
  REQUIRE(std::holds_alternative<JsoncError>(r));
  return std::get<JsoncError>(r);
}
JsoncDoc must_parse(const std::string& text) {
  auto r = parse_jsonc(text);
  if (auto* e = std::get_if<JsoncError>(&r)) FAIL(e->pos.line << ":" << e->pos.col << " " << e->message);
  return std::get<JsoncDoc>(r);
}
}  // namespace

TEST_CASE("jsonc accepts line and block comments anywhere whitespace may be") {
  const auto doc = must_parse("// head\n{ /* a */ \"a\" /* b */ : // c\n 1 }\n// tail");
  CHECK(doc.root["a"] == 1);
}

TEST_CASE("jsonc records the line and column of keys and values") {
  const auto doc = must_parse("{\n  \"vips\": [\"x\",\n     {\"address\": \"y\"}]\n}");
  CHECK(doc.key_pos_of("/vips") == Pos{2, 3});
  CHECK(doc.pos_of("/vips/0") == Pos{2, 12});
  CHECK(doc.pos_of("/vips/1/address") == Pos{3, 18});
  CHECK(doc.key_pos_of("/vips/1/address") == Pos{3, 7});
}

TEST_CASE("jsonc columns count characters, not bytes") {
  const auto doc = must_parse("{\"é\": \"ü\", \"k\": 1}");
  CHECK(doc.pos_of("/k") == Pos{1, 17});
}

TEST_CASE("jsonc rejects trailing commas with their position") {
  auto e = must_fail("{\n  \"a\": [1, 2,]\n}");
  CHECK(e.pos == Pos{2, 14});
  CHECK(e.message.find("trailing comma") != std::string::npos);
  e = must_fail("{\"a\": 1,}");
  CHECK(e.message.find("trailing comma") != std::string::npos);
}

TEST_CASE("jsonc rejects duplicate keys naming the first occurrence") {
  auto e = must_fail("{\"a\": 1,\n \"a\": 2}");
  CHECK(e.pos == Pos{2, 2});
  CHECK(e.message.find("first at 1:2") != std::string::npos);
}

TEST_CASE("jsonc reports unterminated strings, objects and comments at their start") {
  CHECK(must_fail("{\"a\": \"abc").pos == Pos{1, 7});
  CHECK(must_fail("{\"a\": 1").message.find("unterminated object") != std::string::npos);
  CHECK(must_fail("{} /* x").message.find("unterminated /*") != std::string::npos);
  CHECK(must_fail("").message.find("empty") != std::string::npos);
}

TEST_CASE("jsonc rejects single quotes, bare words and leading zeros") {
  CHECK(must_fail("{'a': 1}").message.find("quoted key") != std::string::npos);
  CHECK(must_fail("{\"a\": 'x'}").message.find("double quotes") != std::string::npos);
  CHECK(must_fail("{\"a\": yes}").message.find("expected a value") != std::string::npos);
  CHECK(must_fail("{\"a\": 01}").message.find("leading zeros") != std::string::npos);
}

TEST_CASE("jsonc decodes escapes including surrogate pairs and rejects invalid UTF-8") {
  const auto doc = must_parse(R"({"a": "x\n\u00e9\ud83d\ude00"})");
  CHECK(doc.root["a"] == "x\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(must_fail(R"({"a": "\ud83d"})").message.find("surrogate") != std::string::npos);
  CHECK(must_fail("{\"a\": \"\xff\"}").message.find("UTF-8") != std::string::npos);
  CHECK(must_fail("{\"a\": \"\x01\"}").message.find("control character") != std::string::npos);
}

TEST_CASE("jsonc keeps integers as integers and limits nesting") {
  const auto doc = must_parse(R"({"i": -3, "f": 1.5, "big": 1e3})");
  CHECK(doc.root["i"].is_number_integer());
  CHECK(doc.root["f"].is_number_float());
  CHECK(must_fail(std::string(100, '[') + std::string(100, ']')).message.find("nesting") !=
        std::string::npos);
}

TEST_CASE("jsonc skips a UTF-8 byte order mark at the start of a file, and only there") {
  const auto doc = must_parse("\xef\xbb\xbf{\"a\": 1}");
  CHECK(doc.root["a"] == 1);
  CHECK(doc.pos_of("/a") == Pos{1, 7});  // the mark is not a column
  const auto e = must_fail("{\"a\": \xef\xbb\xbf 1}");
  CHECK(e.pos == Pos{1, 7});
  CHECK(e.message.find("byte order mark (U+FEFF)") != std::string::npos);
}

TEST_CASE("jsonc names a typographic quote whole and says to use straight quotes") {
  const auto e = must_fail("{\"vips\": [\xe2\x80\x9c" "198.51.100.1\xe2\x80\x9d]}");
  CHECK(e.pos == Pos{1, 11});
  CHECK(e.message.find("typographic quote '\xe2\x80\x9c'") != std::string::npos);
  CHECK(e.message.find("straight double quotes (\")") != std::string::npos);
  CHECK(must_fail("{\xe2\x80\x98vips\xe2\x80\x99: []}").message.find("expected a quoted key, found a typographic quote") !=
        std::string::npos);
}

TEST_CASE("jsonc shows a byte that is not UTF-8 escaped, never as it is") {
  for (const char* text : {"\xff", "{\"a\": \xff}", "{\"a\": 1}\xc3", "{\"a\": 1} \x1b[31m"}) {
    CAPTURE(text);
    const auto e = must_fail(text);
    for (const char c : e.message) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
  }
  CHECK(must_fail("\xff").message == "expected a value (object, array, string, number, true, false or null), "
                                     "found the byte \\xff; it is not UTF-8 (save the file as UTF-8)");
  CHECK(must_fail("{\"a\": 1} \x1b").message.find("control character \\x1b") != std::string::npos);
}

TEST_CASE("jsonc refuses numbers out of range at their position instead of rounding them") {
  auto e = must_fail("{\"a\":\n  1e999}");
  CHECK(e.pos == Pos{2, 3});
  CHECK(e.message == "number 1e999 is out of range (no setting takes such a number)");
  e = must_fail("{\"a\": 18446744073709551616}");
  CHECK(e.pos == Pos{1, 7});
  CHECK(e.message.find("integer 18446744073709551616 is out of range") == 0);
  CHECK(must_fail("{\"a\": -1e999}").message.find("out of range") != std::string::npos);
  CHECK(must_fail("{\"a\": 9223372036854775808}").message.find("out of range") != std::string::npos);
  const auto doc = must_parse("{\"a\": 9223372036854775807, \"b\": -9223372036854775808, \"c\": 1.5e300}");
  CHECK(doc.root["a"] == 9223372036854775807LL);
  CHECK(doc.root["c"].is_number_float());
}

TEST_CASE("jsonc refuses 100000 levels of nesting with an error, not a stack overflow") {
  for (const std::string open : {"[", "{\"a\":"}) {
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += open;
    const auto e = must_fail(deep);
    CHECK(e.message.find("nesting deeper than 64 levels") != std::string::npos);
  }
}
