// The network's part of the verdict. describe_state compares what the
// journal says rsagent holds with what the kernel has, row by row (for
// /status and `rsagent status`); judge_network turns that, plus the last
// self-heal refusal and the effective ARP sysctls, into NetHealth.
// Pure functions of values: no threads, no I/O, nothing fails.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/verdict/state.hpp"
#include "rsagent/net/model.hpp"

#include <string>

namespace rsagent::verdict {

// VIPs, routes and sysctls rsagent owns or adopted, with presence and any
// drift, as /status and `rsagent status --json` show them.
[[nodiscard]] NetDetail describe_state(const net::Journal& j, const net::ObservedState& have);

// What of the configuration the network verdict depends on.
struct NetPolicy {
  // The effective ARP sysctls of every up interface must keep DR silent:
  // only when rsagent sets them through "all" and holds an IPv4 VIP (IPv6
  // needs no sysctl; a per-interface list leaves other interfaces to the admin).
  bool check_arp_leaks = false;
  // Tunnel mode: decapsulated packets on this device must pass rp_filter.
  std::string tunnel_device;
};
[[nodiscard]] NetPolicy net_policy(const config::Config& cfg);

// Why packets decapsulated on `device` would be dropped (missing, or the
// effective rp_filter with the device's addresses), or empty when they pass.
[[nodiscard]] std::string tunnel_rp_filter_problem(const net::ObservedState& have, const std::string& device);

// Ready only when nothing drifted, the last self-heal was not refused
// (`repair_error` empty) and, per policy, no interface would answer ARP for
// a VIP, and, in tunnel mode, packets from the tunnel device pass
// rp_filter. The reason is the first problem found, in that order.
[[nodiscard]] NetHealth judge_network(const NetDetail& detail, const net::ObservedState& have,
                                      const NetPolicy& policy, const std::string& repair_error);

}  // namespace rsagent::verdict
