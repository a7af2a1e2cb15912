#include "syn_ring.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/mman.h>
#include <sys/socket.h>

namespace rsagent::attribution::detail {

void Unmap::operator()(std::uint8_t* p) const {
  if (p) ::munmap(p, size);
}

Result<SynRing> SynRing::open(int ifindex, std::span<const sock_filter> filter) {
  SynRing r;
  // Protocol 0 until bind(): nothing is queued before the filter is in place.
  r.fd_.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (r.fd_.get() < 0) return errno_error(errno, "packet socket");
  sock_fprog prog{static_cast<unsigned short>(filter.size()), const_cast<sock_filter*>(filter.data())};
  if (::setsockopt(r.fd_.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    return errno_error(errno, "attach the BPF filter");
  // Before 4.20 the option does not exist: outgoing frames are then skipped
  // in drain().
  const int one = 1;
  (void)::setsockopt(r.fd_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  const int version = TPACKET_V3;
  if (::setsockopt(r.fd_.get(), SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0)
    return errno_error(errno, "packet socket version 3");
  tpacket_req3 req{};
  req.tp_block_size = kBlockSize;
  req.tp_block_nr = kBlocks;
  req.tp_frame_size = 2048;  // only a bound for the kernel's check: V3 packs frames
  req.tp_frame_nr = kBlockSize / 2048 * kBlocks;
  req.tp_retire_blk_tov = kRetireMs;
  if (::setsockopt(r.fd_.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0)
    return errno_error(errno, "packet ring");
  const std::size_t size = std::size_t{kBlockSize} * kBlocks;
  void* m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, r.fd_.get(), 0);
  if (m == MAP_FAILED) m = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd_.get(), 0);
  if (m == MAP_FAILED) return errno_error(errno, "map the packet ring");
  r.map_ = std::unique_ptr<std::uint8_t, Unmap>(static_cast<std::uint8_t*>(m), Unmap{size});
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (::bind(r.fd_.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
    return errno_error(errno, "bind the packet socket");
  return r;
}

std::size_t SynRing::drain(const std::function<void(std::span<const std::uint8_t>)>& on_frame) {
  std::size_t frames = 0;
  for (unsigned n = 0; n < kBlocks; ++n) {
    std::uint8_t* block = map_.get() + std::size_t{next_} * kBlockSize;
    auto* desc = reinterpret_cast<tpacket_block_desc*>(block);
    if (!(__atomic_load_n(&desc->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
    const std::uint32_t count = desc->hdr.bh1.num_pkts;
    std::uint32_t at = desc->hdr.bh1.offset_to_first_pkt;
    for (std::uint32_t i = 0; i < count && at + sizeof(tpacket3_hdr) <= kBlockSize; ++i) {
      const auto* h = reinterpret_cast<const tpacket3_hdr*>(block + at);
      const auto* ll = reinterpret_cast<const sockaddr_ll*>(block + at + TPACKET_ALIGN(sizeof(tpacket3_hdr)));
      if (h->tp_mac + h->tp_snaplen <= kBlockSize - at && ll->sll_pkttype != PACKET_OUTGOING)
        on_frame(std::span<const std::uint8_t>(block + at + h->tp_mac, h->tp_snaplen));
      ++frames;
      if (h->tp_next_offset == 0) break;
      at += h->tp_next_offset;
    }
    __atomic_store_n(&desc->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    next_ = (next_ + 1) % kBlocks;
  }
  return frames;
}

std::uint64_t SynRing::drops() const {
  tpacket_stats_v3 st{};
  socklen_t len = sizeof st;
  if (::getsockopt(fd_.get(), SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return 0;
  return st.tp_drops;
}

}  // namespace rsagent::attribution::detail
