// Internal to attribution: a packet socket whose frames the kernel writes
// into a memory-mapped ring (TPACKET_V3) instead of queueing a copy of
// each one. It is bound to ETH_P_ALL on one interface with
// PACKET_IGNORE_OUTGOING: a tap of that list runs before IP's handler and
// is done with the frame when IP gets it, whereas a socket bound to
// ETH_P_IP runs after IP's handler and makes the kernel clone every IPv4
// packet of the interface for IP (a shared skb); and this node's own
// frames never reach the filter. The kernel hands over a block when it is full or kRetireMs
// after its first frame, so at any rate of SYNs the thread wakes at most
// about 1000 / kRetireMs times a second per socket and makes no system
// call per frame. Owns: the socket and its mapping (unmapped on
// destruction). Threads: one at a time. Errors: open() names the step.
#pragma once

#include "rsagent/util/fd.hpp"
#include "rsagent/util/result.hpp"

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

namespace rsagent::attribution::detail {

inline constexpr unsigned kRetireMs = 50;
inline constexpr unsigned kBlockSize = 1 << 16;  // ~300 SYNs of 96 bytes with their headers
inline constexpr unsigned kBlocks = 8;           // 512 KiB per socket

struct Unmap {
  std::size_t size = 0;
  void operator()(std::uint8_t* p) const;
};

class SynRing {
 public:
  // A packet socket on ifindex for received frames, with `filter` attached
  // before anything is queued.
  [[nodiscard]] static Result<SynRing> open(int ifindex, std::span<const sock_filter> filter);
  [[nodiscard]] int fd() const { return fd_.get(); }
  // Each received frame of the blocks the kernel has handed over (from its Ethernet
  // header on, at most the filter's snap length), then the blocks go back.
  std::size_t drain(const std::function<void(std::span<const std::uint8_t>)>& on_frame);
  // Frames the kernel dropped since the last call (ring full).
  [[nodiscard]] std::uint64_t drops() const;

 private:
  SynRing() = default;
  UniqueFd fd_;
  std::unique_ptr<std::uint8_t, Unmap> map_;
  unsigned next_ = 0;
};

}  // namespace rsagent::attribution::detail
