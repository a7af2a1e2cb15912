#include "rsagent/util/interfaces.hpp"

#include "rsagent/util/fd.hpp"

#include <cerrno>
#include <cstring>
#include <ifaddrs.h>
#include <map>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

namespace rsagent::ifaces {

namespace {

IpAddress from_sockaddr(const sockaddr* sa) {
  IpAddress a;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(a.bytes.data(), &in->sin_addr, 4);
  } else {
    a.family = Family::kV6;
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(a.bytes.data(), &in6->sin6_addr, 16);
  }
  return a;
}

int prefix_of(const sockaddr* mask) {
  if (!mask) return 0;
  const IpAddress m = from_sockaddr(mask);
  int n = 0;
  for (std::size_t i = 0; i < m.size(); ++i) n += __builtin_popcount(m.bytes[i]);
  return n;
}

}  // namespace

Result<std::vector<Interface>> scan_interfaces() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return errno_error(errno, "getifaddrs");
  std::map<std::string, Interface> by_name;
  std::map<std::string, bool> ether;
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !i->ifa_name) continue;
    if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    Interface& it = by_name[i->ifa_name];
    it.name = i->ifa_name;
    const int family = i->ifa_addr->sa_family;
    if (family == AF_PACKET) {
      const auto* ll = reinterpret_cast<const sockaddr_ll*>(i->ifa_addr);
      it.ifindex = ll->sll_ifindex;
      ether[it.name] = ll->sll_hatype == ARPHRD_ETHER && ll->sll_halen == 6;
      if (ll->sll_halen == 6) std::memcpy(it.mac.data(), ll->sll_addr, 6);
    } else if (family == AF_INET) {
      it.v4.push_back({from_sockaddr(i->ifa_addr), prefix_of(i->ifa_netmask)});
    } else if (family == AF_INET6) {
      const IpAddress a = from_sockaddr(i->ifa_addr);
      if (a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80 && !it.link_local) it.link_local = a;
    }
  }
  ::freeifaddrs(list);
  std::vector<Interface> out;
  for (auto& [name, it] : by_name)
    if (ether[name] && it.ifindex > 0) out.push_back(std::move(it));
  return out;
}

Status can_open_packet_socket() {
  const UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return errno_error(errno, "cannot open a packet socket");
  return {};
}

}  // namespace rsagent::ifaces
