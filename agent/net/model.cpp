#include "rsagent/net/model.hpp"

#include "rsagent/net/kernel.hpp"

#include <algorithm>
#include <cstdio>

namespace rsagent::net {

const std::string& AddressSpec::device() const {
  static const std::string kLo = kLoopback;
  return dev.empty() ? kLo : dev;
}

std::string ClampSpec::tag() const {
  // FNV-1a over the rules: a changed VIP list changes the tag, so the
  // table is replaced when the config changes, not only when it is gone.
  std::uint32_t h = 2166136261U;
  for (const auto& [ip, prefix] : sources)
    for (const char c : ip.str() + "/" + std::to_string(prefix) + ",") {
      h ^= static_cast<std::uint8_t>(c);
      h *= 16777619U;
    }
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", h);
  return "rsagent mss " + std::to_string(mss) + " vips " + std::to_string(sources.size()) + " " + hex;
}

std::string ClampSpec::ruleset() const {
  const std::string t = std::string("inet ") + kClampTable;
  std::string v4;
  std::string v6;
  for (const auto& [ip, prefix] : sources) {
    std::string& set = ip.family == Family::kV4 ? v4 : v6;
    set += (set.empty() ? "" : ", ") + ip.str() + "/" + std::to_string(prefix);
  }
  const std::string m = std::to_string(mss);
  // Only SYN-ACKs, only from a VIP, only lowered: a smaller MSS the
  // client asked for stays.
  const std::string clamp = " tcp flags & (syn | ack) == syn | ack tcp option maxseg size > " + m +
                            " tcp option maxseg size set " + m + "\n";
  // Made if missing, then deleted and made again: one transaction that
  // replaces whatever is there, or changes nothing if any part fails.
  std::string s = "table " + t + " {}\ndelete table " + t + "\ntable " + t + " {\n  comment \"" + tag() +
                  "\"\n  chain clamp {\n    type filter hook output priority mangle; policy accept;\n";
  if (!v4.empty()) s += "    ip saddr { " + v4 + " }" + clamp;
  if (!v6.empty()) s += "    ip6 saddr { " + v6 + " }" + clamp;
  return s + "  }\n}\n";
}

std::string LinkSpec::str() const { return name + " type " + kind; }

std::string AddressSpec::str() const {
  std::string s = address.str() + "/" + std::to_string(prefix) + " dev " + device();
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
    case Kind::kAddLink: return "add link " + link.str();
    case Kind::kDelLink: return "delete link " + link.name;
    case Kind::kLinkUp: return "set link " + link.name + " up";
    case Kind::kLinkDown: return "set link " + link.name + " down";
    case Kind::kSetClamp: return std::string("set nft table inet ") + kClampTable;
    case Kind::kDelClamp: return std::string("delete nft table inet ") + kClampTable;
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
