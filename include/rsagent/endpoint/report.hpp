// Renderings of a Board snapshot: the /status JSON and the /metrics
// Prometheus text. Pure functions of their inputs; no threads, no failures.
#pragma once

#include "rsagent/verdict/board.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace rsagent::endpoint {

[[nodiscard]] nlohmann::json status_json(const verdict::Snapshot& s, const verdict::Board& board);
// {"vips": [...], "routes": [...], "sysctls": [...], "drift": [...]}, as
// /status and `rsagent status --json` show them.
[[nodiscard]] nlohmann::json detail_json(const verdict::NetDetail& d);
// What `rsagent status` shows of a running daemon's health, small whatever
// the number of VIPs: {"health": {"state", "reason", "maintenance_file"},
// "operator": {"state", "reason", "since"}, "checks": [{"name", "type",
// "state", "ok", "detail", "at"}]}, and "tcp_gate" and "arp_guard" as in
// /status when they are configured.
[[nodiscard]] nlohmann::json summary_json(const verdict::Board& board);
[[nodiscard]] nlohmann::json operator_json(const verdict::OperatorState& op);
// systemd's STATUS= text for a verdict: "ready; 2 VIP(s) in place",
// "drain: operator drained this node: db migration; 2 VIP(s) in place".
// One printable line (a newline would start another sd_notify assignment),
// at most kMaxSdStatus bytes.
inline constexpr std::size_t kMaxSdStatus = 400;
[[nodiscard]] std::string sd_status(const verdict::Verdict& v, std::size_t vips);
[[nodiscard]] std::string metrics_text(const verdict::Snapshot& s, const verdict::Board& board);

}  // namespace rsagent::endpoint
