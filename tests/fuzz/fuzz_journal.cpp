// libFuzzer target: the journal loader, from a file as `stop` reads it.
// A journal that loads must hold only values revert can act on (prefixes
// within the address family, known sysctls on valid interface names) and
// must survive encoding and loading again unchanged; one that does not load
// must say what is wrong in printable words.
#include "fuzz_support.hpp"
#include "rsagent/net/journal.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

using namespace rsagent::net;

namespace {

void check_entry(const JournalEntry& e) {
  if (const auto* s = std::get_if<SysctlEntry>(&e)) {
    FUZZ_CHECK(s->key.name == "arp_ignore" || s->key.name == "arp_announce" || s->key.name == "rp_filter",
               s->key.name);
    FUZZ_CHECK(s->ifindex >= 0, "ifindex " + std::to_string(s->ifindex));  // 0: not recorded
    FUZZ_CHECK(!s->key.iface.empty() && s->key.iface.size() <= 15 &&
                   s->key.iface.find('/') == std::string::npos && s->key.iface != "." &&
                   s->key.iface != "..",
               "sysctl on interface \"" + s->key.iface + "\"");
  } else if (const auto* a = std::get_if<AddressEntry>(&e)) {
    FUZZ_CHECK(a->spec.prefix >= 0 && a->spec.prefix <= a->spec.address.max_prefix(),
               a->spec.str());
    FUZZ_CHECK(rsagent::fuzz::is_printable(a->spec.label) && a->spec.label.size() <= 15,
               a->spec.label);
  } else if (const auto* c = std::get_if<ClampEntry>(&e)) {
    FUZZ_CHECK(c->mss >= 536 && c->mss <= 65495, std::to_string(c->mss));
  } else if (const auto* l = std::get_if<LinkEntry>(&e)) {
    FUZZ_CHECK(l->spec.kind == "ipip" || l->spec.kind == "ip6tnl", l->spec.kind);
    FUZZ_CHECK(!l->spec.name.empty() && l->spec.name.size() <= 15 &&
                   l->spec.name.find('/') == std::string::npos,
               "link \"" + l->spec.name + "\"");
  } else {
    const auto& r = std::get<RouteEntry>(e);
    FUZZ_CHECK(r.spec.prefix >= 0 && r.spec.prefix <= r.spec.dst.max_prefix(), r.spec.str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string path = rsagent::fuzz::temp_dir() + "/journal.json";
  rsagent::fuzz::write_file(path, text);
  const JournalStore store(path);
  const auto loaded = store.load();
  const auto decoded = decode_journal(text);
  FUZZ_CHECK(loaded.ok() == decoded.ok(), "load and decode_journal disagree");
  if (!decoded) {
    FUZZ_CHECK(rsagent::fuzz::is_printable(loaded.error().str()), loaded.error().str());
    FUZZ_CHECK(loaded.error().str().find(path) != std::string::npos,
               "the error does not name the file");
    return 0;
  }
  FUZZ_CHECK(loaded->has_value() && **loaded == *decoded, "load and decode_journal differ");
  for (const auto& e : decoded->entries) check_entry(e);
  const auto again = decode_journal(encode_journal(*decoded));
  FUZZ_CHECK(again.ok(), "an encoded journal does not decode: " + again.error().str());
  FUZZ_CHECK(*again == *decoded, "a journal changes through encode and decode");
  return 0;
}
