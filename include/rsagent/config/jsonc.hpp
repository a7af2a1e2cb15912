// JSON with comments, parsed with the position of every key and value.
// Owns: a small strict recursive-descent parser (// and /* */ comments, no
// trailing commas, no duplicate keys, UTF-8 checked) that builds an
// nlohmann::json and remembers where each value and key came from, so config
// errors can say FILE:LINE:COL. Pure function, no threads; failure is a
// JsoncError with the position of the offending character, never an exception.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace rsagent::config {

struct Pos {
  int line = 1;
  int col = 1;  // 1-based, counted in characters (UTF-8 code points)
  bool operator==(const Pos&) const = default;
};

struct JsoncDoc {
  nlohmann::json root;
  // Keyed by JSON pointer ("/vips/0/label"); the root is "".
  std::unordered_map<std::string, Pos> value_pos;
  std::unordered_map<std::string, Pos> key_pos;  // for object members only

  // Position of the value at `pointer`, falling back to its nearest parent.
  [[nodiscard]] Pos pos_of(const std::string& pointer) const;
  // Position of the key naming `pointer`, else the value's position.
  [[nodiscard]] Pos key_pos_of(const std::string& pointer) const;
};

struct JsoncError {
  Pos pos;
  std::string message;
};

[[nodiscard]] std::variant<JsoncDoc, JsoncError> parse_jsonc(std::string_view text);

// Appends one reference token to a JSON pointer, escaping ~ and / (RFC 6901).
[[nodiscard]] std::string pointer_child(const std::string& parent, std::string_view token);
[[nodiscard]] std::string pointer_child(const std::string& parent, std::size_t index);

}  // namespace rsagent::config
