// Internal to net/: rsagent's nftables table through libnftables (the
// library nft(8) is built on). Each call makes its own context in the
// calling thread's network namespace. Errors carry nft's own message and
// the errno it names (ENOENT: no such table).
#pragma once

#include "rsagent/util/result.hpp"

#include <optional>
#include <string>

namespace rsagent::net::nft {

// `nft list table FAMILY NAME`; nullopt when there is no such table.
[[nodiscard]] Result<std::optional<std::string>> list_table(const std::string& family, const std::string& name);

// Runs commands as `nft -f` reads them: one transaction, all or nothing.
[[nodiscard]] Status run(const std::string& commands);

}  // namespace rsagent::net::nft
