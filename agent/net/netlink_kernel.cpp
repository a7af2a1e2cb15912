// The only file that includes <netlink/...>: rtnetlink through libnl-route-3.
// Raw libnl pointers live in std::unique_ptr aliases and never leave this file.
// nftables' events (rsagent's own table changed) come on a plain
// NETLINK_NETFILTER socket beside the rtnetlink one.
#include "rsagent/net/kernel.hpp"

#include "nft_table.hpp"
#include "rsagent/util/fd.hpp"

#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace rsagent::net {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) F(p);
  }
};
using NlSock = std::unique_ptr<nl_sock, Deleter<nl_sock, nl_socket_free>>;
using NlCache = std::unique_ptr<nl_cache, Deleter<nl_cache, nl_cache_free>>;
using NlAddr = std::unique_ptr<nl_addr, Deleter<nl_addr, nl_addr_put>>;
using RtnlAddr = std::unique_ptr<rtnl_addr, Deleter<rtnl_addr, rtnl_addr_put>>;
using RtnlRoute = std::unique_ptr<rtnl_route, Deleter<rtnl_route, rtnl_route_put>>;
using RtnlLink = std::unique_ptr<rtnl_link, Deleter<rtnl_link, rtnl_link_put>>;
using NlMsg = std::unique_ptr<nl_msg, Deleter<nl_msg, nlmsg_free>>;

// IFLA_IPTUN_COLLECT_METADATA of <linux/if_tunnel.h>, a stable ABI value;
// that header pulls in <linux/if.h>, which clashes with <net/if.h>.
constexpr int kIptunCollectMetadata = 19;
constexpr int kDumpRetries = 5;
constexpr std::size_t kWindow = 128;         // requests per sendmsg
constexpr std::size_t kRecvBuffer = 1 << 16;  // bytes per recv
constexpr int kSocketBuffer = 1 << 20;       // SO_RCVBUF/SO_SNDBUF, far above a window of acks
constexpr int kEventBuffer = 8 << 20;        // event socket SO_RCVBUF

int af_of(Family f) { return f == Family::kV4 ? AF_INET : AF_INET6; }

NlAddr build_addr(const IpAddress& ip, int prefix) {
  NlAddr a(nl_addr_build(af_of(ip.family), ip.bytes.data(), ip.size()));
  if (a) nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

// RTM_NEWLINK for an ipip or ip6tnl device in external (collect-metadata)
// mode, up: it takes every tunnelled packet no more specific tunnel
// claims, beside the module's own tunl0 (a second device without
// endpoints would collide with it: EEXIST), as Katran's `ipip0 external`
// does. libnl has no setter for that flag, so the request is built with
// its attribute API. A kernel without the type answers EOPNOTSUPP.
NlMsg tunnel_link_msg(const LinkSpec& spec) {
  NlMsg m(nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL));
  if (!m) return nullptr;
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  if (nlmsg_append(m.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0) return nullptr;
  if (nla_put_string(m.get(), IFLA_IFNAME, spec.name.c_str()) < 0) return nullptr;
  nlattr* info = nla_nest_start(m.get(), IFLA_LINKINFO);
  if (info == nullptr || nla_put_string(m.get(), IFLA_INFO_KIND, spec.kind.c_str()) < 0) return nullptr;
  nlattr* data = nla_nest_start(m.get(), IFLA_INFO_DATA);
  if (data == nullptr || nla_put_flag(m.get(), kIptunCollectMetadata) < 0) return nullptr;
  nla_nest_end(m.get(), data);
  nla_nest_end(m.get(), info);
  return m;
}

bool to_ip(nl_addr* a, IpAddress& out) {
  if (!a) return false;
  const int fam = nl_addr_get_family(a);
  const unsigned len = nl_addr_get_len(a);
  if (fam == AF_INET && len == 4) {
    out.family = Family::kV4;
  } else if (fam == AF_INET6 && len == 16) {
    out.family = Family::kV6;
  } else {
    return false;
  }
  out.bytes = {};
  std::memcpy(out.bytes.data(), nl_addr_get_binary_addr(a), len);
  return true;
}

// The kernel's extended-ack text ("Nexthop device is not up") of an
// NLMSG_ERROR, if it sent one. libnl maps errno to its own NLE_* codes and
// drops this text, so rsagent reads the raw message.
std::string ext_ack_message(const nlmsghdr* hdr) {
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(hdr));
  // With NETLINK_CAP_ACK the echoed request is only its header.
  std::size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(nlmsghdr);
  off = NLMSG_ALIGN(off);
  const auto* base = reinterpret_cast<const char*>(hdr);
  while (off + sizeof(nlattr) <= hdr->nlmsg_len) {
    const auto* at = reinterpret_cast<const nlattr*>(base + off);
    if (at->nla_len < sizeof(nlattr) || off + at->nla_len > hdr->nlmsg_len) break;
    if ((at->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      const char* str = base + off + NLA_HDRLEN;
      return std::string(str, strnlen(str, at->nla_len - NLA_HDRLEN));
    }
    off += NLA_ALIGN(at->nla_len);
  }
  return {};
}

// Errors of libnl's own request/ack exchanges (the dumps), with errno and text.
struct LastError {
  int err = 0;
  std::string message;
};

int on_error(sockaddr_nl* /*nla*/, nlmsgerr* e, void* arg) {
  auto* last = static_cast<LastError*>(arg);
  last->err = -e->error;
  last->message = ext_ack_message(
      reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN));
  return NL_STOP;
}

class NetlinkKernel final : public Kernel {
 public:
  static Result<std::unique_ptr<Kernel>> open() {
    auto k = std::unique_ptr<NetlinkKernel>(new NetlinkKernel());
    k->sock_.reset(nl_socket_alloc());
    if (!k->sock_) return errno_error(ENOMEM, "netlink: allocate socket");
    if (const int rc = nl_connect(k->sock_.get(), NETLINK_ROUTE); rc < 0)
      return make_error(std::string("netlink: connect: ") + nl_geterror(rc));
    const int fd = nl_socket_get_fd(k->sock_.get());
    const int one = 1;
    // Best effort: older kernels lack these, and errors are still reported.
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    nl_socket_modify_err_cb(k->sock_.get(), NL_CB_CUSTOM, on_error, &k->last_);
    (void)nl_socket_set_buffer_size(k->sock_.get(), kSocketBuffer, kSocketBuffer);
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Result<KernelSnapshot> observe(bool with_objects) override {
    KernelSnapshot snap;
    NlCache links;
    NlCache addrs;
    NlCache routes;
    if (auto s = dump("links", [&](nl_cache** c) { return rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, c); }, links); !s)
      return s.error();
    if (with_objects) {
      if (auto s = dump("addresses", [&](nl_cache** c) { return rtnl_addr_alloc_cache(sock_.get(), c); }, addrs); !s)
        return s.error();
      if (auto s = dump("routes", [&](nl_cache** c) { return rtnl_route_alloc_cache(sock_.get(), AF_UNSPEC, 0, c); }, routes); !s)
        return s.error();
    }

    for (nl_object* o = nl_cache_get_first(links.get()); o; o = nl_cache_get_next(o)) {
      auto* l = reinterpret_cast<rtnl_link*>(o);
      const unsigned flags = rtnl_link_get_flags(l);
      const char* name = rtnl_link_get_name(l);
      snap.links.push_back(Link{rtnl_link_get_ifindex(l), name ? name : "", (flags & IFF_UP) != 0,
                                (flags & IFF_LOOPBACK) != 0});
    }
    if (!with_objects) return snap;
    for (nl_object* o = nl_cache_get_first(addrs.get()); o; o = nl_cache_get_next(o)) {
      auto* a = reinterpret_cast<rtnl_addr*>(o);
      ObservedAddress oa;
      if (!to_ip(rtnl_addr_get_local(a), oa.address)) continue;
      oa.prefix = rtnl_addr_get_prefixlen(a);
      oa.ifindex = rtnl_addr_get_ifindex(a);
      const char* label = rtnl_addr_get_label(a);
      oa.label = label ? label : "";
      snap.addresses.push_back(std::move(oa));
    }
    int lo_index = 0;
    for (const auto& l : snap.links)
      if (l.loopback) lo_index = l.ifindex;
    for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
      auto* r = reinterpret_cast<rtnl_route*>(o);
      const std::uint32_t table = rtnl_route_get_table(r);
      const bool local = table == RT_TABLE_LOCAL;
      // The local table holds a local and a broadcast route per address,
      // made by the kernel. Keep the local routes someone added (route-mode
      // VIPs, and what they could clash with) and the kernel's local route
      // of a host address on lo: it tells when a VIP moving to address mode
      // is local again (IPv6 installs it after the address, from a work queue).
      if (local && rtnl_route_get_type(r) != RTN_LOCAL) continue;
      const bool by_kernel = rtnl_route_get_protocol(r) == RTPROT_KERNEL;
      if (local && by_kernel &&
          (rtnl_route_get_nnexthops(r) != 1 || rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0)) != lo_index))
        continue;
      ObservedRoute orr;
      nl_addr* dst = rtnl_route_get_dst(r);
      if (!to_ip(dst, orr.dst)) continue;
      orr.prefix = static_cast<int>(nl_addr_get_prefixlen(dst));
      // Elsewhere only host routes can clash with an address-mode VIP's.
      if ((!local || by_kernel) && orr.prefix != orr.dst.max_prefix()) continue;
      orr.type = local ? RouteType::kLocal : RouteType::kUnicast;
      orr.table = table;
      orr.metric = rtnl_route_get_priority(r);
      orr.protocol = rtnl_route_get_protocol(r);
      if (rtnl_route_get_nnexthops(r) == 1)
        orr.oif = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0));
      snap.routes.push_back(orr);
    }
    return snap;
  }

  Result<int> open_events() override {
    if (events_) return epoll_.get() >= 0 ? epoll_.get() : nl_socket_get_fd(events_.get());
    NlSock ev(nl_socket_alloc());
    if (!ev) return errno_error(ENOMEM, "netlink: allocate event socket");
    nl_socket_disable_seq_check(ev.get());
    if (const int rc = nl_connect(ev.get(), NETLINK_ROUTE); rc < 0)
      return make_error(std::string("netlink: connect event socket: ") + nl_geterror(rc));
    if (const int rc = nl_socket_add_memberships(ev.get(), RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
                                                 RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
                                                 RTNLGRP_IPV6_ROUTE, 0);
        rc < 0)
      return make_error(std::string("netlink: subscribe: ") + nl_geterror(rc));
    // A big buffer rides out bursts (a flood of changes elsewhere); if it
    // still overflows, drain_events() reports it and the caller resyncs.
    (void)nl_socket_set_buffer_size(ev.get(), kEventBuffer, 0);
    (void)nl_socket_set_nonblocking(ev.get());
    events_ = std::move(ev);
    // rsagent's nftables table (the MSS clamp) changes out of rtnetlink's
    // sight: a second socket on nftables' group, and an epoll fd over both
    // for the owner to poll. Without nf_tables (no such group) or epoll,
    // the table is left to the periodic check, as before.
    UniqueFd nft(::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER));
    const int group = NFNLGRP_NFTABLES;
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (nft.get() >= 0 && ep.get() >= 0 &&
        ::bind(nft.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) == 0 &&
        ::setsockopt(nft.get(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) == 0) {
      (void)::setsockopt(nft.get(), SOL_SOCKET, SO_RCVBUF, &kSocketBuffer, sizeof kSocketBuffer);
      epoll_event in{};
      in.events = EPOLLIN;
      in.data.fd = nl_socket_get_fd(events_.get());
      epoll_event in_nft{};
      in_nft.events = EPOLLIN;
      in_nft.data.fd = nft.get();
      if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, in.data.fd, &in) == 0 &&
          ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, nft.get(), &in_nft) == 0) {
        nft_events_ = std::move(nft);
        epoll_ = std::move(ep);
        return epoll_.get();
      }
    }
    return nl_socket_get_fd(events_.get());
  }

  Drained drain_events() override {
    Drained d;
    d.changed = false;
    if (!events_) return d;
    const int fd = nl_socket_get_fd(events_.get());
    std::vector<char> buf(kRecvBuffer);
    while (true) {
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) {
          d.lost = true;
          continue;
        }
        break;  // EAGAIN: nothing more pending
      }
      if (n == 0) break;
      d.changed = true;
    }
    drain_nft(d, buf);
    return d;
  }

  // The nftables events: only those about rsagent's own table count (in
  // every nftables message but the generation's, attribute 1 is the table's
  // name), so another firewall's rule changes cost nothing.
  void drain_nft(Drained& d, std::vector<char>& buf) {
    if (nft_events_.get() < 0) return;
    const std::string table = std::string(kClampTable) + '\0';
    while (true) {
      const ssize_t n = ::recv(nft_events_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        // A blocklist loader's thousands of set elements overflow this
        // socket without touching rsagent's table: look at the table again
        // rather than resync every address and route.
        if (errno == ENOBUFS) {
          d.changed = true;
          continue;
        }
        break;
      }
      if (n == 0) break;
      // By hand, as below: NLMSG_OK/NLMSG_NEXT mix signed and unsigned.
      const auto total = static_cast<std::size_t>(n);
      for (std::size_t off = 0; off + sizeof(nlmsghdr) <= total;) {
        const auto* h = reinterpret_cast<const nlmsghdr*>(buf.data() + off);
        if (h->nlmsg_len < sizeof(nlmsghdr) || off + h->nlmsg_len > total) break;
        off += NLMSG_ALIGN(h->nlmsg_len);
        if ((h->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) continue;
        const std::size_t head = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
        if (h->nlmsg_len < head + NLA_HDRLEN) continue;
        const auto* a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(h) + head);
        const std::size_t room = h->nlmsg_len - head;
        if (a->nla_len < NLA_HDRLEN || a->nla_len > room || (a->nla_type & NLA_TYPE_MASK) != 1) continue;
        const std::string name(reinterpret_cast<const char*>(a) + NLA_HDRLEN, a->nla_len - NLA_HDRLEN);
        if (name == table || name + '\0' == table) d.changed = true;
      }
    }
  }

  std::vector<Status> execute(const std::vector<KernelOp>& ops) override {
    std::vector<Status> results(ops.size());
    std::size_t next = 0;
    while (next < ops.size()) {
      // nftables changes go through libnftables, one at a time.
      if (ops[next].kind == KernelOp::Kind::kSetClamp || ops[next].kind == KernelOp::Kind::kDelClamp) {
        const KernelOp& op = ops[next];
        const std::string table = std::string("inet ") + kClampTable;
        Status st = op.kind == KernelOp::Kind::kSetClamp ? nft::run(op.nft) : nft::run("delete table " + table);
        results[next] = st ? std::move(st) : Status(st.error()).with_context(op.str());
        ++next;
        continue;
      }
      next = run_window(ops, next, results);
    }
    return results;
  }

  Result<std::optional<std::string>> clamp_listing() override { return nft::list_table("inet", kClampTable); }

 private:
  NetlinkKernel() = default;
  NlSock sock_;
  NlSock events_;
  UniqueFd nft_events_;  // nftables' group, when the kernel has it
  UniqueFd epoll_;       // over events_ and nft_events_: what open_events() hands out
  LastError last_;
  int build_err_ = ENOMEM;  // why build_request last returned nullptr
  std::uint32_t seq_ = 0x52530000;  // our own range, apart from libnl's counters

  // Sends up to kWindow requests in one sendmsg and collects their acks.
  // The kernel handles each message of the batch in turn and acks each, so
  // one failure does not stop the rest; the window keeps the acks well
  // inside the receive buffer.
  std::size_t run_window(const std::vector<KernelOp>& ops, std::size_t first,
                         std::vector<Status>& results) {
    std::string buf;
    std::vector<std::size_t> index;  // op index by seq - first_seq
    const std::uint32_t first_seq = seq_;
    std::size_t i = first;
    for (; i < ops.size() && index.size() < kWindow && ops[i].kind != KernelOp::Kind::kSetClamp &&
           ops[i].kind != KernelOp::Kind::kDelClamp;
         ++i) {
      NlMsg msg = build_request(ops[i]);
      if (!msg) {
        results[i] = errno_error(build_err_, "build request");
        results[i] = Status(results[i].error()).with_context(ops[i].str());
        continue;
      }
      nlmsghdr* h = nlmsg_hdr(msg.get());
      h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
      h->nlmsg_seq = seq_++;
      h->nlmsg_pid = 0;
      buf.append(reinterpret_cast<const char*>(h), NLMSG_ALIGN(h->nlmsg_len));
      index.push_back(i);
    }
    if (index.empty()) return i;
    const int fd = nl_socket_get_fd(sock_.get());
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t sent;
    do {
      sent = ::sendto(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      const int e = errno;
      for (std::size_t k : index) results[k] = Status(errno_error(e, "netlink send")).with_context(ops[k].str());
      return i;
    }
    std::vector<bool> answered(index.size(), false);
    std::size_t pending = index.size();
    std::vector<char> rbuf(kRecvBuffer);
    while (pending > 0) {
      const ssize_t n = ::recv(fd, rbuf.data(), rbuf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int e = errno;
        // Lost acks (ENOBUFS): the outcome of what is unanswered is unknown.
        for (std::size_t k = 0; k < index.size(); ++k)
          if (!answered[k])
            results[index[k]] = Status(errno_error(e, "netlink receive; outcome unknown"))
                                    .with_context(ops[index[k]].str());
        break;
      }
      // NLMSG_OK/NLMSG_NEXT mix signed and unsigned; walk the buffer by hand.
      const auto total = static_cast<std::size_t>(n);
      for (std::size_t off = 0; off + sizeof(nlmsghdr) <= total;) {
        auto* h = reinterpret_cast<nlmsghdr*>(rbuf.data() + off);
        if (h->nlmsg_len < sizeof(nlmsghdr) || off + h->nlmsg_len > total) break;
        off += NLMSG_ALIGN(h->nlmsg_len);
        if (h->nlmsg_type != NLMSG_ERROR) continue;
        const std::uint32_t slot = h->nlmsg_seq - first_seq;
        if (slot >= index.size() || answered[slot]) continue;
        answered[slot] = true;
        --pending;
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        const std::size_t k = index[slot];
        if (e->error == 0) continue;
        results[k] = Status(errno_error(-e->error, ext_ack_message(h))).with_context(ops[k].str());
      }
    }
    return i;
  }

  NlMsg build_request(const KernelOp& op) {
    build_err_ = ENOMEM;
    nl_msg* m = nullptr;
    int rc = -1;
    switch (op.kind) {
      case KernelOp::Kind::kAddAddress:
      case KernelOp::Kind::kDelAddress: {
        const bool add = op.kind == KernelOp::Kind::kAddAddress;
        // No label on delete: IPv4 delete matches on the label when one is
        // given, and a relabelled address is still the one rsagent created.
        // A device named, not indexed: it may have been created by the op
        // just before (the engine sends link ops on their own).
        int ifindex = op.ifindex;
        if (ifindex == 0 && !op.address.dev.empty())
          ifindex = static_cast<int>(::if_nametoindex(op.address.dev.c_str()));
        auto a = build(op.address, ifindex, add);
        if (!a) return nullptr;
        rc = add ? rtnl_addr_build_add_request(a.get(), NLM_F_EXCL, &m)
                 : rtnl_addr_build_delete_request(a.get(), 0, &m);
        break;
      }
      case KernelOp::Kind::kAddRoute:
      case KernelOp::Kind::kDelRoute: {
        auto r = build(op.route, op.ifindex);
        if (!r) return nullptr;
        rc = op.kind == KernelOp::Kind::kAddRoute ? rtnl_route_build_add_request(r.get(), NLM_F_EXCL, &m)
                                                  : rtnl_route_build_del_request(r.get(), 0, &m);
        break;
      }
      case KernelOp::Kind::kAddLink: return tunnel_link_msg(op.link);
      case KernelOp::Kind::kDelLink: {
        RtnlLink l(rtnl_link_alloc());
        if (!l) return nullptr;
        rtnl_link_set_name(l.get(), op.link.name.c_str());
        rc = rtnl_link_build_delete_request(l.get(), &m);
        break;
      }
      case KernelOp::Kind::kSetClamp:
      case KernelOp::Kind::kDelClamp: build_err_ = EINVAL; return nullptr;  // not netlink: execute() runs them
      case KernelOp::Kind::kLinkUp:
      case KernelOp::Kind::kLinkDown: {
        RtnlLink orig(rtnl_link_alloc());
        RtnlLink change(rtnl_link_alloc());
        if (!orig || !change) return nullptr;
        const auto index = ::if_nametoindex(op.link.name.c_str());
        if (index == 0) {
          build_err_ = ENODEV;
          return nullptr;
        }
        rtnl_link_set_ifindex(orig.get(), static_cast<int>(index));
        if (op.kind == KernelOp::Kind::kLinkUp) {
          rtnl_link_set_flags(change.get(), IFF_UP);
        } else {
          rtnl_link_unset_flags(change.get(), IFF_UP);
        }
        rc = rtnl_link_build_change_request(orig.get(), change.get(), 0, &m);
        break;
      }
    }
    if (rc < 0) return nullptr;
    return NlMsg(m);
  }

  template <typename F>
  Status dump(const char* what, F alloc, NlCache& out) {
    int rc = 0;
    for (int attempt = 0; attempt < kDumpRetries; ++attempt) {
      nl_cache* c = nullptr;
      last_ = {};
      rc = alloc(&c);
      if (rc >= 0) {
        out.reset(c);
        return {};
      }
      // A dump that raced with a change is marked interrupted; ask again.
      if (rc != -NLE_DUMP_INTR) break;
    }
    return check(rc, std::string("dump ") + what);
  }

  Status check(int rc, const std::string& what) {
    if (rc >= 0) {
      last_ = {};
      return {};
    }
    Error e;
    if (last_.err != 0) {
      e = errno_error(last_.err, last_.message);
    } else {
      e = make_error(nl_geterror(rc));
    }
    last_ = {};
    e.context.push_back(what);
    return e;
  }

  RtnlAddr build(const AddressSpec& spec, int ifindex, bool with_attrs) {
    RtnlAddr a(rtnl_addr_alloc());
    NlAddr local = build_addr(spec.address, spec.prefix);
    if (!a || !local) return nullptr;
    rtnl_addr_set_ifindex(a.get(), ifindex);
    rtnl_addr_set_family(a.get(), af_of(spec.address.family));
    if (rtnl_addr_set_local(a.get(), local.get()) < 0) return nullptr;
    rtnl_addr_set_prefixlen(a.get(), spec.prefix);
    if (with_attrs) {
      if (spec.address.family == Family::kV4 && !spec.label.empty()) {
        if (rtnl_addr_set_label(a.get(), spec.label.c_str()) < 0) return nullptr;
      }
      // The same VIP lives on every real server: duplicate address detection
      // would find the other servers' copies (or delay use), so skip it.
      if (spec.address.family == Family::kV6) rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
    }
    return a;
  }

  RtnlRoute build(const RouteSpec& spec, int ifindex) {
    RtnlRoute r(rtnl_route_alloc());
    NlAddr dst = build_addr(spec.dst, spec.prefix);
    if (!r || !dst) return nullptr;
    rtnl_route_set_family(r.get(), af_of(spec.dst.family));
    if (rtnl_route_set_dst(r.get(), dst.get()) < 0) return nullptr;
    rtnl_route_set_table(r.get(), spec.table);
    rtnl_route_set_protocol(r.get(), kRouteProtocol);
    if (spec.type == RouteType::kLocal) {
      // What `ip route add local PREFIX dev lo table local` makes: every
      // address in PREFIX is this host's own (scope host, as iproute2 sets).
      rtnl_route_set_type(r.get(), RTN_LOCAL);
      rtnl_route_set_scope(r.get(), RT_SCOPE_HOST);
    } else {
      rtnl_route_set_type(r.get(), RTN_UNICAST);
      // What `route add -host VIP dev lo` makes: a directly attached host.
      rtnl_route_set_scope(r.get(), spec.dst.family == Family::kV4 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
    }
    rtnl_route_set_priority(r.get(), spec.metric);
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (!nh) return nullptr;
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_add_nexthop(r.get(), nh);  // the route owns nh from here
    return r;
  }
};

}  // namespace

Result<std::unique_ptr<Kernel>> make_netlink_kernel() { return NetlinkKernel::open(); }

std::vector<std::uint8_t> tunnel_link_request(const LinkSpec& spec) {
  NlMsg m = tunnel_link_msg(spec);
  if (!m) return {};
  const nlmsghdr* h = nlmsg_hdr(m.get());
  const auto* p = reinterpret_cast<const std::uint8_t*>(h);
  return {p, p + h->nlmsg_len};
}

}  // namespace rsagent::net
