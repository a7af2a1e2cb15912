// What about a VIP only the merged configuration can tell: its mode (its
// own "mode", else the last vip_mode of any file), so its default label and
// whether it may be a range; and VIP ranges that overlap each other.
#include "rsagent/config/config.hpp"
#include "validator.hpp"

#include <algorithm>
#include <tuple>

namespace rsagent::config {

const char* mode_name(VipMode m) { return m == VipMode::kRoute ? "route" : "address"; }

std::string Vip::str() const {
  if (prefix == address.max_prefix()) return address.str();
  return address.str() + "/" + std::to_string(prefix);
}

namespace detail {

namespace {


// The widest route-mode VIP: 65,536 IPv4 addresses, an IPv6 site (/48).
int min_route_prefix(Family f) { return f == Family::kV4 ? 16 : 48; }

// A route-mode VIP's prefix, in the family's range, written as its network,
// and wholly usable: the forbidden blocks (0/8, 127/8, 169.254/16, 224/4,
// 240/4; ::/128, ::1, fe80::/10, ff00::/8, ::ffff:0:0/96) are all aligned
// and no smaller than a VIP range, so a range touches one exactly when its
// first or last address is in it. Empty when fine.
std::string route_range_problem(const Vip& v) {
  const Family f = v.address.family;
  if (v.prefix < min_route_prefix(f))
    return v.str() + " is wider than a VIP range may be (IPv4 /16 to /32, IPv6 /48 to /128); "
                     "split it";
  const IpAddress network = v.address.with_host_bits(v.prefix, false);
  if (network != v.address)
    return v.str() + " has host bits set; the range it names is written \"" + network.str() + "/" +
           std::to_string(v.prefix) + "\"";
  for (const IpAddress& end : {network, v.address.with_host_bits(v.prefix, true)}) {
    if (const std::string why = end.unusable_as_vip(); !why.empty())
      return v.str() + " includes " + end.str() + ", which " + why +
             "; a VIP range must hold only unicast host addresses";
  }
  return {};
}

// VIPs whose ranges share an address (an address-mode VIP is a range of
// one): one error per overlap, at the later one in sweep order, naming
// both. Sorted by first address, a range overlaps an earlier one exactly
// when it starts before the furthest end seen so far.
void check_overlaps(const Config& cfg, const std::vector<std::size_t>& usable,
                    std::vector<Diagnostic>& errors) {
  struct Span {
    IpAddress first;
    IpAddress last;
    std::size_t index;
  };
  std::vector<Span> spans;
  spans.reserve(usable.size());
  for (std::size_t i : usable) {
    const Vip& v = cfg.vips[i];
    spans.push_back({v.address, v.address.with_host_bits(v.prefix, true), i});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    // Wider first at the same start, so the range is reported as the one overlapped.
    return std::tie(a.first, b.last) < std::tie(b.first, a.last);
  });
  const Span* furthest = nullptr;
  for (const Span& s : spans) {
    if (furthest && furthest->last.family == s.first.family && s.first <= furthest->last) {
      const Vip& v = cfg.vips[s.index];
      const Vip& o = cfg.vips[furthest->index];
      errors.push_back(Diagnostic{v.origin.file, v.origin.pos,
                                  "VIP " + v.str() + " overlaps VIP " + o.str() + " (declared at " +
                                      o.origin.str() +
                                      "); each address may belong to one VIP: remove one or "
                                      "narrow the range"});
    }
    if (!furthest || furthest->last.family != s.first.family || furthest->last < s.last) furthest = &s;
  }
}

}  // namespace

void settle_vips(Config& cfg, std::vector<Diagnostic>& errors) {
  std::vector<std::size_t> usable;
  usable.reserve(cfg.vips.size());
  for (std::size_t i = 0; i < cfg.vips.size(); ++i) {
    Vip& v = cfg.vips[i];
    v.mode = v.mode_written.value_or(cfg.vip_mode);
    const auto fail = [&](const Origin& at, std::string msg) {
      errors.push_back(Diagnostic{at.file, at.pos, std::move(msg)});
    };
    std::string problem;
    if (v.mode == VipMode::kRoute) {
      if (v.label_origin)
        fail(*v.label_origin, "label on route-mode VIP " + v.str() +
                                  ": a local route has no label; remove \"label\" or make it "
                                  "\"mode\": \"address\"");
      v.label.clear();
      problem = route_range_problem(v);
    } else {
      if (v.prefix != v.address.max_prefix())
        problem = "\"" + v.str() + "\" is a network, not a host address; a VIP is one address: write \"" +
                  v.address.str() + "\", or serve the whole range with \"mode\": \"route\"";
      if (v.address.family == Family::kV4 && !v.label_origin) v.label = kDefaultLabel;
    }
    if (!problem.empty()) {
      fail(v.origin, problem);
      continue;
    }
    usable.push_back(i);
  }
  check_overlaps(cfg, usable, errors);
}

}  // namespace detail

}  // namespace rsagent::config
