// `rsagent status`'s directors table, from the status JSON's "directors",
// "directors_other", "attribution" and "now_unix_ms" (health/directors.hpp):
// per director who it is, how it polls and what it was told, what it sends,
// and a drain violation. Pure: text from a JSON value; a member that is
// missing or of another type is shown as unknown, never thrown on.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace rsagent::cli {

[[nodiscard]] std::string directors_text(const nlohmann::json& status);

}  // namespace rsagent::cli
