// The "arp_guard" section: the ARP guard's settings.
#include "validator.hpp"

#include <algorithm>

namespace rsagent::config {

const char* on_leak_name(ArpGuard::OnLeak o) {
  return o == ArpGuard::OnLeak::kNotReady ? "not-ready" : "warn";
}

namespace detail {

namespace {
using nlohmann::json;
const std::vector<std::string> kArpGuardKeys{"probe", "interval", "probes_per_second", "window", "on_leak"};
}  // namespace

void parse_arp_guard(Validator& c, const json& v, ArpGuard& out, Origins& set) {
  if (!v.is_object()) {
    c.err_at("/arp_guard", "\"arp_guard\" must be an object like {\"probe\": true, \"on_leak\": \"warn\"}, found " +
                               type_name(v));
    return;
  }
  c.check_keys("/arp_guard", v, kArpGuardKeys, "\"arp_guard\"");
  if (v.contains("probe")) {
    set["arp_guard.probe"] = c.where("/arp_guard/probe");
    if (v["probe"].is_boolean()) {
      out.probe = v["probe"].get<bool>();
    } else {
      c.err_at("/arp_guard/probe", "arp_guard.probe must be true or false, found " + type_name(v["probe"]));
    }
  }
  const auto duration = [&](const char* key, std::chrono::milliseconds lo, std::chrono::milliseconds hi,
                            std::chrono::milliseconds& to) {
    if (!v.contains(key)) return;
    const std::string ptr = std::string("/arp_guard/") + key;
    set[std::string("arp_guard.") + key] = c.where(ptr);
    if (auto d = c.duration_at(v[key], ptr, std::string("arp_guard.") + key, lo, hi)) to = *d;
  };
  // From 1 s: a sweep more often only repeats the answer and costs frames.
  duration("interval", std::chrono::seconds(1), std::chrono::hours(24), out.interval);
  // Answers on a LAN take well under a millisecond; a window past 10 s
  // would only hold a probe's memory longer.
  duration("window", std::chrono::milliseconds(50), std::chrono::seconds(10), out.window);
  if (v.contains("probes_per_second")) {
    set["arp_guard.probes_per_second"] = c.where("/arp_guard/probes_per_second");
    if (auto x = c.int_at(v["probes_per_second"], "/arp_guard/probes_per_second",
                          "arp_guard.probes_per_second", 1, 1000))
      out.probes_per_second = *x;
  }
  if (v.contains("on_leak")) {
    set["arp_guard.on_leak"] = c.where("/arp_guard/on_leak");
    if (auto s = c.string_at(v["on_leak"], "/arp_guard/on_leak", "arp_guard.on_leak")) {
      if (*s == "warn") {
        out.on_leak = ArpGuard::OnLeak::kWarn;
      } else if (*s == "not-ready") {
        out.on_leak = ArpGuard::OnLeak::kNotReady;
      } else {
        c.err_at("/arp_guard/on_leak", "arp_guard.on_leak \"" + *s +
                                           "\" is not one of \"warn\" (log and count) or \"not-ready\" "
                                           "(also report the node not ready)");
      }
    }
  }
}

}  // namespace detail
}  // namespace rsagent::config
