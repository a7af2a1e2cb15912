#include "rsagent/net/sockdiag.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include "rsagent/util/fd.hpp"

#include <cerrno>
#include <cstring>

namespace rsagent::net {

namespace {

// The VIPs sorted for a binary search (there may be 10,000), the ranges
// (a few) tried one by one.
struct Matcher {
  std::vector<IpAddress> hosts;
  std::vector<LocalPrefix> ranges;
  explicit Matcher(const std::vector<LocalPrefix>& locals) {
    for (const auto& l : locals) {
      if (l.prefix >= l.network.max_prefix()) {
        hosts.push_back(l.network);
      } else {
        ranges.push_back(l);
      }
    }
    std::sort(hosts.begin(), hosts.end());
  }
  [[nodiscard]] bool matches(const IpAddress& a) const {
    if (std::binary_search(hosts.begin(), hosts.end(), a)) return true;
    return std::any_of(ranges.begin(), ranges.end(), [&](const LocalPrefix& r) { return r.contains(a); });
  }
};

Result<std::size_t> count_family(int family, const Matcher& locals) {
  UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (fd.get() < 0) return errno_error(errno, "sock_diag socket");
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = static_cast<std::uint8_t>(family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1U << TCP_ESTABLISHED;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return errno_error(errno, "sock_diag dump");
  std::size_t count = 0;
  std::vector<char> buf(1 << 16);
  while (true) {
    const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(errno, "sock_diag receive");
    }
    const auto total = static_cast<std::size_t>(n);
    for (std::size_t off = 0; off + sizeof(nlmsghdr) <= total;) {
      const auto* h = reinterpret_cast<const nlmsghdr*>(buf.data() + off);
      if (h->nlmsg_len < sizeof(nlmsghdr) || off + h->nlmsg_len > total) break;
      off += NLMSG_ALIGN(h->nlmsg_len);
      if (h->nlmsg_type == NLMSG_DONE) return count;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return errno_error(-e->error, "sock_diag dump");
      }
      const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      IpAddress local;
      local.family = family == AF_INET ? Family::kV4 : Family::kV6;
      std::memcpy(local.bytes.data(), d->id.idiag_src, local.size());
      // A dual-stack socket holds an IPv4 connection as ::ffff:a.b.c.d.
      static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (local.family == Family::kV6 && std::memcmp(local.bytes.data(), kMapped, 12) == 0) {
        IpAddress v4;
        std::memcpy(v4.bytes.data(), local.bytes.data() + 12, 4);
        local = v4;
      }
      if (locals.matches(local)) ++count;
    }
  }
}

}  // namespace

bool LocalPrefix::contains(const IpAddress& a) const {
  return a.family == network.family && a.with_host_bits(prefix, false) == network.with_host_bits(prefix, false);
}

Result<std::size_t> count_established(const std::vector<IpAddress>& locals) {
  std::vector<LocalPrefix> hosts;
  hosts.reserve(locals.size());
  for (const auto& a : locals) hosts.push_back({a, a.max_prefix()});
  return count_established_in(hosts);
}

Result<std::size_t> count_established_in(const std::vector<LocalPrefix>& locals) {
  const Matcher matcher(locals);
  std::size_t total = 0;
  for (const int fam : {AF_INET, AF_INET6}) {
    auto n = count_family(fam, matcher);
    if (!n) return n;
    total += *n;
  }
  return total;
}

}  // namespace rsagent::net
