// What the ARP guard (arp_guard/guard.hpp) reports, as plain rows
// for /status, /metrics and the verdict. the ARP guard publishes a whole new
// view into the Board (Board::set_arp_guard); readers share it immutable.
// Values only: no threads, no failures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rsagent::verdict {

struct ArpGuardView {
  bool enabled = false;
  std::string off_reason;  // why the ARP guard is off, when it is
  bool probing = false;    // arp_guard.probe and a ARP guard that can send
  std::string on_leak = "warn";
  // Set while a leak was seen within the hold time and on_leak is
  // "not-ready": the verdict's reason (the node is not ready).
  std::string not_ready;

  // Frames this node sent that speak for a VIP, by VIP and interface.
  struct Leak {
    std::string vip;
    std::string interface;
    std::string kind;  // of the last one: "gratuitous ARP", "ARP reply", ...
    std::uint64_t count = 0;
    std::int64_t last_unix = 0;
  };
  struct Responder {
    std::string mac;
    std::string ip;  // of the answering host, empty when not learnt
    std::int64_t first_seen_unix = 0;
    std::int64_t last_seen_unix = 0;
  };
  // The answers to the last probe for one VIP on one interface: at most
  // arp_guard::kMaxRespondersPerWindow MACs, and a count of the answers from
  // further MACs that were not kept.
  struct Segment {
    std::string vip;
    std::string interface;
    std::vector<Responder> responders;
    std::int64_t probed_unix = 0;
    std::uint64_t responders_more = 0;
  };
  std::vector<Leak> leaks;
  std::vector<Segment> segments;
  std::uint64_t probes_sent = 0;
  std::uint64_t sweeps = 0;
  std::vector<std::string> interfaces;  // watched now
  // the ARP guard's MAC -> IP table (bounded, least recently used out) and
  // the answers past the per-probe cap, over the daemon's life.
  std::uint64_t mac_table_entries = 0;
  std::uint64_t mac_table_capacity = 0;
  std::uint64_t mac_table_evicted = 0;
  std::uint64_t responders_dropped = 0;
};

}  // namespace rsagent::verdict
