#include "rsagent/net/journal.hpp"
#include "rsagent/util/fs.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

using namespace rsagent;
using namespace rsagent::net;

namespace {
Journal sample() {
  Journal j;
  j.entries.emplace_back(SysctlEntry{SysctlKey{"eth0.100", "arp_ignore"}, 2, 1});
  j.entries.emplace_back(AddressEntry{AddressSpec{*IpAddress::parse("198.51.100.1"), 32, "lo:web"}, true});
  j.entries.emplace_back(AddressEntry{AddressSpec{*IpAddress::parse("2001:db8::1"), 128, ""}, false});
  j.entries.emplace_back(RouteEntry{RouteSpec{*IpAddress::parse("2001:db8::1"), 128, 254, 1024}, true});
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

TEST_CASE("the journal file is replaced atomically, private, and removed when empty") {
  char tmpl[] = "/tmp/rsagent-journal-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
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
  rmdir(dir.c_str());
}

TEST_CASE("an unreadable journal names the file and what to do") {
  char tmpl[] = "/tmp/rsagent-journal-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  REQUIRE(fs::write_atomic(dir + "/journal.json", "garbage"));
  JournalStore js(dir + "/journal.json");
  auto r = js.load();
  REQUIRE_FALSE(r);
  CHECK(r.error().str().find(dir + "/journal.json") != std::string::npos);
  unlink((dir + "/journal.json").c_str());
  rmdir(dir.c_str());
}

TEST_CASE("error chains read outermost first and do not repeat the errno text") {
  Status s = Status(errno_error(EPERM)).with_context("add 198.51.100.1/32 dev lo").with_context("apply");
  CHECK(s.error().str() == "apply: add 198.51.100.1/32 dev lo: Operation not permitted");
  Error e = errno_error(ENETDOWN, "Nexthop device is not up");
  CHECK(e.str() == "Nexthop device is not up (Network is down)");
}
