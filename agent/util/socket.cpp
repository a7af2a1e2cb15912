#include "rsagent/util/socket.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

namespace rsagent {

Result<UniqueFd> listen_tcp(const IpAddress& address, std::uint16_t port, const std::string& what) {
  const std::string at = address.family == Family::kV4
                             ? address.str() + ":" + std::to_string(port)
                             : "[" + address.str() + "]:" + std::to_string(port);
  const bool v4 = address.family == Family::kV4;
  UniqueFd fd(::socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return errno_error(errno, what + " " + at);
  // Only SO_REUSEADDR (restart over TIME_WAIT); never SO_REUSEPORT, which
  // would let a second process share the port and split the answers.
  const int yes = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, address.bytes.data(), 4);
    len = sizeof *sin;
  } else {
    // [::] must not also take 0.0.0.0: both may be configured.
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &yes, sizeof yes);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, address.bytes.data(), 16);
    len = sizeof *sin6;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::listen(fd.get(), kListenBacklog) != 0)
    return errno_error(errno, what + " " + at +
                                  ": cannot listen (another process has the port, or the address "
                                  "is not on this host); free it or change " + what);
  return fd;
}

std::optional<IpAddress> peer_address(const sockaddr_storage& ss) {
  IpAddress a;
  if (ss.ss_family == AF_INET) {
    a.family = Family::kV4;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    a.family = Family::kV6;
    std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16);
  } else {
    return std::nullopt;
  }
  return a;
}

}  // namespace rsagent
