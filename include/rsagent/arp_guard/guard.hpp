// The ARP guard. Owns: one AF_PACKET socket per up
// non-loopback Ethernet interface (a kernel BPF filter lets only ARP and
// ICMPv6 neighbour advertisements reach user space), the probe schedule
// (scheduler.hpp), what it has learnt (ledger.hpp: leaks by VIP and
// interface, each VIP's responders per interface) and its report in the Board.
//  - Self-watch: a frame this node sends (PACKET_OUTGOING) with a VIP as ARP
//    sender address, or a neighbour advertisement for a VIP, is a leak:
//    counted, logged once a minute per VIP and interface, and with on_leak
//    "not-ready" the node is down until kLeakHold has passed without one.
//  - Segment probe: "who has VIP" from each interface's own address (never
//    a VIP), an IPv6 NS from its link-local address; the distinct MACs that
//    answer within the window are the VIP's responders there. Two or more
//    is ARP flux: a warning, a gauge and /status, not a verdict change (this
//    node is fine; a neighbour is wrong). At most kMaxRespondersPerWindow
//    MACs are kept per probe, the rest counted.
//  - Memory: bounded whatever the segment sends (ledger.hpp: a fixed-size
//    MAC -> IP table, learnt only from frames about a VIP or its answers).
// Interfaces are re-scanned every few seconds; the VIPs change on update().
// Threads: its own thread (poll on the sockets and an eventfd, stops
// within one wake-up); update() and stop() from any thread; it publishes
// into the Board, whose verdict-change callback then runs on this thread.
// Errors: none escape. Without CAP_NET_RAW or with AF_PACKET not allowed
// (RestrictAddressFamilies=), create() logs once that the ARP guard is off
// and why, and the report says so; a socket that fails later is logged and
// left out.
#pragma once

#include "rsagent/arp_guard/ledger.hpp"  // kLeakHold, kLeakLogEvery
#include "rsagent/config/config.hpp"
#include "rsagent/verdict/board.hpp"

#include <chrono>
#include <memory>
#include <vector>

namespace rsagent::arp_guard {

class Guard {
 public:
  [[nodiscard]] static std::unique_ptr<Guard> create(const config::ArpGuard& cfg,
                                                        const std::vector<config::Vip>& vips,
                                                        verdict::Board& board);
  ~Guard();
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  void start();
  void stop();
  // After a reload: new settings and VIPs, taken by the thread at once.
  void update(const config::ArpGuard& cfg, const std::vector<config::Vip>& vips);
  [[nodiscard]] bool enabled() const;

  class Impl;

 private:
  explicit Guard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rsagent::arp_guard
