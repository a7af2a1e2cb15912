#include "rsagent/attribution/neighbours.hpp"

#include "rsagent/attribution/syn_filter.hpp"
#include "rsagent/util/ip.hpp"
#include "rsagent/util/fd.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>

namespace rsagent::attribution {

namespace {
// A dump of a big table takes milliseconds; a kernel that does not finish
// within this is not waited on.
constexpr int kDumpDeadlineMs = 2000;
}  // namespace

Result<NeighbourDump> dump_neighbours() {
  const UniqueFd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE));
  if (fd.get() < 0) return errno_error(errno, "neighbour table: netlink socket");
  struct {
    nlmsghdr h;
    ndmsg nd;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = RTM_GETNEIGH;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = 1;
  req.nd.ndm_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return errno_error(errno, "neighbour table: ask for the dump");
  NeighbourDump out;
  std::vector<char> buf(32 * 1024);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDumpDeadlineMs);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error("neighbour table: the dump did not finish within 2 s");
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR)
      return errno_error(errno, "neighbour table: poll");
    const ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return errno_error(errno, "neighbour table: read the dump");
    }
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return out;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return errno_error(-e->error, "neighbour table: the kernel refused the dump");
      }
      if (h->nlmsg_type != RTM_NEWNEIGH) continue;
      const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(h));
      if (nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE)) continue;
      if (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6) continue;
      IpAddress a;
      a.family = nd->ndm_family == AF_INET ? Family::kV4 : Family::kV6;
      bool have_dst = false, have_mac = false;
      Mac mac{};
      int alen = static_cast<int>(NLMSG_PAYLOAD(h, sizeof(ndmsg)));
      for (auto* rta = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(ndmsg)));
           RTA_OK(rta, alen); rta = RTA_NEXT(rta, alen)) {
        if (rta->rta_type == NDA_DST && RTA_PAYLOAD(rta) == a.size()) {
          std::memcpy(a.bytes.data(), RTA_DATA(rta), a.size());
          have_dst = true;
        } else if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6) {
          std::memcpy(mac.data(), RTA_DATA(rta), 6);
          have_mac = true;
        }
      }
      if (!have_dst || !have_mac) continue;
      if (out.entries.size() >= kMaxNeighbours) {
        ++out.dropped;
        continue;
      }
      out.entries.push_back({a.str(), mac_text(mac), nd->ndm_ifindex});
    }
  }
}

}  // namespace rsagent::attribution
