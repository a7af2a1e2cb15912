// The "arp_guard" section: the ARP flux sentinel's settings.
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

void parse_arp_guard(Checker& c, const json& v, ArpGuard& out, Origins& set) {
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
  if (v.contains("interval")) {
    set["arp_guard.interval"] = c.where("/arp_guard/interval");
    // From 1 s: a sweep more often only repeats the answer and costs frames.
    if (auto d = c.duration_at(v["interval"], "/arp_guard/interval", "arp_guard.interval",
                               std::chrono::milliseconds(1000), std::chrono::milliseconds(86'400'000)))
      out.interval = *d;
  }
  if (v.contains("probes_per_second")) {
    set["arp_guard.probes_per_second"] = c.where("/arp_guard/probes_per_second");
    if (auto x = c.int_at(v["probes_per_second"], "/arp_guard/probes_per_second",
                          "arp_guard.probes_per_second", 1, 1000))
      out.probes_per_second = *x;
  }
  if (v.contains("window")) {
    set["arp_guard.window"] = c.where("/arp_guard/window");
    // Answers on a LAN take well under a millisecond; a window past 10 s
    // would only hold a probe's memory longer.
    if (auto d = c.duration_at(v["window"], "/arp_guard/window", "arp_guard.window",
                               std::chrono::milliseconds(50), std::chrono::milliseconds(10'000)))
      out.window = *d;
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
