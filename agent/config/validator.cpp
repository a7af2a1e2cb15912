#include "validator.hpp"

#include <algorithm>

namespace rsagent::config::detail {

using nlohmann::json;

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string did_you_mean(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_d = 3;  // only near misses are worth suggesting
  std::string lower = key;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const auto& k : known) {
    const std::size_t d = edit_distance(lower, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  }
  if (!best.empty()) return "; did you mean \"" + best + "\"?";
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + ("\"" + k + "\"");
  return " (known keys: " + list + ")";
}

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "a number";
  }
}

void Validator::err_at(const std::string& ptr, std::string msg) {
  errors_.push_back(Diagnostic{file_, doc_.pos_of(ptr), std::move(msg)});
}

void Validator::err_key(const std::string& ptr, std::string msg) {
  errors_.push_back(Diagnostic{file_, doc_.key_pos_of(ptr), std::move(msg)});
}

std::string Validator::origin(const std::string& ptr) const { return where(ptr).str(); }

Origin Validator::where(const std::string& ptr) const { return Origin{file_, doc_.pos_of(ptr)}; }

void Validator::check_keys(const std::string& ptr, const json& obj,
                         const std::vector<std::string>& known, const std::string& where) {
  for (const auto& [key, _] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      err_key(pointer_child(ptr, key),
              "unknown key \"" + key + "\" in " + where + did_you_mean(key, known));
    }
  }
}

std::optional<std::string> Validator::string_at(const json& v, const std::string& ptr,
                                              const std::string& what) {
  if (!v.is_string()) {
    err_at(ptr, what + " must be a string, found " + type_name(v));
    return std::nullopt;
  }
  return v.get<std::string>();
}

std::optional<int> Validator::int_at(const json& v, const std::string& ptr, const std::string& what,
                                   int lo, int hi) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < lo || v.get<std::int64_t>() > hi) {
    err_at(ptr, what + " must be an integer " + std::to_string(lo) + "-" + std::to_string(hi) +
                    ", found " + (v.is_number() ? v.dump() : type_name(v)));
    return std::nullopt;
  }
  return static_cast<int>(v.get<std::int64_t>());
}

std::optional<std::chrono::milliseconds> Validator::duration_at(const json& v, const std::string& ptr,
                                                              const std::string& what,
                                                              std::chrono::milliseconds lo,
                                                              std::chrono::milliseconds hi) {
  const std::string hint = " (write it like \"500ms\", \"2s\" or \"1m\")";
  if (!v.is_string()) {
    err_at(ptr, what + " must be a duration string" + hint + ", found " + type_name(v));
    return std::nullopt;
  }
  const std::string s = v.get<std::string>();
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  const std::string unit = s.substr(digits);
  long long mult = 0;
  if (unit == "ms") mult = 1;
  if (unit == "s") mult = 1000;
  if (unit == "m") mult = 60'000;
  if (unit == "h") mult = 3'600'000;
  if (digits == 0 || digits > 9 || mult == 0) {
    err_at(ptr, what + " \"" + s + "\" is not a duration" + hint);
    return std::nullopt;
  }
  const std::chrono::milliseconds d(std::stoll(s.substr(0, digits)) * mult);
  if (d < lo || d > hi) {
    err_at(ptr, what + " \"" + s + "\" is out of range (" + std::to_string(lo.count()) + "ms to " +
                    std::to_string(hi.count() / 1000) + "s)");
    return std::nullopt;
  }
  return d;
}

}  // namespace rsagent::config::detail
