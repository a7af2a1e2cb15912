// A flood of ARP frames for the ARP guard's benchmark, each from a new random
// MAC (unicast, locally administered), sent through a packet socket on one
// interface. Kinds: "ask-vip" (who has VIP, tell a random 198.18.0.0/15
// address), "ask-other" (who has a random 198.18.0.0/15 address: a frame
// that has nothing to do with a VIP) and "spoof" (VIP is-at the random MAC).
// With a daemon PID, it waits while that daemon's packet sockets have more
// than 64 KiB queued (/proc/PID/net/packet), so the daemon sees the flood
// instead of the kernel dropping it. Prints the number of frames sent.
// Usage: arp_flood IFACE KIND COUNT VIP [DAEMON_PID]
#include "../support/arp_flood.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

using rsagent::testing::arp_frame;
using rsagent::testing::queued_bytes;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: arp_flood IFACE ask-vip|ask-other|spoof COUNT VIP [DAEMON_PID]\n");
    return 2;
  }
  const std::string kind = argv[2];
  const unsigned long count = std::strtoul(argv[3], nullptr, 10);
  const in_addr_t vip = ::inet_addr(argv[4]);
  const std::string pid = argc > 5 ? argv[5] : "";
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::perror("socket"), 1;
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ARP);
  sll.sll_ifindex = static_cast<int>(::if_nametoindex(argv[1]));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) return std::perror("bind"), 1;
  std::mt19937_64 rng(std::random_device{}());
  const std::uint16_t op = kind == "spoof" ? 2 : 1;
  unsigned long sent = 0;
  while (sent < count) {
    if (!pid.empty() && sent % 64 == 0)
      for (int i = 0; i < 5000 && queued_bytes(pid) > 64 * 1024; ++i)
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    const std::uint64_t r = rng();
    std::array<std::uint8_t, 6> mac{0x02};
    std::memcpy(mac.data() + 1, &r, 5);
    const in_addr_t host = htonl(0xc6120000u | static_cast<std::uint32_t>((r >> 40) & 0x1ffff));
    const in_addr_t other = htonl(0xc6120000u | static_cast<std::uint32_t>((r >> 20) & 0x1ffff));
    in_addr_t sender = host, target = vip;
    if (kind == "ask-other") target = other;
    if (kind == "spoof") sender = vip, target = host;
    const auto f = arp_frame(op, mac, sender, target);
    if (::send(fd, f.data(), f.size(), 0) == static_cast<ssize_t>(f.size())) ++sent;
  }
  ::close(fd);
  std::printf("%lu\n", sent);
  return 0;
}
