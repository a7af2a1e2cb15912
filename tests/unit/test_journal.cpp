#include "rsagent/net/journal.hpp"
#include "rsagent/util/fs.hpp"

#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

using namespace rsagent;
using namespace rsagent::net;

namespace {
Journal sample() {
  Journal j;
  j.entries.emplace_back(SysctlEntry{SysctlKey{"eth0.100", "arp_ignore"}, 2, 1});
  j.entries.emplace_back(AddressEntry{AddressSpec{*IpAddress::parse("198.51.100.1"), 32, "lo:web", ""}, true});
  j.entries.emplace_back(AddressEntry{AddressSpec{*IpAddress::parse("2001:db8::1"), 128, "", ""}, false});
  j.entries.emplace_back(RouteEntry{RouteSpec{*IpAddress::parse("2001:db8::1"), 128, 254, 1024}, true});
  j.entries.emplace_back(RouteEntry{
      RouteSpec{*IpAddress::parse("198.51.100.0"), 24, kLocalTable, kLocalRouteMetric, RouteType::kLocal}, true});
  return j;
}
}  // namespace

TEST_CASE("a journal survives encoding and decoding unchanged") {
  const Journal j = sample();
  auto back = decode_journal(encode_journal(j));
  REQUIRE(back);
  CHECK(*back == j);
}

TEST_CASE("a malformed journal is an error that says so, not a crash") {
  for (const char* text : {"", "{", "{\"version\":1}", "{\"version\":2,\"entries\":[]}",
                           R"({"version":1,"entries":[{"type":"address","address":"x","prefix":32,"label":"","created":true}]})",
                           R"({"version":1,"entries":[{"type":"nope"}]})"}) {
    CAPTURE(text);
    auto r = decode_journal(text);
    REQUIRE_FALSE(r);
    CHECK_FALSE(r.error().message.empty());
  }
}

TEST_CASE("a journal with any field of the wrong shape or out of range is malformed, saying what") {
  const auto entry = [](const std::string& e) { return "{\"version\":1,\"entries\":[" + e + "]}"; };
  const std::string route = R"("type":"route","dst":"10.0.0.1","table":254,"metric":0,"created":true)";
  const std::string addr = R"("type":"address","address":"198.51.100.1","label":"lo:0","created":true)";
  const std::string sysctl = R"("type":"sysctl","iface":"all","name":"arp_ignore")";
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"version":1,"entries":{}})", "\"entries\" must be an array, found {}"},
      {R"({"version":1})", "the top level: no \"entries\""},
      {R"({"version":1,"entries":[],"x":1})", "the top level: unknown key \"x\""},
      {R"({"version":1e999,"entries":[]})", "not JSON: number overflow parsing '1e999'"},
      {"garbage", "not JSON: parse error at line 1, column 1"},
      {R"({"version":1.0,"entries":[]})", "unsupported journal version 1.0"},
      {R"({"version":18446744073709551617,"entries":[]})", "unsupported journal version"},
      {R"([])", "expected an object"},
      {entry("{" + sysctl + R"(,"original":28222222222222222222,"wrote":1})"),
       "entry 1: \"original\" must be an integer -2147483648-2147483647, found 2.822222222222222e+19"},
      {entry("{" + sysctl + R"(,"original":2147483648,"wrote":1})"), "\"original\" must be an integer"},
      {entry("{" + sysctl + R"(,"original":0,"wrote":1.5})"), "\"wrote\" must be an integer"},
      {entry("{" + route + R"(,"prefix":999})"), "entry 1: \"prefix\" must be an integer 0-32 for 10.0.0.1, found 999"},
      {entry("{" + route + R"(,"prefix":-1})"), "\"prefix\" must be an integer 0-32"},
      {entry(R"({"type":"route","dst":"2001:db8::1","prefix":129,"table":254,"metric":0,"created":true})"),
       "\"prefix\" must be an integer 0-128 for 2001:db8::1, found 129"},
      {entry(R"({"type":"route","dst":"10.0.0.1","prefix":32,"table":4294967296,"metric":0,"created":true})"),
       "\"table\" must be an integer 0-4294967295, found 4294967296"},
      {entry(R"({"type":"route","dst":"10.0.0.1","prefix":32,"table":254,"metric":18446744073709551616,"created":true})"),
       "\"metric\" must be an integer 0-4294967295"},
      {entry("{" + addr + R"(,"prefix":33})"), "\"prefix\" must be an integer 0-32 for 198.51.100.1"},
      {entry(R"({"type":"address","address":"198.51.100.1","label":"lo:0","created":1,"prefix":32})"),
       "\"created\" must be true or false, found 1"},
      {entry(R"({"type":"address","address":"198.51.100.1","label":"lo: x","created":true,"prefix":32})"),
       "\"label\" is not an address label"},
      {entry(R"({"type":"address","address":"198.51.100.1\u0000","label":"","created":true,"prefix":32})"),
       "\"address\" is not an IP address"},
      {entry(R"({"type":"sysctl","iface":"../../../kernel","name":"core_pattern","original":0,"wrote":1})"),
       "\"iface\" is not an interface name: \"../../../kernel\""},
      {entry(R"({"type":"sysctl","iface":"all","name":"../../ip_forward","original":0,"wrote":1})"),
       "\"name\" must be \"arp_ignore\", \"arp_announce\" or \"rp_filter\""},
      {entry("{" + route + R"(,"prefix":32,"extra":1})"), "entry 1: unknown key \"extra\""},
      {entry("{" + route + "}"), "entry 1: no \"prefix\""},
      {entry("[]"), "entry 1: must be an object, found []"},
      {entry(R"({"type":7})"), "entry 1: \"type\" must be a string, found 7"},
  };
  for (const auto& c : cases) {
    const std::string& text = c.first;  // not a structured binding: CAPTURE is a lambda
    const std::string& words = c.second;
    CAPTURE(text);
    auto r = decode_journal(text);
    REQUIRE_FALSE(r);
    const std::string msg = r.error().str();
    CAPTURE(msg);
    CHECK(msg.find(words) != std::string::npos);
  }
}

TEST_CASE("a journal nested 100000 deep is malformed, not a stack overflow") {
  // Found by the journal fuzz target: quoting the value in the message
  // dumped it, and nlohmann's dump recurses once per level.
  for (const std::string& deep : {std::string(100000, '[') + std::string(100000, ']'),
                                 "{\"version\":1,\"entries\":[" + std::string(50000, '[') +
                                     std::string(50000, ']') + "]}"}) {
    auto r = decode_journal(deep);
    REQUIRE_FALSE(r);
    CHECK(r.error().str() == "nested deeper than 8 levels (a journal nests 3)");
  }
  // Brackets inside strings are not nesting.
  auto r = decode_journal("{\"version\":1,\"entries\":[{\"type\":\"sysctl\",\"iface\":\"[[[[[[[[[[\","
                          "\"name\":\"arp_ignore\",\"original\":0,\"wrote\":1}]}");
  REQUIRE(r);
  CHECK(std::get<SysctlEntry>(r->entries[0]).key.iface == "[[[[[[[[[[");  // odd, but Linux allows it
}

TEST_CASE("a malformed journal file is named, kept, and its bytes are shown escaped") {
  const rsagent::test::TempDir tmp;
  const std::string dir = tmp.path.string();
  const std::string path = dir + "/journal.json";
  const std::string text = "{\"version\":1,\"entries\":[{\"type\":\"route\",\"dst\":\"10.0.0.1\",\"prefix\":999,"
                           "\"table\":254,\"metric\":0,\"created\":true}]}\n";
  REQUIRE(fs::write_atomic(path, text));
  auto r = JournalStore(path).load();
  REQUIRE_FALSE(r);
  CHECK(r.error().str().rfind("malformed journal " + path + ": entry 1: \"prefix\" must be an integer 0-32", 0) == 0);
  CHECK(**fs::read_if_exists(path) == text);
  REQUIRE(fs::write_atomic(path, "\xff\n"));
  r = JournalStore(path).load();
  REQUIRE_FALSE(r);
  CHECK(r.error().str().find("\\xff") != std::string::npos);
  CHECK(r.error().str().find('\xff') == std::string::npos);
}

TEST_CASE("the journal file is replaced atomically, private, and removed when empty") {
  const rsagent::test::TempDir tmp;
  const std::string dir = tmp.path.string();
  JournalStore js(dir + "/journal.json");
  CHECK_FALSE(*js.load());
  REQUIRE(js.save(sample()));
  struct stat st {};
  REQUIRE(stat(js.path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(access((dir + "/journal.json.tmp").c_str(), F_OK) != 0);
  CHECK(**js.load() == sample());
  REQUIRE(js.remove());
  REQUIRE(js.remove());  // already gone is fine
  CHECK_FALSE(*js.load());
}

TEST_CASE("an unreadable journal names the file and what to do") {
  const rsagent::test::TempDir tmp;
  const std::string dir = tmp.path.string();
  REQUIRE(fs::write_atomic(dir + "/journal.json", "garbage"));
  JournalStore js(dir + "/journal.json");
  auto r = js.load();
  REQUIRE_FALSE(r);
  CHECK(r.error().str().find(dir + "/journal.json") != std::string::npos);
}

TEST_CASE("error chains read outermost first and do not repeat the errno text") {
  Status s = Status(errno_error(EPERM)).with_context("add 198.51.100.1/32 dev lo").with_context("apply");
  CHECK(s.error().str() == "apply: add 198.51.100.1/32 dev lo: Operation not permitted");
  Error e = errno_error(ENETDOWN, "Nexthop device is not up");
  CHECK(e.str() == "Nexthop device is not up (Network is down)");
}

TEST_CASE("a sysctl entry keeps its interface's index across encode and decode; a bad index is malformed") {
  rsagent::net::Journal j;
  j.entries.push_back(rsagent::net::SysctlEntry{{"eth0", "arp_ignore"}, 0, 1, 7});
  j.entries.push_back(rsagent::net::SysctlEntry{{"all", "arp_ignore"}, 0, 1, 0});
  auto back = rsagent::net::decode_journal(rsagent::net::encode_journal(j));
  REQUIRE(back);
  CHECK(*back == j);
  CHECK(!rsagent::net::decode_journal(
      R"({"version":1,"entries":[{"type":"sysctl","iface":"eth0","name":"arp_ignore","original":0,"wrote":1,"ifindex":0}]})"));
  CHECK(!rsagent::net::decode_journal(
      R"({"version":1,"entries":[{"type":"sysctl","iface":"eth0","name":"arp_ignore","original":0,"wrote":1,"ifindex":1e3}]})"));
}

TEST_CASE("a local route keeps its type; a journal from before route mode reads as unicast routes") {
  auto old = decode_journal(
      R"({"version":1,"entries":[{"type":"route","dst":"198.51.100.1","prefix":32,"table":254,"metric":0,"created":true}]})");
  REQUIRE(old);
  CHECK(std::get<RouteEntry>(old->entries[0]).spec.type == RouteType::kUnicast);
  const std::string text = encode_journal(sample());
  CHECK(text.find(R"("route_type":"local")") != std::string::npos);
  auto bad = decode_journal(
      R"({"version":1,"entries":[{"type":"route","dst":"198.51.100.0","prefix":24,"table":255,"metric":0,"created":true,"route_type":"blackhole"}]})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("\"route_type\" must be \"local\" or \"unicast\"") != std::string::npos);
}
