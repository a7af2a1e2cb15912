// ARP flood pieces shared by the ARP guard's flood test and its benchmark
// sender: one frame, and how far behind the daemon's packet sockets are.
// Header-only: the benchmark compiles its sender on its own.
#pragma once

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace rsagent::testing {

// Bytes queued on the packet sockets of process `pid`'s namespace
// (/proc/PID/net/packet, "Rmem" is the 7th column): a sender waits while
// the daemon is behind, so the daemon sees the flood rather than the
// kernel dropping most of it on a busy machine.
inline long queued_bytes(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/net/packet");
  std::string line;
  std::getline(in, line);
  long most = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sk, refs, type, proto, iface, running;
    long rmem = 0;
    if (f >> sk >> refs >> type >> proto >> iface >> running >> rmem) most = std::max(most, rmem);
  }
  return most;
}

// An ARP frame (op 1 request, 2 reply), broadcast, from `mac` as Ethernet
// and ARP sender.
inline std::array<std::uint8_t, 42> arp_frame(std::uint16_t op, const std::array<std::uint8_t, 6>& mac,
                                              in_addr_t sender, in_addr_t target) {
  std::array<std::uint8_t, 42> f{};
  std::memset(f.data(), 0xff, 6);
  std::memcpy(f.data() + 6, mac.data(), 6);
  f[12] = 0x08, f[13] = 0x06;  // ARP
  f[14] = 0, f[15] = 1;        // Ethernet
  f[16] = 0x08, f[17] = 0;     // IPv4
  f[18] = 6, f[19] = 4;
  f[20] = 0, f[21] = static_cast<std::uint8_t>(op);
  std::memcpy(f.data() + 22, mac.data(), 6);
  std::memcpy(f.data() + 28, &sender, 4);
  std::memcpy(f.data() + 38, &target, 4);
  return f;
}

}  // namespace rsagent::testing
