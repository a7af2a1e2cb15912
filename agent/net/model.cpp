#include "rsagent/net/model.hpp"

#include "rsagent/net/kernel.hpp"

#include <algorithm>

namespace rsagent::net {

std::string AddressSpec::str() const {
  std::string s = address.str() + "/" + std::to_string(prefix) + " dev " + kLoopback;
  if (address.family == Family::kV4) {
    if (!label.empty()) s += " label " + label;
  } else {
    s += " nodad";
  }
  return s;
}

std::string RouteSpec::str() const {
  std::string s = (type == RouteType::kLocal ? "local " : "") + dst.str() + "/" +
                  std::to_string(prefix) + " dev " + kLoopback;
  if (table == kLocalTable) {
    s += " table local";
  } else if (table != kMainTable) {
    s += " table " + std::to_string(table);
  }
  if (metric != 0) s += " metric " + std::to_string(metric);
  return s + " proto rsagent";
}

std::string SysctlKey::path() const { return "net/ipv4/conf/" + iface + "/" + name; }

std::string SysctlKey::str() const {
  std::string dev = iface;
  std::replace(dev.begin(), dev.end(), '.', '/');
  return "net.ipv4.conf." + dev + "." + name;
}

std::string KernelOp::str() const {
  switch (kind) {
    case Kind::kAddAddress: return "add address " + address.str();
    case Kind::kDelAddress: return "delete address " + address.str();
    case Kind::kAddRoute: return "add route " + route.str();
    case Kind::kDelRoute: return "delete route " + route.str();
  }
  return "?";
}

const Link* ObservedState::link_by_index(int ifindex) const {
  for (const auto& l : links)
    if (l.ifindex == ifindex) return &l;
  return nullptr;
}

const Link* ObservedState::link_by_name(const std::string& name) const {
  for (const auto& l : links)
    if (l.name == name) return &l;
  return nullptr;
}

std::string ObservedState::link_name(int ifindex) const {
  const Link* l = link_by_index(ifindex);
  return l ? l->name : "ifindex " + std::to_string(ifindex);
}

}  // namespace rsagent::net
