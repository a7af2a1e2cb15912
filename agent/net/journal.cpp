#include "rsagent/net/journal.hpp"

#include "rsagent/util/fs.hpp"
#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <optional>

namespace rsagent::net {

namespace {

using nlohmann::json;
constexpr int kVersion = 1;

json encode_entry(const JournalEntry& e) {
  if (const auto* s = std::get_if<SysctlEntry>(&e)) {
    json j{{"type", "sysctl"}, {"iface", s->key.iface}, {"name", s->key.name},
           {"original", s->original}, {"wrote", s->wrote}};
    if (s->ifindex > 0) j["ifindex"] = s->ifindex;  // absent for all/default, and in older journals
    return j;
  }
  if (const auto* a = std::get_if<AddressEntry>(&e)) {
    json j{{"type", "address"}, {"address", a->spec.address.str()}, {"prefix", a->spec.prefix},
           {"label", a->spec.label}, {"created", a->created}};
    if (!a->spec.dev.empty()) j["dev"] = a->spec.dev;  // absent: lo
    return j;
  }
  if (const auto* c = std::get_if<ClampEntry>(&e)) return {{"type", "clamp"}, {"mss", c->mss}};
  if (const auto* l = std::get_if<LinkEntry>(&e))
    return {{"type", "link"}, {"name", l->spec.name}, {"kind", l->spec.kind},
            {"created", l->created}, {"raised", l->raised}};
  const auto& r = std::get<RouteEntry>(e);
  json j{{"type", "route"}, {"dst", r.spec.dst.str()}, {"prefix", r.spec.prefix},
         {"table", r.spec.table}, {"metric", r.spec.metric}, {"created", r.created}};
  // Absent for a unicast route: what journals before route mode say.
  if (r.spec.type == RouteType::kLocal) j["route_type"] = "local";
  return j;
}

// A value as a message quotes it: JSON, and short.
std::string shown(const json& v) {
  const std::string d = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return d.size() > 64 ? text::cut(d, 64) + "..." : d;
}

// What an IPv4 address label can be (IPv6 addresses have none): "lo:web".
bool valid_label(const std::string& l) {
  return l.size() <= 15 && std::all_of(l.begin(), l.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// The journal is read back by `stop`, possibly after a crash, a disk error
// or a hand edit, and revert acts on what it says: every field is checked
// for its type and range here, so a bad journal is refused whole, with what
// is wrong, before anything is changed. Nothing here throws.
class EntryReader {
 public:
  EntryReader(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] bool ok() const { return error_.empty(); }

  // Exactly these keys, no other.
  void keys(std::initializer_list<const char*> known) {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      const std::string& key = it.key();
      if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) == known.end())
        fail("unknown key \"" + key + "\"");
    }
  }

  const json* field(const char* key) {
    const auto it = j_.find(key);
    if (it == j_.end()) {
      fail(std::string("no \"") + key + "\"");
      return nullptr;
    }
    return &*it;
  }

  std::string string(const char* key) {
    const json* v = field(key);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      fail(std::string("\"") + key + "\" must be a string, found " + shown(*v));
      return {};
    }
    return v->get<std::string>();
  }

  bool boolean(const char* key) {
    const json* v = field(key);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
      fail(std::string("\"") + key + "\" must be true or false, found " + shown(*v));
      return false;
    }
    return v->get<bool>();
  }

  // An integer within [lo, hi]; never a cast of a float or of a number
  // out of range (nlohmann's get<int> of 28222222222222222222 is undefined).
  std::int64_t integer(const char* key, std::int64_t lo, std::int64_t hi, const std::string& about = {}) {
    const json* v = field(key);
    if (v == nullptr) return lo;
    std::optional<std::int64_t> n;
    if (v->is_number_unsigned()) {
      if (v->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        n = static_cast<std::int64_t>(v->get<std::uint64_t>());
    } else if (v->is_number_integer()) {
      n = v->get<std::int64_t>();
    }
    if (!n || *n < lo || *n > hi) {
      fail(std::string("\"") + key + "\" must be an integer " + std::to_string(lo) + "-" +
           std::to_string(hi) + about + ", found " + shown(*v));
      return lo;
    }
    return *n;
  }

  IpAddress ip(const char* key) {
    const std::string text = string(key);
    if (!ok()) return {};
    auto a = IpAddress::parse(text);
    if (!a) fail(std::string("\"") + key + "\" is not an IP address: " + shown(text));
    return a.value_or(IpAddress{});
  }

  int prefix(const IpAddress& a) {
    if (!ok()) return 0;
    return static_cast<int>(integer("prefix", 0, a.max_prefix(), " for " + a.str()));
  }

 private:
  void fail(std::string msg) {
    if (error_.empty()) error_ = where_ + ": " + std::move(msg);
  }

  const json& j_;
  std::string where_;
  std::string error_;
};

constexpr std::int64_t kIntMin = std::numeric_limits<int>::min();
constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
constexpr std::int64_t kU32Max = std::numeric_limits<std::uint32_t>::max();

Result<JournalEntry> decode_entry(const json& j, std::size_t index) {
  const std::string where = "entry " + std::to_string(index + 1);
  if (!j.is_object()) return make_error(where + ": must be an object, found " + shown(j));
  EntryReader r(j, where);
  const std::string type = r.string("type");
  if (!r.ok()) return make_error(r.error());
  JournalEntry out;
  if (type == "sysctl") {
    r.keys({"type", "iface", "name", "original", "wrote", "ifindex"});
    SysctlEntry e;
    e.key.iface = r.string("iface");
    if (r.ok() && !valid_interface_name(e.key.iface))
      return make_error(where + ": \"iface\" is not an interface name: " + shown(e.key.iface));
    e.key.name = r.string("name");
    // The only sysctls rsagent writes; anything else would have revert
    // write some other file under /proc/sys.
    if (r.ok() && e.key.name != "arp_ignore" && e.key.name != "arp_announce" && e.key.name != "rp_filter")
      return make_error(where + ": \"name\" must be \"arp_ignore\", \"arp_announce\" or \"rp_filter\", found " +
                        shown(e.key.name));
    e.original = static_cast<int>(r.integer("original", kIntMin, kIntMax));
    e.wrote = static_cast<int>(r.integer("wrote", kIntMin, kIntMax));
    if (j.contains("ifindex")) e.ifindex = static_cast<int>(r.integer("ifindex", 1, kIntMax));
    out = e;
  } else if (type == "address") {
    r.keys({"type", "address", "prefix", "label", "created", "dev"});
    AddressEntry e;
    if (j.contains("dev")) {
      e.spec.dev = r.string("dev");
      if (r.ok() && !valid_interface_name(e.spec.dev))
        return make_error(where + ": \"dev\" is not an interface name: " + shown(e.spec.dev));
    }
    e.spec.address = r.ip("address");
    e.spec.prefix = r.prefix(e.spec.address);
    e.spec.label = r.string("label");
    if (r.ok() && !valid_label(e.spec.label))
      return make_error(where + ": \"label\" is not an address label: " + shown(e.spec.label));
    e.created = r.boolean("created");
    out = e;
  } else if (type == "route") {
    r.keys({"type", "dst", "prefix", "table", "metric", "created", "route_type"});
    RouteEntry e;
    if (j.contains("route_type")) {
      const std::string rt = r.string("route_type");
      if (r.ok() && rt != "local" && rt != "unicast")
        return make_error(where + ": \"route_type\" must be \"local\" or \"unicast\", found " + shown(rt));
      if (rt == "local") e.spec.type = RouteType::kLocal;
    }
    e.spec.dst = r.ip("dst");
    e.spec.prefix = r.prefix(e.spec.dst);
    e.spec.table = static_cast<std::uint32_t>(r.integer("table", 0, kU32Max));
    e.spec.metric = static_cast<std::uint32_t>(r.integer("metric", 0, kU32Max));
    e.created = r.boolean("created");
    out = e;
  } else if (type == "clamp") {
    r.keys({"type", "mss"});
    ClampEntry e;
    e.mss = static_cast<int>(r.integer("mss", 536, 65495));
    out = e;
  } else if (type == "link") {
    r.keys({"type", "name", "kind", "created", "raised"});
    LinkEntry e;
    e.spec.name = r.string("name");
    if (r.ok() && (!valid_interface_name(e.spec.name) || e.spec.name == "all" || e.spec.name == "default"))
      return make_error(where + ": \"name\" is not an interface name: " + shown(e.spec.name));
    e.spec.kind = r.string("kind");
    if (r.ok() && e.spec.kind != "ipip" && e.spec.kind != "ip6tnl")
      return make_error(where + ": \"kind\" must be \"ipip\" or \"ip6tnl\", found " + shown(e.spec.kind));
    e.created = r.boolean("created");
    e.raised = r.boolean("raised");
    out = e;
  } else {
    return make_error(where + ": unknown \"type\" " + shown(type) +
                      " (expected \"sysctl\", \"address\", \"route\", \"link\" or \"clamp\")");
  }
  if (!r.ok()) return make_error(r.error());
  return out;
}

// How deeply arrays and objects nest in `text` (outside strings). A journal
// nests three deep; nlohmann parses any depth, but its dump recurses, so a
// message quoting deeply nested input must be refused before it is built.
std::size_t nesting(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

constexpr std::size_t kMaxNesting = 8;

}  // namespace

std::string encode_journal(const Journal& j) {
  // One entry per line: readable by an operator, diffable, still compact.
  // Built line by line: a JSON tree of every entry at once would cost
  // memory in proportion to thousands of VIPs for a moment.
  std::string out = "{\"version\":" + std::to_string(kVersion) + ",\"entries\":[\n";
  for (std::size_t i = 0; i < j.entries.size(); ++i) {
    // `replace`: a name that is not UTF-8 (Linux allows any bytes but '/',
    // ':' and whitespace) must not make the write-ahead journal throw.
    out += encode_entry(j.entries[i]).dump(-1, ' ', false, json::error_handler_t::replace);
    out += i + 1 < j.entries.size() ? ",\n" : "\n";
  }
  return out + "]}\n";
}

Result<Journal> decode_journal(const std::string& text) {
  if (nesting(text) > kMaxNesting)
    return make_error("nested deeper than " + std::to_string(kMaxNesting) + " levels (a journal nests 3)");
  json doc;
  try {
    doc = json::parse(text);  // the one call here that throws: kept inside
  } catch (const json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, ...": the tag means nothing to an operator.
    std::string_view what = e.what();
    if (const auto tag = what.find("] "); what.rfind("[json.exception.", 0) == 0 && tag != what.npos)
      what.remove_prefix(tag + 2);
    return make_error("not JSON: " + text::printable(what));
  }
  if (!doc.is_object()) return make_error("expected an object {\"version\": 1, \"entries\": [...]}, found " + shown(doc));
  EntryReader top(doc, "the top level");
  top.keys({"version", "entries"});
  const json* version = top.field("version");
  const json* entries = top.field("entries");
  if (!top.ok()) return make_error(top.error());
  if (!version->is_number_integer() || version->get<std::int64_t>() != kVersion)
    return make_error("unsupported journal version " + shown(*version) + " (this rsagent reads version " +
                      std::to_string(kVersion) + ")");
  // {"entries": {}} is not an empty journal: iterating an object would
  // read as "nothing to revert" while the changes stay in place.
  if (!entries->is_array()) return make_error("\"entries\" must be an array, found " + shown(*entries));
  Journal j;
  j.entries.reserve(entries->size());
  for (std::size_t i = 0; i < entries->size(); ++i) {
    auto e = decode_entry((*entries)[i], i);
    if (!e) return e.error();
    j.entries.push_back(std::move(*e));
  }
  return j;
}

Result<std::optional<Journal>> JournalStore::load() const {
  auto text = fs::read_if_exists(path_);
  if (!text) return Result<std::optional<Journal>>(text.error()).with_context("journal");
  if (!*text) return std::optional<Journal>{};
  auto j = decode_journal(**text);
  if (!j) {
    // "malformed journal FILE: what is wrong": the caller changes nothing
    // and keeps the file, which is the only record of what to revert.
    Error e = j.error();
    e.message = text::printable(e.message) +
                " (nothing was changed; fix or restore the file, and remove it only once the "
                "changes it lists are gone)";
    return Result<std::optional<Journal>>(std::move(e)).with_context("malformed journal " + path_);
  }
  return std::optional<Journal>{std::move(*j)};
}

Status JournalStore::save(const Journal& j) const {
  return fs::write_atomic(path_, encode_journal(j)).with_context("journal");
}

Status JournalStore::remove() const { return fs::remove_if_exists(path_).with_context("journal"); }

}  // namespace rsagent::net
