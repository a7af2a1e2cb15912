// What rsagent owns stays true through healing and a failed journal write:
// the originals a stop restores are those from before rsagent's first
// write, and the journal file never says less than the kernel holds.
#include "fake_kernel.hpp"
#include "plan_helpers.hpp"
#include "rsagent/daemon/state_keeper.hpp"
#include "rsagent/net/engine.hpp"
#include "rsagent/net/journal.hpp"
#include "rsagent/net/plan.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace rsagent;
using namespace rsagent::net;

namespace {

using test::cfg_of;
using test::observe;

const SysctlEntry* sysctl_entry(const Journal& j, const char* iface, const char* name) {
  for (const auto& e : j.entries)
    if (const auto* s = std::get_if<SysctlEntry>(&e); s && s->key == SysctlKey{iface, name}) return s;
  return nullptr;
}

bool owns_address(const Journal& j, const char* ip) {
  for (const auto& e : j.entries)
    if (const auto* a = std::get_if<AddressEntry>(&e); a && a->created && a->spec.address.str() == ip)
      return true;
  return false;
}

}  // namespace

TEST_CASE("an external sysctl write while running is healed and stop restores the first original") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const test::TempDir tmp;
  JournalStore js(tmp.file("journal.json"));
  Engine e(k, s, js);
  const auto want = desired_state(cfg_of(R"({"vips": ["198.51.100.1"]})"));
  const Plan first = make_plan(want, observe(k, s, want, {}), {});
  REQUIRE(e.apply(first, {}));
  REQUIRE(s.at("all", "arp_ignore") == 1);

  s.at("all", "arp_ignore") = 8;  // `sysctl -w net.ipv4.conf.all.arp_ignore=8` while running
  // The daemon's self-heal: a re-plan against its own journal.
  const Plan heal = make_plan(want, observe(k, s, want, first.journal), first.journal);
  REQUIRE(heal.actions.size() == 1);
  CHECK(heal.actions[0].str() == "set net.ipv4.conf.all.arp_ignore 8 -> 1");
  REQUIRE(e.apply(heal, first.journal));
  CHECK(s.at("all", "arp_ignore") == 1);
  const SysctlEntry* entry = sysctl_entry(heal.journal, "all", "arp_ignore");
  REQUIRE(entry != nullptr);
  CHECK(entry->original == 0);
  CHECK(heal.journal == first.journal);

  REQUIRE(e.revert(heal.journal));
  CHECK(s.at("all", "arp_ignore") == 0);
  CHECK(s.at("all", "arp_announce") == 0);
  CHECK_FALSE(k.has_address("198.51.100.1"));
}

TEST_CASE("a failed journal write after applying keeps every change and the write-ahead record on disk") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const test::TempDir tmp;
  const std::string path = tmp.file("journal.json");
  JournalStore js(path);
  Engine e(k, s, js);
  const auto want1 = desired_state(cfg_of(R"({"vips": ["198.51.100.1"]})"));
  REQUIRE(e.apply(make_plan(want1, observe(k, s, want1, {}), {}), {}));
  const Journal prior = **js.load();

  // A reload that adds two VIPs and drops one, so a final write follows
  // the changes; between the write-ahead record and the changes the
  // atomic write's temp path becomes unwritable, as a full /run would be.
  const auto want2 = desired_state(cfg_of(R"({"vips": ["198.51.100.2", "198.51.100.3"]})"));
  const Plan p = make_plan(want2, observe(k, s, want2, prior), prior);
  REQUIRE(p.errors.empty());
  REQUIRE_FALSE(p.journal == p.intent);
  k.before_execute = [&] { std::filesystem::create_directory(path + ".tmp"); };
  const auto r = e.apply(p, prior);
  k.before_execute = nullptr;
  REQUIRE(r);
  REQUIRE(r->unsaved.has_value());
  CHECK(r->changed == 6);  // two addresses and two routes in, one of each out
  CHECK(k.has_address("198.51.100.2"));
  CHECK(k.has_address("198.51.100.3"));
  CHECK_FALSE(k.has_address("198.51.100.1"));
  // On disk: the intent, which owns the new VIPs (and the one that left).
  const Journal on_disk = **js.load();
  CHECK(on_disk == p.intent);
  CHECK(owns_address(on_disk, "198.51.100.2"));
  CHECK(owns_address(on_disk, "198.51.100.3"));

  // The daemon's StateKeeper owes the file the true journal: it fails while
  // the disk is full, leaving the intent, and writes it once it can.
  std::filesystem::create_directories(tmp.file("persistent"));
  daemon::StateKeeper keeper(daemon::Paths{tmp.path.string(), tmp.file("persistent")});
  auto lock = daemon::InstanceLock::try_acquire(tmp.file("rsagent.lock"));
  REQUIRE(lock);
  keeper.journal_owed(r->unsaved->str());
  auto first = keeper.check(p.journal, ::getpid(), *lock);
  CHECK(first.failed.size() == 1);
  CHECK(**js.load() == p.intent);
  std::filesystem::remove(path + ".tmp");
  auto second = keeper.check(p.journal, ::getpid(), *lock);
  CHECK(second.failed.empty());
  CHECK(second.repaired.size() == 1);
  CHECK(**js.load() == p.journal);

  // A stop from that file alone removes everything rsagent added.
  REQUIRE(e.revert(p.journal));
  CHECK_FALSE(k.has_address("198.51.100.2"));
  CHECK_FALSE(k.has_address("198.51.100.3"));
  CHECK(s.at("all", "arp_ignore") == 0);
}

TEST_CASE("a stop from the write-ahead record left by a failed final write removes everything") {
  test::FakeKernel k;
  test::FakeSysctls s;
  const test::TempDir tmp;
  const std::string path = tmp.file("journal.json");
  JournalStore js(path);
  Engine e(k, s, js);
  const auto want1 = desired_state(cfg_of(R"({"vips": ["198.51.100.1"]})"));
  REQUIRE(e.apply(make_plan(want1, observe(k, s, want1, {}), {}), {}));
  const Journal prior = **js.load();
  const auto want2 = desired_state(cfg_of(R"({"vips": ["198.51.100.2"]})"));
  const Plan p = make_plan(want2, observe(k, s, want2, prior), prior);
  k.before_execute = [&] { std::filesystem::create_directory(path + ".tmp"); };
  const auto r = e.apply(p, prior);
  k.before_execute = nullptr;
  REQUIRE(r);
  REQUIRE(r->unsaved.has_value());
  std::filesystem::remove(path + ".tmp");
  // The daemon dies here: `rsagent stop` has only the file.
  REQUIRE(e.revert(**js.load()));
  CHECK_FALSE(k.has_address("198.51.100.1"));
  CHECK_FALSE(k.has_address("198.51.100.2"));
  CHECK_FALSE(k.has_route("198.51.100.2"));
  CHECK(s.at("all", "arp_ignore") == 0);
  CHECK_FALSE(std::filesystem::exists(path));
}
