#include "rsagent/endpoint/report.hpp"

#include "rsagent/util/text.hpp"

#include <algorithm>
#include <optional>
#include <sstream>

namespace rsagent::endpoint {

namespace {

using nlohmann::json;

std::int64_t unix_seconds(verdict::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

double uptime_seconds(const verdict::Board& b) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - b.started).count();
}

// Prometheus label values escape backslash, quote and newline.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The TCP gate as the kernel has its sockets; nullopt without a gate.
std::optional<json> gate_json(const verdict::Board& board) {
  const auto g = board.gate();
  if (!g) return std::nullopt;
  json listeners = json::array();
  for (const auto& l : g->listeners) listeners.push_back({{"listen", l.at}, {"listening", l.listening}});
  return json{{"open", g->open()},
              {"want_open", g->want_open},
              {"listeners", std::move(listeners)},
              {"reopen_failures", g->reopen_failures},
              {"accepts_paused", g->accepts_paused},
              {"transitions", board.gate_transitions.load()},
              {"connections", board.gate_accepts.load()}};
}

json arp_guard_json(const verdict::ArpGuardView& g) {
  json leaks = json::array();
  for (const auto& l : g.leaks)
    leaks.push_back({{"vip", l.vip}, {"interface", l.interface}, {"kind", l.kind}, {"count", l.count},
                     {"last", l.last_unix}});
  json segments = json::array();
  for (const auto& s : g.segments) {
    json responders = json::array();
    for (const auto& r : s.responders)
      responders.push_back({{"mac", r.mac}, {"ip", r.ip.empty() ? json(nullptr) : json(r.ip)},
                            {"first_seen", r.first_seen_unix}, {"last_seen", r.last_seen_unix}});
    segments.push_back({{"vip", s.vip}, {"interface", s.interface}, {"flux", s.responders.size() >= 2},
                        {"responders", std::move(responders)}, {"responders_more", s.responders_more},
                        {"probed", s.probed_unix}});
  }
  json out{{"enabled", g.enabled}, {"probing", g.probing}, {"on_leak", g.on_leak},
           {"interfaces", g.interfaces}, {"probes_sent", g.probes_sent}, {"sweeps", g.sweeps},
           {"leaks", std::move(leaks)}, {"segments", std::move(segments)},
           {"mac_table", {{"entries", g.mac_table_entries}, {"capacity", g.mac_table_capacity},
                          {"evicted", g.mac_table_evicted}}},
           {"responders_dropped", g.responders_dropped}};
  if (!g.enabled) out["off_reason"] = g.off_reason;
  if (!g.not_ready.empty()) out["not_ready"] = g.not_ready;
  return out;
}

void arp_guard_metrics(std::ostringstream& m, const verdict::ArpGuardView& g) {
  m << "# HELP rsagent_arp_guard_enabled 1 when the ARP guard watches this node's frames.\n"
       "# TYPE rsagent_arp_guard_enabled gauge\nrsagent_arp_guard_enabled "
    << (g.enabled ? 1 : 0) << "\n";
  m << "# HELP rsagent_arp_leaks_total Frames this node sent that speak for a VIP (ARP with a VIP as "
       "sender, neighbour advertisements for a VIP).\n# TYPE rsagent_arp_leaks_total counter\n";
  for (const auto& l : g.leaks)
    m << "rsagent_arp_leaks_total{vip=\"" << label(l.vip) << "\",interface=\"" << label(l.interface) << "\"} "
      << l.count << "\n";
  m << "# HELP rsagent_arp_responders Distinct MACs that answered the last probe for a VIP (at most 8 "
       "kept); more than 1 is ARP flux.\n# TYPE rsagent_arp_responders gauge\n";
  for (const auto& s : g.segments)
    m << "rsagent_arp_responders{vip=\"" << label(s.vip) << "\",interface=\"" << label(s.interface) << "\"} "
      << s.responders.size() << "\n";
  m << "# HELP rsagent_arp_mac_table_entries Hosts (interface, MAC) whose IP the ARP guard "
       "keeps, at most rsagent_arp_mac_table_capacity.\n# TYPE rsagent_arp_mac_table_entries gauge\n"
       "rsagent_arp_mac_table_entries "
    << g.mac_table_entries << "\n";
  m << "# HELP rsagent_arp_mac_table_capacity The size of the ARP guard's MAC table.\n"
       "# TYPE rsagent_arp_mac_table_capacity gauge\nrsagent_arp_mac_table_capacity "
    << g.mac_table_capacity << "\n";
  m << "# HELP rsagent_arp_mac_table_evicted_total Hosts the full MAC table forgot (least recently "
       "used) to learn another.\n# TYPE rsagent_arp_mac_table_evicted_total counter\n"
       "rsagent_arp_mac_table_evicted_total "
    << g.mac_table_evicted << "\n";
  m << "# HELP rsagent_arp_responders_dropped_total Answers to a probe from MACs past the ones kept "
       "per probe (8), counted, not listed.\n# TYPE rsagent_arp_responders_dropped_total counter\n"
       "rsagent_arp_responders_dropped_total "
    << g.responders_dropped << "\n";
}

json directors_json_of(const verdict::Board& board) {
  const auto view = board.attribution();
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return verdict::directors_json(verdict::join_directors(board.census.rows(), *view), *view, now);
}

}  // namespace

json status_json(const verdict::Snapshot& s, const verdict::Board& board) {
  json checks = json::array();
  for (const auto& c : s.checks) {
    json j{{"name", c.name},
           {"type", c.type},
           {"state", c.up ? "up" : "down"},
           {"rise", c.rise},
           {"fall", c.fall},
           {"consecutive_ok", c.consecutive_ok},
           {"consecutive_fail", c.consecutive_fail},
           {"probes", c.probes},
           {"failures", c.failures}};
    if (c.has_result) {
      j["last"] = {{"ok", c.last.ok},
                   {"output", c.last.detail},
                   {"latency_ms", static_cast<double>(c.last.latency.count()) / 1000.0},
                   {"at", unix_seconds(c.last_at)}};
    }
    checks.push_back(std::move(j));
  }
  json out{{"version", RSAGENT_VERSION},
           {"uptime_seconds", static_cast<std::int64_t>(uptime_seconds(board))},
           {"ready", s.verdict.ready()},
           {"state", verdict::mode_name(s.verdict.mode)},
           {"reason", s.verdict.reason},
           {"operator", {{"state", verdict::admin_name(s.op.admin)}, {"reason", s.op.reason}, {"since", s.op.since_unix}}},
           {"maintenance_file", {{"path", s.maintenance_path}, {"present", s.maintenance_file}}},
           {"network", {{"ok", s.net.ok}, {"reason", s.net.reason}}},
           {"checks", checks}};
  out.update(directors_json_of(board));
  if (auto g = gate_json(board)) out["tcp_gate"] = std::move(*g);
  if (s.arp_guard) out["arp_guard"] = arp_guard_json(*s.arp_guard);
  out.update(detail_json(*s.net_detail));
  return out;
}

json operator_json(const verdict::OperatorState& op) {
  return {{"state", verdict::admin_name(op.admin)}, {"reason", op.reason}, {"since", op.since_unix}};
}

json summary_json(const verdict::Board& board) {
  const auto snap = board.snapshot();
  const verdict::Snapshot& s = *snap;
  json checks = json::array();
  for (const auto& c : s.checks) {
    json j{{"name", c.name}, {"type", c.type}, {"state", c.up ? "up" : "down"}};
    if (c.has_result) {
      j["ok"] = c.last.ok;
      j["detail"] = c.last.detail;
      j["at"] = unix_seconds(c.last_at);
    } else {
      j["detail"] = "no result yet";
    }
    checks.push_back(std::move(j));
  }
  json out{{"health",
           {{"state", verdict::mode_name(s.verdict.mode)},
            {"reason", s.verdict.reason},
            {"maintenance_file", {{"path", s.maintenance_path}, {"present", s.maintenance_file}}}}},
          {"operator", operator_json(s.op)},
          {"checks", std::move(checks)}};
  out.update(directors_json_of(board));
  if (auto g = gate_json(board)) out["tcp_gate"] = std::move(*g);
  if (s.arp_guard) out["arp_guard"] = arp_guard_json(*s.arp_guard);
  return out;
}

std::string sd_status(const verdict::Verdict& v, std::size_t vips) {
  std::string reason = text::printable(v.reason);
  const std::string tail = "; " + std::to_string(vips) + " VIP(s) in place";
  const std::string head = verdict::mode_name(v.mode);
  const std::size_t room = kMaxSdStatus - head.size() - tail.size() - 2;
  if (reason.size() > room) reason = text::cut(reason, room - 3) + "...";
  return head + (reason.empty() ? "" : ": " + reason) + tail;
}

json detail_json(const verdict::NetDetail& d) {
  json vips = json::array();
  for (const auto& v : d.vips)
    vips.push_back({{"address", v.address}, {"prefix", v.prefix}, {"label", v.label},
                    {"mode", v.mode}, {"owned", v.owned}, {"present", v.present}});
  json routes = json::array();
  for (const auto& r : d.routes) routes.push_back({{"route", r.route}, {"owned", r.owned}, {"present", r.present}});
  json sysctls = json::array();
  for (const auto& s : d.sysctls)
    sysctls.push_back({{"sysctl", s.key}, {"wanted", s.wanted}, {"original", s.original},
                       {"actual", s.exists ? json(s.actual) : json(nullptr)}});
  json out = json::object();
  out["vips"] = std::move(vips);
  out["routes"] = std::move(routes);
  out["sysctls"] = std::move(sysctls);
  if (!d.tunnel.empty()) {
    // Tunnel mode only: the devices ("tunl0 up") and the device address.
    json tunnel = json::array();
    for (const auto& t : d.tunnel) tunnel.push_back({{"item", t.item}, {"owned", t.owned}, {"present", t.present}});
    out["tunnel"] = std::move(tunnel);
  }
  out["drift"] = d.drift;
  return out;
}

std::string metrics_text(const verdict::Snapshot& s, const verdict::Board& board) {
  std::ostringstream m;
  m << "# HELP rsagent_build_info rsagent version.\n# TYPE rsagent_build_info gauge\n"
    << "rsagent_build_info{version=\"" << RSAGENT_VERSION << "\"} 1\n";
  m << "# HELP rsagent_uptime_seconds Seconds since the daemon started.\n# TYPE rsagent_uptime_seconds gauge\n"
    << "rsagent_uptime_seconds " << static_cast<std::int64_t>(uptime_seconds(board)) << "\n";
  m << "# HELP rsagent_ready 1 when /healthz answers 200.\n# TYPE rsagent_ready gauge\n"
    << "rsagent_ready " << (s.verdict.ready() ? 1 : 0) << "\n";
  m << "# HELP rsagent_state The node's state as the director sees it.\n# TYPE rsagent_state gauge\n";
  for (verdict::Mode mode : {verdict::Mode::kReady, verdict::Mode::kDrain, verdict::Mode::kMaint, verdict::Mode::kDown})
    m << "rsagent_state{state=\"" << verdict::mode_name(mode) << "\"} " << (s.verdict.mode == mode ? 1 : 0) << "\n";
  m << "# HELP rsagent_network_ok 1 when every VIP, route and ARP sysctl is as configured.\n"
       "# TYPE rsagent_network_ok gauge\nrsagent_network_ok "
    << (s.net.ok ? 1 : 0) << "\n";
  const std::size_t vips = s.net_detail->vips.size();
  const auto present = static_cast<std::size_t>(std::count_if(
      s.net_detail->vips.begin(), s.net_detail->vips.end(), [](const verdict::NetDetail::Vip& v) { return v.present; }));
  m << "# HELP rsagent_vips VIPs rsagent manages.\n# TYPE rsagent_vips gauge\nrsagent_vips " << vips << "\n";
  m << "# HELP rsagent_vips_present VIPs present on lo.\n# TYPE rsagent_vips_present gauge\n"
       "rsagent_vips_present "
    << present << "\n";
  if (!s.net_detail->tunnel.empty()) {
    m << "# HELP rsagent_tunnel_item_present 1 when the tunnel device is up, or its address is on it.\n"
         "# TYPE rsagent_tunnel_item_present gauge\n";
    for (const auto& t : s.net_detail->tunnel)
      m << "rsagent_tunnel_item_present{item=\"" << label(t.item) << "\"} " << (t.present ? 1 : 0) << "\n";
  }
  m << "# HELP rsagent_check_up 1 when the check is up (after rise/fall).\n# TYPE rsagent_check_up gauge\n";
  for (const auto& c : s.checks) m << "rsagent_check_up{check=\"" << label(c.name) << "\"} " << (c.up ? 1 : 0) << "\n";
  m << "# HELP rsagent_check_probes_total Probes run.\n# TYPE rsagent_check_probes_total counter\n";
  for (const auto& c : s.checks) m << "rsagent_check_probes_total{check=\"" << label(c.name) << "\"} " << c.probes << "\n";
  m << "# HELP rsagent_check_failures_total Probes that failed.\n# TYPE rsagent_check_failures_total counter\n";
  for (const auto& c : s.checks)
    m << "rsagent_check_failures_total{check=\"" << label(c.name) << "\"} " << c.failures << "\n";
  m << "# HELP rsagent_check_transitions_total Up/down changes.\n# TYPE rsagent_check_transitions_total counter\n";
  for (const auto& c : s.checks)
    m << "rsagent_check_transitions_total{check=\"" << label(c.name) << "\"} " << c.transitions << "\n";
  m << "# HELP rsagent_check_latency_seconds Duration of the last probe.\n"
       "# TYPE rsagent_check_latency_seconds gauge\n";
  for (const auto& c : s.checks)
    m << "rsagent_check_latency_seconds{check=\"" << label(c.name) << "\"} "
      << static_cast<double>(c.last.latency.count()) / 1e6 << "\n";
  m << "# HELP rsagent_http_requests_total Requests to the health endpoint.\n"
       "# TYPE rsagent_http_requests_total counter\nrsagent_http_requests_total "
    << board.http_requests.load() << "\n";
  m << "# HELP rsagent_http_denied_total Connections closed unread: source not in health.allow.\n"
       "# TYPE rsagent_http_denied_total counter\nrsagent_http_denied_total "
    << board.http_denied.load() << "\n";
  m << "# HELP rsagent_http_source_full_total Connections closed unread: the source held "
       "health.http.max_connections_per_source.\n"
       "# TYPE rsagent_http_source_full_total counter\nrsagent_http_source_full_total "
    << board.http_source_full.load() << "\n";
  m << "# HELP rsagent_http_timeouts_total Connections closed by the header, keep-alive or send "
       "deadline.\n"
       "# TYPE rsagent_http_timeouts_total counter\nrsagent_http_timeouts_total "
    << board.http_timeouts.load() << "\n";
  m << "# HELP rsagent_agent_checks_total HAProxy agent-check connections answered.\n"
       "# TYPE rsagent_agent_checks_total counter\nrsagent_agent_checks_total "
    << board.agent_checks.load() << "\n";
  if (const auto g = board.gate()) {
    m << "# HELP rsagent_tcp_gate_open 1 while every TCP gate socket is listening (as the kernel says).\n"
         "# TYPE rsagent_tcp_gate_open gauge\nrsagent_tcp_gate_open "
      << (g->open() ? 1 : 0) << "\n";
    m << "# HELP rsagent_tcp_gate_reopen_failures_total Times a TCP gate socket failed to listen again "
         "(retried every second).\n"
         "# TYPE rsagent_tcp_gate_reopen_failures_total counter\nrsagent_tcp_gate_reopen_failures_total "
      << g->reopen_failures << "\n";
    m << "# HELP rsagent_tcp_gate_transitions_total Times the TCP gate opened or closed.\n"
         "# TYPE rsagent_tcp_gate_transitions_total counter\nrsagent_tcp_gate_transitions_total "
      << board.gate_transitions.load() << "\n";
    m << "# HELP rsagent_tcp_gate_connections_total Connections the TCP gate accepted (and closed).\n"
         "# TYPE rsagent_tcp_gate_connections_total counter\nrsagent_tcp_gate_connections_total "
      << board.gate_accepts.load() << "\n";
  }
  m << "# HELP rsagent_agent_checks_denied_total Agent-check connections closed by health.allow.\n"
       "# TYPE rsagent_agent_checks_denied_total counter\nrsagent_agent_checks_denied_total "
    << board.agent_checks_denied.load() << "\n";
  m << "# HELP rsagent_verdict_changes_total Changes of the node's state.\n"
       "# TYPE rsagent_verdict_changes_total counter\nrsagent_verdict_changes_total "
    << board.verdict_changes.load() << "\n";
  m << "# HELP rsagent_network_repairs_total Owned objects put back after someone removed them.\n"
       "# TYPE rsagent_network_repairs_total counter\nrsagent_network_repairs_total "
    << board.net_repairs.load() << "\n";
  m << "# HELP rsagent_network_replans_total Times the network was observed and planned again "
       "(start, reload, netlink event bursts, the periodic check).\n"
       "# TYPE rsagent_network_replans_total counter\nrsagent_network_replans_total "
    << board.net_replans.load() << "\n";
  if (s.arp_guard) arp_guard_metrics(m, *s.arp_guard);
  {
    const auto view = board.attribution();
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    m << verdict::directors_metrics(verdict::join_directors(board.census.rows(), *view), *view, now);
  }
  return m.str();
}

}  // namespace rsagent::endpoint
