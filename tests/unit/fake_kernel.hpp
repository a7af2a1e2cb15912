// In-memory Kernel and SysctlStore for unit tests. They keep state like the
// kernel does and fail the way it does: EEXIST on a duplicate add,
// EADDRNOTAVAIL / ESRCH on deleting what is gone (the engine takes those as
// success), ENODEV for an unknown interface, ENOENT for a sysctl of a
// missing interface. Routes match as the kernel matches them: table,
// destination, prefix and metric, and a delete also on protocol and type. `fail_on` injects one failure by substring;
// `before_execute` runs before each batch of changes (a test's way to act
// between the write-ahead journal and the kernel changes).
#pragma once

#include "rsagent/net/kernel.hpp"

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace rsagent::test {

class FakeKernel final : public net::Kernel {
 public:
  net::KernelSnapshot state;
  std::string fail_on;  // a substring of an action's object; that call fails with fail_errno
  int fail_errno = EPERM;
  int calls = 0;
  std::function<void()> before_execute;
  // Link kinds this kernel can make ("ipip", "ip6tnl"); others: EOPNOTSUPP,
  // as a kernel without the module answers.
  std::vector<std::string> link_kinds{"ipip", "ip6tnl"};
  // Runs when a link is made (a test's way to give it its /proc/sys files).
  std::function<void(const net::LinkSpec&)> on_link_added;

  FakeKernel() {
    state.links = {{1, "lo", true, true}, {2, "eth0", true, false}};
    auto lo4 = IpAddress::parse("127.0.0.1");
    state.addresses.push_back({*lo4, 8, 1, "lo"});
  }

  Result<net::KernelSnapshot> observe(bool with_objects = true) override {
    if (with_objects) return state;
    net::KernelSnapshot links_only;
    links_only.links = state.links;
    return links_only;
  }

  // rsagent's nftables table as the kernel would list it; nullopt: none.
  std::optional<std::string> clamp;
  Result<std::optional<std::string>> clamp_listing() override { return clamp; }

  Result<int> open_events() override { return errno_error(ENOTSUP, "fake kernel: no events"); }
  Drained drain_events() override { return {}; }

  std::vector<Status> execute(const std::vector<net::KernelOp>& ops) override {
    if (before_execute) before_execute();
    std::vector<Status> out;
    for (const auto& op : ops) {
      switch (op.kind) {
        case net::KernelOp::Kind::kAddAddress: out.push_back(add_address(op.address, index_of(op))); break;
        case net::KernelOp::Kind::kDelAddress: out.push_back(del_address(op.address, index_of(op))); break;
        case net::KernelOp::Kind::kAddLink: out.push_back(add_link(op.link)); break;
        case net::KernelOp::Kind::kDelLink: out.push_back(del_link(op.link)); break;
        case net::KernelOp::Kind::kLinkUp:
        case net::KernelOp::Kind::kLinkDown:
          out.push_back(set_up(op.link, op.kind == net::KernelOp::Kind::kLinkUp));
          break;
        case net::KernelOp::Kind::kSetClamp:
          ++calls;
          clamp = op.nft;
          out.push_back({});
          break;
        case net::KernelOp::Kind::kDelClamp:
          ++calls;
          out.push_back(clamp ? Status{} : Status(errno_error(ENOENT, "No such file or directory")));
          clamp.reset();
          break;
        case net::KernelOp::Kind::kAddRoute: out.push_back(add_route(op.route, op.ifindex)); break;
        case net::KernelOp::Kind::kDelRoute: out.push_back(del_route(op.route, op.ifindex)); break;
      }
    }
    return out;
  }

 private:
  // An address op names its device or carries lo's index.
  int index_of(const net::KernelOp& op) const {
    if (op.ifindex != 0 || op.address.dev.empty()) return op.ifindex;
    for (const auto& l : state.links)
      if (l.name == op.address.dev) return l.ifindex;
    return -1;
  }
  net::Link* link_named(const std::string& name) {
    for (auto& l : state.links)
      if (l.name == name) return &l;
    return nullptr;
  }
  Status add_link(const net::LinkSpec& spec) {
    ++calls;
    if (auto e = injected("add link " + spec.str())) return *e;
    if (std::find(link_kinds.begin(), link_kinds.end(), spec.kind) == link_kinds.end())
      return errno_error(EOPNOTSUPP, "Unknown device type");
    if (link_named(spec.name)) return errno_error(EEXIST, "add link " + spec.name);
    int next = 1;
    for (const auto& l : state.links) next = std::max(next, l.ifindex + 1);
    state.links.push_back({next, spec.name, true, false});
    if (on_link_added) on_link_added(spec);
    return {};
  }
  Status del_link(const net::LinkSpec& spec) {
    ++calls;
    if (auto e = injected("delete link " + spec.name)) return *e;
    const net::Link* l = link_named(spec.name);
    if (!l) return errno_error(ENODEV, "delete link " + spec.name);
    const int index = l->ifindex;
    std::erase_if(state.addresses, [&](const net::ObservedAddress& o) { return o.ifindex == index; });
    std::erase_if(state.links, [&](const net::Link& x) { return x.ifindex == index; });
    return {};
  }
  Status set_up(const net::LinkSpec& spec, bool up) {
    ++calls;
    if (auto e = injected("set link " + spec.name)) return *e;
    net::Link* l = link_named(spec.name);
    if (!l) return errno_error(ENODEV, "set link " + spec.name);
    l->up = up;
    return {};
  }

  Status add_address(const net::AddressSpec& a, int ifindex) {
    ++calls;
    if (auto e = injected("add address " + a.str())) return *e;
    if (!has_link(ifindex)) return errno_error(ENODEV, "add address " + a.str());
    for (const auto& o : state.addresses)
      if (o.address == a.address && o.ifindex == ifindex)
        return errno_error(EEXIST, "add address " + a.str());
    state.addresses.push_back({a.address, a.prefix, ifindex, a.label});
    // The kernel's own local route of the address (on lo: what the netlink
    // edge keeps of it).
    if (ifindex == 1)
      state.routes.push_back({a.address, a.address.max_prefix(), net::kLocalTable, 0, net::kKernelProtocol,
                              ifindex, net::RouteType::kLocal});
    return {};
  }
  Status del_address(const net::AddressSpec& a, int ifindex) {
    ++calls;
    if (auto e = injected("delete address " + a.str())) return *e;
    auto& v = state.addresses;
    if (std::erase_if(v, [&](const net::ObservedAddress& o) {
          return o.address == a.address && o.ifindex == ifindex;
        }) == 0)
      return errno_error(EADDRNOTAVAIL, "delete address " + a.str());
    std::erase_if(state.routes, [&](const net::ObservedRoute& o) {
      return o.protocol == net::kKernelProtocol && o.dst == a.address && o.table == net::kLocalTable;
    });
    return {};
  }
  Status add_route(const net::RouteSpec& r, int ifindex) {
    ++calls;
    if (auto e = injected("add route " + r.str())) return *e;
    for (const auto& o : state.routes)
      if (o.dst == r.dst && o.prefix == r.prefix && o.table == r.table && o.metric == r.metric)
        return errno_error(EEXIST, "add route " + r.str());
    state.routes.push_back({r.dst, r.prefix, r.table, r.metric, net::kRouteProtocol, ifindex, r.type});
    return {};
  }
  Status del_route(const net::RouteSpec& r, int /*ifindex*/) {
    ++calls;
    if (auto e = injected("delete route " + r.str())) return *e;
    if (std::erase_if(state.routes, [&](const net::ObservedRoute& o) {
          return o.dst == r.dst && o.prefix == r.prefix && o.table == r.table &&
                 o.metric == r.metric && o.protocol == net::kRouteProtocol && o.type == r.type;
        }) == 0)
      return errno_error(ESRCH, "delete route " + r.str());
    return {};
  }

 public:
  [[nodiscard]] bool has_address(const std::string& ip) const {
    auto a = IpAddress::parse(ip);
    return std::any_of(state.addresses.begin(), state.addresses.end(),
                       [&](const net::ObservedAddress& o) { return o.address == *a; });
  }
  [[nodiscard]] bool has_route(const std::string& ip) const {
    auto a = IpAddress::parse(ip);
    return std::any_of(state.routes.begin(), state.routes.end(), [&](const net::ObservedRoute& o) {
      return o.dst == *a && o.protocol != net::kKernelProtocol;
    });
  }

 private:
  [[nodiscard]] bool has_link(int ifindex) const {
    return std::any_of(state.links.begin(), state.links.end(),
                       [&](const net::Link& l) { return l.ifindex == ifindex; });
  }
  std::optional<Error> injected(const std::string& what) {
    if (!fail_on.empty() && what.find(fail_on) != std::string::npos) {
      Error e = errno_error(fail_errno);
      e.context.push_back(what);
      return e;
    }
    return std::nullopt;
  }
};

class FakeSysctls final : public net::SysctlStore {
 public:
  std::map<net::SysctlKey, int> values;
  std::string fail_on;

  explicit FakeSysctls(const std::vector<std::string>& ifaces = {"all", "default", "lo", "eth0"}) {
    for (const auto& i : ifaces)
      for (const char* n : {"arp_ignore", "arp_announce"}) values[{i, n}] = 0;
  }
  Result<int> read(const net::SysctlKey& k) override {
    auto it = values.find(k);
    if (it == values.end()) return errno_error(ENOENT, "read " + k.str());
    return it->second;
  }
  Status write(const net::SysctlKey& k, int v) override {
    if (!fail_on.empty() && k.str().find(fail_on) != std::string::npos)
    {
      Error e = errno_error(EPERM);
      e.context.push_back("set " + k.str());
      return e;
    }
    auto it = values.find(k);
    if (it == values.end()) return errno_error(ENOENT, "set " + k.str());
    it->second = v;
    return {};
  }
  int& at(const std::string& iface, const std::string& name) { return values[{iface, name}]; }
};

}  // namespace rsagent::test
