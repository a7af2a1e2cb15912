#include "rsagent/net/journal.hpp"

#include "rsagent/util/fs.hpp"

#include <nlohmann/json.hpp>

namespace rsagent::net {

namespace {

using nlohmann::json;
constexpr int kVersion = 1;

json encode_entry(const JournalEntry& e) {
  if (const auto* s = std::get_if<SysctlEntry>(&e))
    return {{"type", "sysctl"}, {"iface", s->key.iface}, {"name", s->key.name},
            {"original", s->original}, {"wrote", s->wrote}};
  if (const auto* a = std::get_if<AddressEntry>(&e))
    return {{"type", "address"}, {"address", a->spec.address.str()}, {"prefix", a->spec.prefix},
            {"label", a->spec.label}, {"created", a->created}};
  const auto& r = std::get<RouteEntry>(e);
  return {{"type", "route"}, {"dst", r.spec.dst.str()}, {"prefix", r.spec.prefix},
          {"table", r.spec.table}, {"metric", r.spec.metric}, {"created", r.created}};
}

IpAddress need_ip(const json& j, const char* key) {
  auto a = IpAddress::parse(j.at(key).get<std::string>());
  if (!a) throw std::runtime_error(std::string("bad address in \"") + key + "\"");
  return *a;
}

JournalEntry decode_entry(const json& j) {
  const auto type = j.at("type").get<std::string>();
  if (type == "sysctl")
    return SysctlEntry{SysctlKey{j.at("iface").get<std::string>(), j.at("name").get<std::string>()},
                       j.at("original").get<int>(), j.at("wrote").get<int>()};
  if (type == "address")
    return AddressEntry{AddressSpec{need_ip(j, "address"), j.at("prefix").get<int>(),
                                    j.at("label").get<std::string>()},
                        j.at("created").get<bool>()};
  if (type == "route")
    return RouteEntry{RouteSpec{need_ip(j, "dst"), j.at("prefix").get<int>(),
                                j.at("table").get<std::uint32_t>(),
                                j.at("metric").get<std::uint32_t>()},
                      j.at("created").get<bool>()};
  throw std::runtime_error("unknown entry type \"" + type + "\"");
}

}  // namespace

std::string encode_journal(const Journal& j) {
  // One entry per line: readable by an operator, diffable, still compact.
  // Built line by line: a JSON tree of every entry at once was the
  // daemon's peak memory with thousands of VIPs.
  std::string out = "{\"version\":" + std::to_string(kVersion) + ",\"entries\":[\n";
  for (std::size_t i = 0; i < j.entries.size(); ++i) {
    out += encode_entry(j.entries[i]).dump();
    out += i + 1 < j.entries.size() ? ",\n" : "\n";
  }
  return out + "]}\n";
}

Result<Journal> decode_journal(const std::string& text) {
  // nlohmann throws on malformed input; keep that inside this function.
  try {
    const json doc = json::parse(text);
    if (doc.at("version").get<int>() != kVersion)
      return make_error("unsupported journal version " + doc.at("version").dump());
    Journal j;
    for (const auto& e : doc.at("entries")) j.entries.push_back(decode_entry(e));
    return j;
  } catch (const std::exception& e) {
    return make_error(std::string("malformed journal: ") + e.what());
  }
}

Result<std::optional<Journal>> JournalStore::load() const {
  auto text = fs::read_if_exists(path_);
  if (!text) return Result<std::optional<Journal>>(text.error()).with_context("journal");
  if (!*text) return std::optional<Journal>{};
  auto j = decode_journal(**text);
  if (!j)
    return Result<std::optional<Journal>>(j.error())
        .with_context("journal " + path_ + " (inspect it; remove it only if the changes it lists are gone)");
  return std::optional<Journal>{std::move(*j)};
}

Status JournalStore::save(const Journal& j) const {
  return fs::write_atomic(path_, encode_journal(j)).with_context("journal");
}

Status JournalStore::remove() const { return fs::remove_if_exists(path_).with_context("journal"); }

}  // namespace rsagent::net
