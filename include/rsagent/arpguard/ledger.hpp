// What the ARP flux sentinel has learnt, kept apart from its sockets so it
// is tested without root. Owns: the open probe windows and the answers in
// them, each VIP's responders per interface (with first and last seen), the
// leaks by VIP and interface, the MAC -> IP of hosts seen on each segment,
// and the log lines about them (a leak at most once per kLeakLogEvery per
// VIP and interface; flux when the responders change, and when it ends).
// Times come from the caller (steady for holds and windows, unix seconds for
// the report). No threads (the sentinel's thread owns it); no failures.
#pragma once

#include "rsagent/arpguard/frames.hpp"
#include "rsagent/config/config.hpp"
#include "rsagent/health/arp_guard_view.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rsagent::arpguard {

// A leak keeps the node not ready (with on_leak "not-ready") this long after
// the last leaking frame: long enough for a director's checker to see it,
// and the frame's effect (a director's neighbour cache) lasts about as long.
inline constexpr std::chrono::seconds kLeakHold{60};
// A leak is logged at most this often per VIP and interface.
inline constexpr std::chrono::seconds kLeakLogEvery{60};

class Ledger {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // The IP the kernel's neighbour table has for a MAC on an interface, or
  // empty; asked only for a responder whose IP no frame has told.
  using NeighbourLookup = std::function<std::string(const std::string& interface, const Mac& mac)>;

  explicit Ledger(config::ArpGuard cfg, NeighbourLookup lookup = {})
      : cfg_(cfg), lookup_(std::move(lookup)) {}

  void set_config(const config::ArpGuard& cfg) { cfg_ = cfg; }
  // Forgets windows and segments of VIPs no longer configured.
  void set_vips(VipSet vips);
  [[nodiscard]] const VipSet& vips() const { return vips_; }
  // Forgets windows and segments of interfaces no longer watched.
  void keep_interfaces(const std::map<int, std::string>& watched);

  // A probe for `vip` went out on the interface: collect answers until `deadline`.
  void opened(const net::IpAddress& vip, int ifindex, const std::string& interface, TimePoint deadline);
  // A frame seen on the interface; outgoing: sent by this node.
  void frame(int ifindex, const std::string& interface, const Frame& f, bool outgoing, TimePoint now,
             std::int64_t unix_now);
  // Closes the windows whose deadline has passed: their answers become the
  // segments' responders.
  void close_windows(TimePoint now, std::int64_t unix_now);
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  // The verdict's reason while a leak is recent and on_leak is "not-ready".
  [[nodiscard]] std::string not_ready(TimePoint now) const;
  [[nodiscard]] std::optional<TimePoint> not_ready_until() const;
  // Leaks and segments into the report (the rest of it is the sentinel's).
  void fill(health::ArpGuardView& v) const;
  // Something the report shows changed since the last clear_changed().
  [[nodiscard]] bool changed() const { return changed_; }
  void clear_changed() { changed_ = false; }

 private:
  struct Window {
    net::IpAddress vip;
    int ifindex = 0;
    std::string interface;
    TimePoint deadline;
    std::map<Mac, std::string> seen;  // MAC -> the answering host's IP, if the frame told
  };
  struct Responder {
    std::string ip;
    std::int64_t first = 0;
    std::int64_t last = 0;
  };
  struct Segment {
    std::map<Mac, Responder> responders;
    std::int64_t probed = 0;
    std::string flux_logged;  // the flux line logged last; empty: no flux
  };
  struct LeakState {
    std::string kind;
    std::uint64_t count = 0;
    std::int64_t last_unix = 0;
    std::optional<TimePoint> last_logged;
  };
  using Key = std::pair<net::IpAddress, std::string>;  // VIP, interface

  void learn_ip(int ifindex, const Frame& f);
  std::string ip_of(int ifindex, const std::string& interface, const Mac& mac);
  void leak(const Leak& l, const std::string& interface, TimePoint now, std::int64_t unix_now);
  void finish(const Window& w, std::int64_t unix_now);

  config::ArpGuard cfg_;
  NeighbourLookup lookup_;
  VipSet vips_;
  std::vector<Window> windows_;
  std::map<Key, Segment> segments_;
  std::map<Key, LeakState> leaks_;
  std::map<std::pair<int, Mac>, std::string> mac_ip_;
  std::optional<TimePoint> last_leak_;
  std::string last_leak_text_;
  bool changed_ = false;
};

}  // namespace rsagent::arpguard
