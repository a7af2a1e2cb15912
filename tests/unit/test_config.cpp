#include "rsagent/config/config.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

using namespace rsagent::config;

namespace {

LoadResult one(const std::string& text) { return parse_sources({Source{"rsagent.json", text}}); }

// "FILE:LINE:COL: message" lines, for asserting on position and wording together.
std::vector<std::string> lines(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.errors) out.push_back(d.str());
  return out;
}

bool has_error(const LoadResult& r, const std::string& prefix, const std::string& words) {
  for (const auto& l : lines(r))
    if (l.rfind(prefix, 0) == 0 && l.find(words) != std::string::npos) return true;
  return false;
}

using rsagent::test::TempDir;

}  // namespace

TEST_CASE("the configuration from the issue is accepted as is") {
  const auto r = one(R"({
  // VIPs this node serves in direct-routing mode
  "vips": ["198.51.100.100", {"address": "2001:db8::100"}, {"address": "198.51.100.101", "label": "lo:web"}],
  "arp": {"ignore": 1, "announce": 2, "interfaces": ["all", "lo"]},
  "routes": true
})");
  REQUIRE_MESSAGE(r.config, (r.errors.empty() ? "" : r.errors[0].str()));
  const auto& c = *r.config;
  REQUIRE(c.vips.size() == 3);
  CHECK(c.vips[0].address.str() == "198.51.100.100");
  CHECK(c.vips[0].label == "lo:0");
  CHECK(c.vips[1].address.str() == "2001:db8::100");
  CHECK(c.vips[1].label.empty());
  CHECK(c.vips[2].label == "lo:web");
  CHECK(c.arp == Arp{1, 2, {"all", "lo"}});
  CHECK(c.routes);
}

TEST_CASE("defaults: arp 1/2 on all and lo, routes on, lo:0 labels") {
  const auto r = one(R"({"vips": ["198.51.100.7"]})");
  REQUIRE(r.config);
  CHECK(r.config->arp == Arp{1, 2, {"all", "lo"}});
  CHECK(r.config->routes);
  CHECK(r.config->vips[0].label == "lo:0");
  CHECK(one("{}").config->vips.empty());
}

TEST_CASE("every error is reported at once with file, line and column") {
  const auto r = one(R"({
  "vips": ["198.51.100.300", "224.0.0.1", {"address": "2001:db8::1", "label": "lo:6"}],
  "arp": {"ignore": 9, "announce": 3, "interfaces": ["eth/0"]},
  "route": true
})");
  CHECK_FALSE(r.config);
  CHECK(r.errors.size() == 7);
  CHECK(has_error(r, "rsagent.json:2:12:", "not an IPv4 or IPv6 address"));
  CHECK(has_error(r, "rsagent.json:2:30:", "multicast"));
  CHECK(has_error(r, "rsagent.json:2:79:", "label on IPv6 VIP"));
  CHECK(has_error(r, "rsagent.json:3:21:", "arp.ignore must be an integer 0-8"));
  CHECK(has_error(r, "rsagent.json:3:36:", "arp.announce must be an integer 0-2"));
  CHECK(has_error(r, "rsagent.json:3:54:", "not a valid interface name"));
  CHECK(has_error(r, "rsagent.json:4:3:", "did you mean \"routes\""));
}

TEST_CASE("VIPs that cannot be VIPs are refused with the reason") {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"0.0.0.0", "unspecified"},           {"127.0.0.2", "loopback"},
      {"169.254.1.1", "link-local"},        {"239.1.1.1", "multicast"},
      {"255.255.255.255", "broadcast"},     {"198.51.100.0/24", "is a network"},
      {"::", "unspecified"},                {"::1", "loopback"},
      {"fe80::1", "link-local"},            {"ff02::1", "multicast"},
      {"::ffff:198.51.100.1", "IPv4-mapped"}, {"example.com", "not an IPv4"},
      {"198.51.100.1/x", "bad prefix"},
  };
  for (const auto& c : cases) {
    const std::string& addr = c.first;
    const std::string& why = c.second;
    CAPTURE(addr);
    const auto r = one("{\"vips\": [\"" + addr + "\"]}");
    CHECK_FALSE(r.config);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].message.find(why) != std::string::npos);
    CHECK(r.errors[0].pos == Pos{1, 11});
  }
  CHECK(one(R"({"vips": ["198.51.100.1/32", "2001:db8::5/128"]})").config);
}

TEST_CASE("labels must start with lo:, fit in 15 bytes and be IPv4 only") {
  CHECK(one(R"({"vips": [{"address": "198.51.100.1", "label": "eth0:1"}]})").errors.size() == 1);
  CHECK(one(R"({"vips": [{"address": "198.51.100.1", "label": "lo:"}]})").errors.size() == 1);
  const auto r = one(R"({"vips": [{"address": "198.51.100.1", "label": "lo:abcdefghijklm"}]})");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].message.find("at most 15") != std::string::npos);
  CHECK(one(R"({"vips": [{"address": "198.51.100.1", "label": "lo:abcdefghijkl"}]})").config);
}

TEST_CASE("duplicate VIPs are refused, also when written differently") {
  const auto r = one(R"({"vips": ["2001:db8::100", "2001:DB8:0::100"]})");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str().rfind("rsagent.json:1:28: duplicate VIP 2001:db8::100", 0) == 0);
  CHECK(r.errors[0].message.find("rsagent.json:1:11") != std::string::npos);
}

TEST_CASE("unknown keys at every level get a did-you-mean hint or the known keys") {
  auto r = one(R"({"vips": [{"adress": "198.51.100.1"}]})");
  CHECK(has_error(r, "rsagent.json:1:12:", "did you mean \"address\""));
  r = one(R"({"arp": {"ignroe": 1}})");
  CHECK(has_error(r, "rsagent.json:1:10:", "did you mean \"ignore\""));
  r = one(R"({"zzzzzzzz": 1})");
  CHECK(has_error(r, "rsagent.json:1:2:", "known keys"));
}

TEST_CASE("wrong types name what was expected and what was found") {
  CHECK(has_error(one(R"({"routes": "yes"})"), "rsagent.json:1:12:", "true or false"));
  CHECK(has_error(one(R"({"vips": "198.51.100.1"})"), "rsagent.json:1:10:", "must be an array"));
  CHECK(has_error(one(R"({"arp": {"ignore": 1.5}})"), "rsagent.json:1:20:", "found 1.5"));
  CHECK(has_error(one(R"({"arp": {"ignore": "1"}})"), "rsagent.json:1:20:", "found a string"));
  CHECK(has_error(one("[]"), "rsagent.json:1:1:", "must be a JSON object"));
}

TEST_CASE("ARP values that would let the server answer for the VIPs are refused where they are written") {
  CHECK(has_error(one(R"({"arp": {"ignore": 0}})"), "rsagent.json:1:20:", "use 1 (what DR needs), 2 or 8"));
  CHECK(has_error(one(R"({"arp": {"ignore": 3}})"), "rsagent.json:1:20:", "steal the director's traffic"));
  CHECK(has_error(one(R"({"arp": {"announce": 1}})"), "rsagent.json:1:22:", "use 2"));
  for (const int ok_value : {1, 2, 8})
    CHECK(one("{\"arp\": {\"ignore\": " + std::to_string(ok_value) + "}}").errors.empty());
}

TEST_CASE("interface names with dots are valid; slashes, colons and long names are not") {
  CHECK(rsagent::valid_interface_name("eth0.100"));
  CHECK(rsagent::valid_interface_name("all"));
  CHECK_FALSE(rsagent::valid_interface_name("eth0:1"));
  CHECK_FALSE(rsagent::valid_interface_name("a/b"));
  CHECK_FALSE(rsagent::valid_interface_name("0123456789abcdef"));
  CHECK_FALSE(rsagent::valid_interface_name(".."));
  CHECK(one(R"({"arp": {"interfaces": ["all", "eth0.100"]}})").config);
}

TEST_CASE("conf.d files merge in lexical order: vips concatenate, later keys win") {
  TempDir d;
  d.write("rsagent.json", R"({"vips": ["198.51.100.1"], "routes": true})");
  d.write("conf.d/20-b.json", R"({"vips": ["198.51.100.3"], "routes": false})");
  d.write("conf.d/10-a.json", R"({"vips": ["198.51.100.2"], "arp": {"ignore": 2}})");
  d.write("conf.d/.hidden.json", R"({"vips": ["not even an address"]})");
  d.write("conf.d/notes.txt", "ignored");
  const auto r = load((d.path / "rsagent.json").string());
  REQUIRE_MESSAGE(r.config, (r.errors.empty() ? "" : r.errors[0].str()));
  REQUIRE(r.config->vips.size() == 3);
  CHECK(r.config->vips[1].address.str() == "198.51.100.2");
  CHECK(r.config->vips[2].address.str() == "198.51.100.3");
  CHECK_FALSE(r.config->routes);
  CHECK(r.config->arp.ignore == 2);
  CHECK(r.config->files.size() == 3);
}

TEST_CASE("a VIP duplicated across files names both files") {
  TempDir d;
  d.write("rsagent.json", R"({"vips": ["198.51.100.1"]})");
  d.write("conf.d/a.json", "{\n  \"vips\": [\"198.51.100.1\"]\n}");
  const auto r = load((d.path / "rsagent.json").string());
  REQUIRE(r.errors.size() == 1);
  const std::string s = r.errors[0].str();
  CHECK(s.find((d.path / "conf.d/a.json").string() + ":2:12: duplicate VIP") == 0);
  CHECK(s.find((d.path / "rsagent.json").string() + ":1:11") != std::string::npos);
}

TEST_CASE("errors in several files are all reported") {
  TempDir d;
  d.write("rsagent.json", R"({"vips": ["bad"]})");
  d.write("conf.d/a.json", R"({"vips": [1,]})");
  const auto r = load((d.path / "rsagent.json").string());
  CHECK(r.errors.size() == 2);
}

TEST_CASE("a missing main file is an error naming the path") {
  const auto r = load("/nonexistent/rsagent.json");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str().find("/nonexistent/rsagent.json:1:1: cannot read") == 0);
}

TEST_CASE("stop.drain must leave the revert time before systemd's stop timeout") {
  CHECK(one(R"({"stop": {"drain": "14m"}})").config.has_value());
  const auto r = one(R"({"stop": {"drain": "15m"}})");
  CHECK(!r.config);
  CHECK(has_error(r, "rsagent.json:1:20:", "stop.drain is longer than the service allows"));
  CHECK(has_error(r, "rsagent.json:1:20:", "use at most \"14m\""));
}

TEST_CASE("health.tcp_gate: listen addresses, and a port shared with another listener is refused") {
  auto r = one(R"({"health": {"tcp_gate": {"listen": ["0.0.0.0:9797", "[::]:9797"]}}})");
  REQUIRE(r.config);
  CHECK(r.config->health.tcp_gate.size() == 2);
  CHECK(one(R"({"health": {"tcp_gate": {"listen": "127.0.0.1:9797"}}})").config->health.tcp_gate.size() == 1);
  r = one(R"({"health": {"tcp_gate": {"listen": ["0.0.0.0:9799"]}}})");
  CHECK(!r.config);
  CHECK(has_error(r, "rsagent.json:", "tcp_gate.listen 0.0.0.0:9799 collides with health.listen 0.0.0.0:9799"));
  CHECK(!one(R"({"health": {"tcp_gate": {}}})").config);
  CHECK(!one(R"({"health": {"tcp_gate": {"listen": [], "x": 1}}})").config);
}

TEST_CASE("a stray byte in a config file is an error that shows it escaped, with its position") {
  // What a paste from a chat tool, a Windows editor or a Latin-1 terminal leaves.
  const std::vector<std::tuple<std::string, std::string, std::string>> cases{
      {"{\"vips\": [\xe2\x80\x9c" "198.51.100.1\xe2\x80\x9d]}", "rsagent.json:1:11:",
       "found a typographic quote '\xe2\x80\x9c'; JSON strings need straight double quotes"},
      {"\xff", "rsagent.json:1:1:", "found the byte \\xff; it is not UTF-8"},
      {"{\"vips\": [\"198.51.100.1\xff\"]}", "rsagent.json:1:24:", "invalid UTF-8 in a string: the byte \\xff"},
      {"{\"vips\": [\"\\u001b[31m198.51.100.1\"]}", "rsagent.json:1:11:", "\"\\x1b[31m198.51.100.1\" is not an IPv4"},
      {"{\"vi\\u0085ps\": []}", "rsagent.json:1:2:", "unknown key \"vi\\xc2\\x85ps\""},
  };
  for (const auto& c : cases) {
    // Named copies: clang 14 cannot capture structured bindings (CAPTURE is a lambda).
    const std::string& text = std::get<0>(c);
    const std::string& where = std::get<1>(c);
    const std::string& words = std::get<2>(c);
    CAPTURE(text);
    const auto r = one(text);
    REQUIRE_FALSE(r.config);
    CHECK(has_error(r, where, words));
    for (const auto& d : r.errors)
      for (const char c : d.str()) CHECK(static_cast<unsigned char>(c) >= 0x20);
  }
}

TEST_CASE("a UTF-8 byte order mark at the start of a config file is skipped") {
  const auto r = one("\xef\xbb\xbf{\"vips\": [\"198.51.100.1\"]}");
  REQUIRE_MESSAGE(r.config, (r.errors.empty() ? "" : r.errors[0].str()));
  CHECK(r.config->vips[0].address.str() == "198.51.100.1");
}

TEST_CASE("numbers out of range and deep nesting are config errors with FILE:LINE:COL") {
  CHECK(has_error(one("{\"arp\": {\"ignore\": 1e999}}"), "rsagent.json:1:20:", "number 1e999 is out of range"));
  CHECK(has_error(one("{\"arp\": {\"announce\": 18446744073709551616}}"), "rsagent.json:1:22:",
                  "integer 18446744073709551616 is out of range"));
  CHECK(has_error(one("{\"health\": {\"checks\": [{\"name\": \"a\", \"type\": \"tcp\", \"address\": "
                      "\"127.0.0.1:1\", \"rise\": 4294967297}]}}"),
                  "rsagent.json:", "rise must be an integer 1-100, found 4294967297"));
  CHECK(has_error(one(std::string(100000, '[')), "rsagent.json:1:66:", "nesting deeper than 64 levels"));
}

TEST_CASE("an address with a NUL in it is not the address before the NUL") {
  CHECK(has_error(one(R"({"vips": ["198.51.100.1\u0000junk"]})"), "rsagent.json:1:11:", "is not an IPv4 or IPv6 address"));
}
