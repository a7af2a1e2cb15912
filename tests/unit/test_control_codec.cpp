// The control socket's lines: whatever a peer or an operator sends, the
// decoder answers with a request or an error, and every reply dumps.
#include "rsagent/daemon/control_codec.hpp"
#include "rsagent/util/text.hpp"

#include <doctest/doctest.h>

using namespace rsagent;
using namespace rsagent::daemon;

namespace {
std::string line_of(const std::string& encoded) {
  REQUIRE(!encoded.empty());
  REQUIRE(encoded.back() == '\n');
  REQUIRE(encoded.find('\n') == encoded.size() - 1);
  return encoded.substr(0, encoded.size() - 1);
}
}  // namespace

TEST_CASE("a request survives encoding and decoding") {
  const ControlRequest req{"stop", "", true};
  auto back = decode_control_request(line_of(encode_control_request(req)));
  REQUIRE(back);
  CHECK(*back == req);
  back = decode_control_request(R"({"cmd":"ping"})");
  REQUIRE(back);
  CHECK(*back == ControlRequest{"ping", "", false});
}

TEST_CASE("a malformed request line is an error saying what is wrong, never a throw") {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "not a JSON object"},
      {"\xff", "not a JSON object"},
      {std::string(100000, '['), "longer than 4096 bytes"},
      {std::string(4000, '[') + std::string(4000, ']'), "longer than 4096 bytes"},
      {std::string(2000, '[') + std::string(2000, ']'), "expected a JSON object, found an array"},
      {R"({"cmd":1e999})", "not a JSON object"},
      {R"({"cmd":7})", "\"cmd\" must be a string, found a number"},
      {R"({"cmd":"drain\n"})", "not a command word"},
      {R"({"reason":"x"})", "no \"cmd\""},
      {R"({"cmd":"drain","reason":["x"]})", "\"reason\" must be a string, found an array"},
      {R"({"cmd":"stop","now":"yes"})", "\"now\" must be true or false"},
      {R"({"cmd":"drain","reason":"\ud800"})", "not a JSON object"},
  };
  for (const auto& c : cases) {
    const std::string& line = c.first;  // not a structured binding: CAPTURE is a lambda
    const std::string& words = c.second;
    CAPTURE(line.substr(0, 80));
    const auto r = decode_control_request(line);
    REQUIRE_FALSE(r);
    CHECK(r.error().str().find(words) != std::string::npos);
  }
}

TEST_CASE("a reason is cleaned where it enters: bytes escaped, cut at a character boundary") {
  auto r = decode_control_request("{\"cmd\":\"drain\",\"reason\":\"disk \\u001b[2J full\"}");
  REQUIRE(r);
  CHECK(r->reason == "disk \\x1b[2J full");
  // 3000 times "é" (6000 bytes): the CLI's request fits a line and the cut
  // keeps whole characters.
  std::string e3000;
  for (int i = 0; i < 3000; ++i) e3000 += "\xc3\xa9";
  const std::string sent = encode_control_request({"drain", e3000, false});
  CHECK(sent.size() < kMaxRequestLine);
  r = decode_control_request(line_of(sent));
  REQUIRE(r);
  CHECK(r->reason.size() == kMaxReasonBytes);
  CHECK(text::valid_utf8(r->reason));
  // A lone \xff, as `rsagent drain --reason $'\xff'` passes it.
  const std::string ff = encode_control_request({"drain", "\xff", false});
  r = decode_control_request(line_of(ff));
  REQUIRE(r);
  CHECK(r->reason == "\\xff");
  // A daemon cuts an over-long reason from an older CLI the same way.
  r = decode_control_request("{\"cmd\":\"maint\",\"reason\":\"" + std::string(255, 'a') +
                             "\xc3\xa9\"}");
  REQUIRE(r);
  CHECK(r->reason == std::string(255, 'a'));
}

TEST_CASE("any reply message dumps: invalid bytes escaped, newlines kept") {
  const ControlReply reply{false, "a.json:1:1: found '\xff'\n1 configuration error(s)\x1b", 6, 42};
  const std::string line = line_of(encode_control_reply(reply));
  const auto back = decode_control_reply(line);
  REQUIRE(back);
  CHECK_FALSE(back->ok);
  CHECK(back->code == 6);
  CHECK(back->boot == 42);
  CHECK(back->message == "a.json:1:1: found '\\xff'\n1 configuration error(s)\\x1b");
}

TEST_CASE("a malformed reply is an error for the CLI, never a throw") {
  for (const char* line :
       {"", "\xff", "[]", R"({"ok":1,"message":"x"})", R"({"ok":true})",
        R"({"ok":true,"message":"x","code":256})", R"({"ok":true,"message":"x","boot":-1})"}) {
    CAPTURE(line);
    CHECK_FALSE(decode_control_reply(line));
  }
}
