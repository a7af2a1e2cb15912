#include "packet_socket.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <map>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace rsagent::arp_guard::detail {

namespace {

// Classic BPF on the frame from its Ethernet header: pass ARP, and IPv6 whose
// next header is ICMPv6 (58) with type 136 (neighbour advertisement); drop
// the rest in the kernel, so a busy web server's traffic never wakes us.
constexpr std::uint32_t kSnap = 2048;
sock_filter kFilter[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),               // 0: ethertype
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0806, 5, 0),    // 1: ARP -> 7
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 0, 5),    // 2: not IPv6 -> 8
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 6),           // 3: IPv6 next header
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 3),        // 4: not ICMPv6 -> 8
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 14 + 40),          // 5: ICMPv6 type
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 136, 0, 1),       // 6: not NA -> 8
    BPF_STMT(BPF_RET | BPF_K, kSnap),                     // 7: pass
    BPF_STMT(BPF_RET | BPF_K, 0),                         // 8: drop
};

}  // namespace

Result<UniqueFd> open_packet_socket(int ifindex) {
  // Protocol 0 until bind(): nothing is queued before the filter is in place.
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return errno_error(errno, "packet socket");
  sock_fprog prog{static_cast<unsigned short>(sizeof kFilter / sizeof kFilter[0]), kFilter};
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    return errno_error(errno, "attach the BPF filter");
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  // ETH_P_ALL: the only protocol for which the kernel also hands over the
  // frames this node sends (PACKET_OUTGOING), which is what self-watch needs.
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
    return errno_error(errno, "bind the packet socket");
  return fd;
}

std::optional<Received> receive(int fd, std::span<std::uint8_t> buf) {
  sockaddr_ll from{};
  socklen_t len = sizeof from;
  const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
  if (n < 0) return std::nullopt;
  return Received{static_cast<std::size_t>(n), from.sll_pkttype == PACKET_OUTGOING};
}

Status send_frame(int fd, int ifindex, std::span<const std::uint8_t> frame) {
  if (frame.size() < 14) return make_error("frame too short");
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = ifindex;
  to.sll_protocol = htons(static_cast<std::uint16_t>((frame[12] << 8) | frame[13]));
  to.sll_halen = 6;
  std::memcpy(to.sll_addr, frame.data(), 6);
  if (::sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
    return errno_error(errno, "send");
  return {};
}

std::string neighbour_ip(const std::string& interface, const Mac& mac) {
  std::ifstream in("/proc/net/arp");
  std::string line;
  std::getline(in, line);  // header
  const std::string want = mac_str(mac);
  while (std::getline(in, line)) {
    char ip[64] = {}, hw[64] = {}, dev[64] = {};
    if (std::sscanf(line.c_str(), "%63s %*s %*s %63s %*s %63s", ip, hw, dev) != 3 || want != hw ||
        interface != dev)
      continue;
    // Into /status and the log only as an address we printed ourselves.
    if (auto a = IpAddress::parse(ip)) return a->str();
    return {};
  }
  return {};
}

}  // namespace rsagent::arp_guard::detail
