// The only file that includes <netlink/...>: rtnetlink through libnl-route-3.
// Raw libnl pointers live in std::unique_ptr aliases and never leave this file.
#include "rsagent/net/kernel.hpp"

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
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

constexpr int kDumpRetries = 5;

int af_of(Family f) { return f == Family::kV4 ? AF_INET : AF_INET6; }

NlAddr build_addr(const IpAddress& ip, int prefix) {
  NlAddr a(nl_addr_build(af_of(ip.family), ip.bytes.data(), ip.size()));
  if (a) nl_addr_set_prefixlen(a.get(), prefix);
  return a;
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

// What the kernel said about the last failed request: errno plus the
// extended-ack text ("Nexthop device is not up"). libnl maps errno to its own
// NLE_* codes and drops the text, so capture both from the raw NLMSG_ERROR.
struct LastError {
  int err = 0;
  std::string message;
};

int on_error(sockaddr_nl* /*nla*/, nlmsgerr* e, void* arg) {
  auto* last = static_cast<LastError*>(arg);
  last->err = -e->error;
  last->message.clear();
  const auto* hdr =
      reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
  if (hdr->nlmsg_flags & NLM_F_ACK_TLVS) {
    // With NETLINK_CAP_ACK the echoed request is only its header.
    std::size_t off = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(nlmsghdr);
    off = NLMSG_ALIGN(off);
    const auto* base = reinterpret_cast<const char*>(hdr);
    while (off + sizeof(nlattr) <= hdr->nlmsg_len) {
      const auto* at = reinterpret_cast<const nlattr*>(base + off);
      if (at->nla_len < sizeof(nlattr) || off + at->nla_len > hdr->nlmsg_len) break;
      if ((at->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
        const char* s = base + off + NLA_HDRLEN;
        last->message.assign(s, strnlen(s, at->nla_len - NLA_HDRLEN));
      }
      off += NLA_ALIGN(at->nla_len);
    }
  }
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
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Result<KernelSnapshot> observe() override {
    KernelSnapshot snap;
    NlCache links;
    NlCache addrs;
    NlCache routes;
    if (auto s = dump("links", [&](nl_cache** c) { return rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, c); }, links); !s)
      return s.error();
    if (auto s = dump("addresses", [&](nl_cache** c) { return rtnl_addr_alloc_cache(sock_.get(), c); }, addrs); !s)
      return s.error();
    if (auto s = dump("routes", [&](nl_cache** c) { return rtnl_route_alloc_cache(sock_.get(), AF_UNSPEC, 0, c); }, routes); !s)
      return s.error();

    for (nl_object* o = nl_cache_get_first(links.get()); o; o = nl_cache_get_next(o)) {
      auto* l = reinterpret_cast<rtnl_link*>(o);
      const unsigned flags = rtnl_link_get_flags(l);
      const char* name = rtnl_link_get_name(l);
      snap.links.push_back(Link{rtnl_link_get_ifindex(l), name ? name : "", (flags & IFF_UP) != 0,
                                (flags & IFF_LOOPBACK) != 0});
    }
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
    for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
      auto* r = reinterpret_cast<rtnl_route*>(o);
      const std::uint32_t table = rtnl_route_get_table(r);
      // The local table holds the kernel's own entries for local addresses;
      // rsagent never plans against it.
      if (table == RT_TABLE_LOCAL) continue;
      ObservedRoute orr;
      nl_addr* dst = rtnl_route_get_dst(r);
      if (!to_ip(dst, orr.dst)) continue;
      orr.prefix = static_cast<int>(nl_addr_get_prefixlen(dst));
      if (orr.prefix != orr.dst.max_prefix()) continue;  // only host routes can clash with a VIP's
      orr.table = table;
      orr.metric = rtnl_route_get_priority(r);
      orr.protocol = rtnl_route_get_protocol(r);
      if (rtnl_route_get_nnexthops(r) == 1)
        orr.oif = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0));
      snap.routes.push_back(orr);
    }
    return snap;
  }

  Status add_address(const AddressSpec& spec, int ifindex) override {
    auto a = build(spec, ifindex, true);
    if (!a) return errno_error(ENOMEM, "add address " + spec.str());
    return check(rtnl_addr_add(sock_.get(), a.get(), NLM_F_EXCL), "add address " + spec.str());
  }

  Status del_address(const AddressSpec& spec, int ifindex) override {
    // No label here: IPv4 delete matches on the label when one is given, and
    // a relabelled address is still the one rsagent created.
    auto a = build(spec, ifindex, false);
    if (!a) return errno_error(ENOMEM, "delete address " + spec.str());
    auto s = check(rtnl_addr_delete(sock_.get(), a.get(), 0), "delete address " + spec.str());
    if (!s && (s.error().err == EADDRNOTAVAIL || s.error().err == ENOENT || s.error().err == ENODEV))
      return {};  // already gone
    return s;
  }

  Status add_route(const RouteSpec& spec, int ifindex) override {
    auto r = build(spec, ifindex);
    if (!r) return errno_error(ENOMEM, "add route " + spec.str());
    return check(rtnl_route_add(sock_.get(), r.get(), NLM_F_EXCL), "add route " + spec.str());
  }

  Status del_route(const RouteSpec& spec, int ifindex) override {
    auto r = build(spec, ifindex);
    if (!r) return errno_error(ENOMEM, "delete route " + spec.str());
    auto s = check(rtnl_route_delete(sock_.get(), r.get(), 0), "delete route " + spec.str());
    if (!s && (s.error().err == ESRCH || s.error().err == ENOENT || s.error().err == ENODEV))
      return {};  // already gone
    return s;
  }

 private:
  NetlinkKernel() = default;
  NlSock sock_;
  LastError last_;

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
    rtnl_route_set_type(r.get(), RTN_UNICAST);
    // What `route add -host VIP dev lo` makes: a directly attached host.
    rtnl_route_set_scope(r.get(), spec.dst.family == Family::kV4 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
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

}  // namespace rsagent::net
