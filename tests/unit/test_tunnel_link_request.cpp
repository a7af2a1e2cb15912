// The netlink request that creates a tunnel device (ipip, ip6tnl), read
// with the kernel's own headers: this kernel has neither module, so the
// request is all that can be checked here short of a kernel that has them.
#include "rsagent/net/kernel.hpp"

#include <doctest/doctest.h>

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace rsagent::net;

namespace {

// The attributes of one level, by type (nested ones kept as raw bytes).
std::map<int, std::string> attrs(const char* p, std::size_t len) {
  std::map<int, std::string> out;
  auto* a = reinterpret_cast<const rtattr*>(p);
  auto left = static_cast<unsigned int>(len);
  for (; RTA_OK(a, left); a = RTA_NEXT(a, left))
    out[a->rta_type & NLA_TYPE_MASK] = std::string(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a));
  CHECK(left == 0);  // nothing left over: every attribute well formed
  return out;
}

struct Request {
  nlmsghdr hdr{};
  ifinfomsg ifi{};
  std::map<int, std::string> top, info, data;
};

Request read_request(const LinkSpec& spec) {
  const auto bytes = tunnel_link_request(spec);
  REQUIRE(bytes.size() >= NLMSG_LENGTH(sizeof(ifinfomsg)));
  Request r;
  std::memcpy(&r.hdr, bytes.data(), sizeof r.hdr);
  REQUIRE(r.hdr.nlmsg_len == bytes.size());
  const char* body = reinterpret_cast<const char*>(bytes.data()) + NLMSG_HDRLEN;
  std::memcpy(&r.ifi, body, sizeof r.ifi);
  const std::size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifinfomsg));
  r.top = attrs(reinterpret_cast<const char*>(bytes.data()) + off, bytes.size() - off);
  REQUIRE(r.top.count(IFLA_LINKINFO) == 1);
  r.info = attrs(r.top[IFLA_LINKINFO].data(), r.top[IFLA_LINKINFO].size());
  REQUIRE(r.info.count(IFLA_INFO_DATA) == 1);
  r.data = attrs(r.info[IFLA_INFO_DATA].data(), r.info[IFLA_INFO_DATA].size());
  return r;
}

}  // namespace

TEST_CASE("the request that creates an ipip device asks for a new link named as configured, of kind ipip, external, up") {
  const Request r = read_request(LinkSpec{"ipip0", "ipip"});
  CHECK(r.hdr.nlmsg_type == RTM_NEWLINK);
  // Create, and fail with EEXIST rather than change a device someone made meanwhile.
  CHECK((r.hdr.nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) == (NLM_F_CREATE | NLM_F_EXCL));
  CHECK((r.hdr.nlmsg_flags & NLM_F_REPLACE) == 0);
  CHECK(r.ifi.ifi_family == AF_UNSPEC);
  CHECK(r.ifi.ifi_index == 0);
  CHECK((r.ifi.ifi_flags & IFF_UP) != 0);
  CHECK((r.ifi.ifi_change & IFF_UP) != 0);
  CHECK(r.top.at(IFLA_IFNAME) == std::string("ipip0") + '\0');
  CHECK(r.info.at(IFLA_INFO_KIND) == std::string("ipip") + '\0');
  // External (collect-metadata) mode: a flag attribute, no endpoints.
  REQUIRE(r.data.count(IFLA_IPTUN_COLLECT_METADATA) == 1);
  CHECK(r.data.at(IFLA_IPTUN_COLLECT_METADATA).empty());
  CHECK(r.data.size() == 1);
  CHECK(r.top.count(IFLA_LINK) == 0);  // bound to no lower device
}

TEST_CASE("the request that creates an ip6tnl device is the same with kind ip6tnl") {
  const Request r = read_request(LinkSpec{"ip6tnl9", "ip6tnl"});
  CHECK(r.hdr.nlmsg_type == RTM_NEWLINK);
  CHECK((r.hdr.nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) == (NLM_F_CREATE | NLM_F_EXCL));
  CHECK((r.ifi.ifi_flags & IFF_UP) != 0);
  CHECK(r.top.at(IFLA_IFNAME) == std::string("ip6tnl9") + '\0');
  CHECK(r.info.at(IFLA_INFO_KIND) == std::string("ip6tnl") + '\0');
  REQUIRE(r.data.count(IFLA_IPTUN_COLLECT_METADATA) == 1);
  CHECK(r.data.size() == 1);
}
