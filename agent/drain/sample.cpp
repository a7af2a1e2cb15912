#include "rsagent/drain/sample.hpp"

#include "rsagent/endpoint/report.hpp"

#include <chrono>

namespace rsagent::drain {

std::vector<net::LocalPrefix> vip_prefixes(const verdict::NetDetail& d) {
  std::vector<net::LocalPrefix> out;
  out.reserve(d.vips.size());
  for (const auto& v : d.vips) {
    auto a = IpAddress::parse(v.address);
    if (!a) continue;
    const int prefix = v.prefix > 0 && v.prefix <= a->max_prefix() ? v.prefix : a->max_prefix();
    out.push_back({a->with_host_bits(prefix, false), prefix});
  }
  return out;
}

nlohmann::json drain_status_json(const verdict::Board& board) {
  nlohmann::json j = endpoint::summary_json(board);
  const auto snap = board.snapshot();
  const auto vips = snap->net_detail ? vip_prefixes(*snap->net_detail) : std::vector<net::LocalPrefix>{};
  if (auto n = net::count_established_in(vips)) {
    j["vip_connections"] = {{"established", *n}};
  } else {
    j["vip_connections"] = {{"error", n.error().str()}};
  }
  if (!j.contains("now_unix_ms"))
    j["now_unix_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  return j;
}

}  // namespace rsagent::drain
