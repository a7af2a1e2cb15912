#include "rsagent/fleet/etcd.hpp"

#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>

namespace rsagent::fleet {

namespace {

using nlohmann::json;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The gateway writes int64 fields as JSON strings ("7587899370433822725")
// and leaves out fields that are zero.
std::int64_t int64_field(const json& o, const char* name) {
  if (!o.is_object() || !o.contains(name)) return 0;
  const json& v = o[name];
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (!v.is_string()) return 0;
  const std::string s = v.get<std::string>();
  std::int64_t out = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() ? out : 0;
}

std::string str_field(const json& o, const char* name) {
  if (!o.is_object() || !o.contains(name) || !o[name].is_string()) return {};
  return o[name].get<std::string>();
}

}  // namespace

std::string base64_encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8) |
                   std::uint8_t(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    const auto n = std::uint32_t(std::uint8_t(in[i])) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(const std::string& in) {
  if (in.size() % 4 != 0) return make_error("base64 text of " + std::to_string(in.size()) + " characters");
  std::array<int, 256> rev{};
  rev.fill(-1);
  for (std::size_t k = 0; k < kAlphabet.size(); ++k) rev[std::uint8_t(kAlphabet[k])] = int(k);
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char ch = in[i + k];
      if (ch == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return make_error("base64: data after '='");
      v[k] = rev[std::uint8_t(ch)];
      if (v[k] < 0) return make_error("base64: not a base64 character");
    }
    const std::uint32_t n = (std::uint32_t(v[0]) << 18) | (std::uint32_t(v[1]) << 12) |
                            (std::uint32_t(v[2]) << 6) | std::uint32_t(v[3]);
    out += char((n >> 16) & 0xff);
    if (pad < 2) out += char((n >> 8) & 0xff);
    if (pad < 1) out += char(n & 0xff);
  }
  return out;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (std::uint8_t(end.back()) < 0xff) {
      end.back() = char(std::uint8_t(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Result<std::string> EtcdClient::call(const std::string& path, const std::string& body) {
  auto r = t_.post(path, body, deadline_);
  if (!r) {
    Error e = r.error();
    e.context.insert(e.context.begin(), "etcd " + path);
    return e;
  }
  if (r->status != 200) {
    // The gateway's error body: {"error": "...", "code": N, "message": "..."}.
    std::string why = "HTTP " + std::to_string(r->status);
    // Only the JSON object: a client may hand gRPC's trailer text after it.
    const auto open = r->body.find('{');
    const auto close = r->body.rfind('}');
    const json j = open == std::string::npos || close == std::string::npos || close < open
                       ? json()
                       : json::parse(r->body.substr(open, close - open + 1), nullptr, false);
    const std::string m = str_field(j, "message").empty() ? str_field(j, "error") : str_field(j, "message");
    if (!m.empty()) why += ": " + text::one_line(m, 200);
    return make_error("etcd " + t_.where() + path + ": " + why);
  }
  return std::move(r->body);
}

namespace {
Result<json> parse_reply(const std::string& body, const std::string& what) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error("etcd " + what + ": the answer is not a JSON object");
  return j;
}
}  // namespace

Result<std::int64_t> EtcdClient::grant(std::chrono::seconds ttl) {
  auto b = call("/v3/lease/grant", json{{"TTL", std::to_string(ttl.count())}}.dump());
  if (!b) return b.error();
  auto j = parse_reply(*b, "lease grant");
  if (!j) return j.error();
  if (!str_field(*j, "error").empty())
    return make_error("etcd lease grant: " + text::one_line(str_field(*j, "error"), 200));
  const std::int64_t id = int64_field(*j, "ID");
  if (id == 0) return make_error("etcd lease grant: the answer has no lease ID");
  return id;
}

Result<std::int64_t> EtcdClient::keepalive(std::int64_t lease) {
  // A stream in gRPC; the gateway answers one request body with one
  // {"result": {...}} and ends. TTL missing (0): the lease is gone.
  auto b = call("/v3/lease/keepalive", json{{"ID", std::to_string(lease)}}.dump());
  if (!b) return b.error();
  // The body may hold more than one JSON object, one per line; the first is ours.
  const std::string first = b->substr(0, b->find('\n'));
  auto j = parse_reply(first, "lease keepalive");
  if (!j) return j.error();
  if (j->contains("error")) {
    const json& e = (*j)["error"];
    return make_error("etcd lease keepalive: " +
                      text::one_line(e.is_object() ? str_field(e, "message") : e.dump(), 200));
  }
  if (!j->contains("result") || !(*j)["result"].is_object())
    return make_error("etcd lease keepalive: the answer has no result");
  return int64_field((*j)["result"], "TTL");
}

Result<void> EtcdClient::revoke(std::int64_t lease) {
  auto b = call("/v3/lease/revoke", json{{"ID", std::to_string(lease)}}.dump());
  if (!b) return b.error();
  return {};
}

Result<void> EtcdClient::put(const std::string& key, const std::string& value, std::int64_t lease) {
  json req{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  auto b = call("/v3/kv/put", req.dump());
  if (!b) return b.error();
  auto j = parse_reply(*b, "put");
  if (!j) return j.error();
  return {};
}

Result<RangeReply> EtcdClient::range_prefix(const std::string& prefix) {
  const json req{{"key", base64_encode(prefix)}, {"range_end", base64_encode(prefix_end(prefix))}};
  auto b = call("/v3/kv/range", req.dump());
  if (!b) return b.error();
  auto j = parse_reply(*b, "range");
  if (!j) return j.error();
  RangeReply out;
  if (j->contains("header")) out.revision = int64_field((*j)["header"], "revision");
  if (j->contains("kvs")) {
    const json& kvs = (*j)["kvs"];
    if (!kvs.is_array()) return make_error("etcd range: \"kvs\" is not an array");
    for (const json& kv : kvs) {
      auto k = base64_decode(str_field(kv, "key"));
      auto v = base64_decode(str_field(kv, "value"));
      if (!k || !v) return make_error("etcd range: a key or value is not base64");
      out.kvs.push_back({std::move(*k), std::move(*v), int64_field(kv, "lease"), int64_field(kv, "mod_revision")});
    }
  }
  return out;
}

Result<void> EtcdClient::remove(const std::string& key) {
  auto b = call("/v3/kv/deleterange", json{{"key", base64_encode(key)}}.dump());
  if (!b) return b.error();
  return {};
}

Result<bool> EtcdClient::put_if_unchanged(const std::string& key, const std::string& value, std::int64_t lease,
                                          const std::string& range, std::int64_t revision) {
  json put{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
  if (lease != 0) put["lease"] = std::to_string(lease);
  // A compare with a range_end holds when every key in the range passes
  // it (an empty range passes): each key's mod revision is at most
  // `revision`.
  const json req{{"compare", json::array({{{"key", base64_encode(range)},
                                           {"range_end", base64_encode(prefix_end(range))},
                                           {"result", "LESS"},
                                           {"target", "MOD"},
                                           {"mod_revision", std::to_string(revision + 1)}}})},
                 {"success", json::array({{{"request_put", put}}})}};
  auto b = call("/v3/kv/txn", req.dump());
  if (!b) return b.error();
  auto j = parse_reply(*b, "txn");
  if (!j) return j.error();
  return j->contains("succeeded") && (*j)["succeeded"].is_boolean() && (*j)["succeeded"].get<bool>();
}

}  // namespace rsagent::fleet
