// The daemon's side of the drain confirmation: the status sample that
// `drain --wait` asks for over the control socket (`drain-status`) and
// that the graceful stop reads itself. Owns: joining the Board's summary
// (the directors census among it) with the open connections to the VIPs,
// counted with sock_diag, and the daemon's clock. Threads: any (the Board
// is thread-safe; the count opens its own socket). Errors: a count that
// fails is carried in the sample ("vip_connections": {"error": ...}).
#pragma once

#include "rsagent/verdict/board.hpp"
#include "rsagent/net/sockdiag.hpp"

#include <nlohmann/json.hpp>
#include <vector>

namespace rsagent::drain {

// The VIPs and route-mode ranges of a snapshot's network detail.
[[nodiscard]] std::vector<net::LocalPrefix> vip_prefixes(const verdict::NetDetail& d);

// summary_json(board) with "vip_connections" ({"established": N} or
// {"error": "..."}) and "now_unix_ms" when the summary has none.
[[nodiscard]] nlohmann::json drain_status_json(const verdict::Board& board);

}  // namespace rsagent::drain
