// The flow attribution: which director sends new connections to the VIPs.
// Owns: per up non-loopback Ethernet interface, one AF_PACKET socket
// (received frames only; this node's replies never reach the filter) with
// a kernel BPF filter that passes only a TCP SYN without ACK to a VIP or
// route-mode range, IPv4 and IPv6 (syn_filter.hpp), each read through a memory-mapped ring that the
// kernel hands over in blocks (a wake-up per block, not per SYN; frames the
// full ring drops are counted); the sender table and the violation tracker
// (senders.hpp); the neighbour table it reads to name a MAC
// (neighbours.hpp). About once a second it joins the senders with the
// Board's census, runs the drain violation alarm against the verdict
// (a warning per director at most once a minute) and publishes an
// AttributionView into the Board.
// Threads: its own thread, not the ARP guard's: the ARP guard can be
// idle or off (its probing is optional) while this runs, and its socket
// wakes on ARP, this one on the VIPs' SYNs, a rate that follows the web
// traffic; a burst of SYNs then never delays a probe window, and each is
// switched off on its own (`attribution.enabled`). start(), stop() and
// update() from the main thread; stop() returns within one poll wake-up.
// Errors: none escape. Without CAP_NET_RAW (or AF_PACKET refused by
// RestrictAddressFamilies=) it is off, logged once, and the view says so
// (`attribution.enabled` false with the reason); a socket that fails on
// one interface is logged once and left out; a failed neighbour dump
// leaves the names of the last one.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/verdict/board.hpp"

#include <memory>
#include <vector>

namespace rsagent::attribution {

class Watcher {
 public:
  [[nodiscard]] static std::unique_ptr<Watcher> create(const config::Attribution& cfg,
                                                       const std::vector<config::Vip>& vips,
                                                       verdict::Board& board);
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  void start();
  void stop();
  // After a reload: the switch and the VIPs, taken by the thread at once.
  void update(const config::Attribution& cfg, const std::vector<config::Vip>& vips);

  class Impl;

 private:
  explicit Watcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rsagent::attribution
