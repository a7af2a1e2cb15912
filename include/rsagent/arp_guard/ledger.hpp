// What the ARP guard has learnt, kept apart from its sockets so it
// is tested without root. Owns: the open probe windows and the answers in
// them, each VIP's responders per interface (with first and last seen), the
// leaks by VIP and interface, the MAC -> IP of hosts on each segment (a
// MacTable), and the log lines about them (a leak at most once per
// kLeakLogEvery per VIP and interface; flux when the responders change, and
// when it ends). Everything the wire can grow is bounded: the MAC -> IP
// table keeps kMacTableSize entries (least recently used out, evictions
// counted) and learns only from frames that answer an open window, ask for
// a VIP, or come from a host that answered one; a window keeps at most
// kMaxRespondersPerWindow MACs and counts the answers past them; a flux log
// line is one line of at most kMaxLogLine bytes.
// Times come from the caller (steady for holds and windows, unix seconds for
// the report). No threads (the ARP guard's thread owns it); no failures.
#pragma once

#include "rsagent/arp_guard/frames.hpp"
#include "rsagent/config/config.hpp"
#include "rsagent/verdict/arp_guard_view.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rsagent::arp_guard {

// A leak keeps the node not ready (with on_leak "not-ready") this long after
// the last leaking frame: long enough for a director's checker to see it,
// and the frame's effect (a director's neighbour cache) lasts about as long.
inline constexpr std::chrono::seconds kLeakHold{60};
// A leak is logged at most this often per VIP and interface.
inline constexpr std::chrono::seconds kLeakLogEvery{60};
// The MAC -> IP table's size: far more hosts than a segment a real server
// probes has, and about 150 KB however many MACs a flood makes up.
inline constexpr std::size_t kMacTableSize = 1024;
// The MACs kept per probe window (and so per VIP and interface): flux needs
// two, an operator reads a few; a flood of spoofed answers is counted.
inline constexpr std::size_t kMaxRespondersPerWindow = 8;
// A flux log line is cut here (8 responders with IPv6 addresses fit).
inline constexpr std::size_t kMaxLogLine = 1024;

// The IP a host has, by interface and MAC, for at most `capacity` hosts: a
// new one past the capacity takes the place of the least recently used
// (learnt or read), and each such eviction is counted.
class MacTable {
 public:
  explicit MacTable(std::size_t capacity = kMacTableSize) : capacity_(capacity == 0 ? 1 : capacity) {}
  // Learns (or replaces) the IP; the entry becomes the most recently used.
  void put(int ifindex, const Mac& mac, std::string ip);
  // The IP, or nullptr; a hit becomes the most recently used.
  [[nodiscard]] const std::string* get(int ifindex, const Mac& mac);
  // Whether the table has the host, without making it recently used.
  [[nodiscard]] bool contains(int ifindex, const Mac& mac) const { return index_.count({ifindex, mac}) != 0; }
  // Forgets the hosts of interfaces not in `ifindexes`.
  void keep_interfaces(const std::set<int>& ifindexes);
  [[nodiscard]] std::size_t size() const { return index_.size(); }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  [[nodiscard]] std::uint64_t evicted() const { return evicted_; }

 private:
  using Key = std::pair<int, Mac>;
  struct Entry {
    Key key;
    std::string ip;
  };
  std::size_t capacity_;
  std::list<Entry> order_;  // most recently used first
  std::map<Key, std::list<Entry>::iterator> index_;
  std::uint64_t evicted_ = 0;
};

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
  void opened(const IpAddress& vip, int ifindex, const std::string& interface, TimePoint deadline);
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
  // Leaks and segments into the report (the rest of it is the ARP guard's).
  void fill(verdict::ArpGuardView& v) const;
  // Something the report shows changed since the last clear_changed().
  [[nodiscard]] bool changed() const { return changed_; }
  void clear_changed() { changed_ = false; }
  [[nodiscard]] const MacTable& macs() const { return macs_; }

 private:
  struct Window {
    IpAddress vip;
    int ifindex = 0;
    std::string interface;
    TimePoint deadline;
    std::map<Mac, std::string> seen;  // MAC -> the answering host's IP, if the frame told
    std::uint64_t more = 0;           // answers from further MACs, past kMaxRespondersPerWindow
  };
  struct Responder {
    std::string ip;
    std::int64_t first = 0;
    std::int64_t last = 0;
  };
  struct Segment {
    std::map<Mac, Responder> responders;
    std::uint64_t more = 0;  // the last window's answers past kMaxRespondersPerWindow
    std::int64_t probed = 0;
    std::string flux_logged;  // who the flux line logged last named; empty: no flux
  };
  struct LeakState {
    std::string kind;
    std::uint64_t count = 0;
    std::int64_t last_unix = 0;
    std::optional<TimePoint> last_logged;
  };
  using Key = std::pair<IpAddress, std::string>;  // VIP, interface

  void learn_ip(int ifindex, const Frame& f);
  // Whether the MAC answered a probe on the interface: in an open window or
  // among a segment's responders.
  [[nodiscard]] bool answered(int ifindex, const std::string& interface, const Mac& mac) const;
  void index_responders();
  std::string ip_of(int ifindex, const std::string& interface, const Mac& mac);
  void leak(const Leak& l, const std::string& interface, TimePoint now, std::int64_t unix_now);
  void finish(const Window& w, std::int64_t unix_now);

  config::ArpGuard cfg_;
  NeighbourLookup lookup_;
  VipSet vips_;
  std::vector<Window> windows_;
  std::map<Key, Segment> segments_;
  std::map<Key, LeakState> leaks_;
  MacTable macs_;
  // How many segments list each (interface, MAC) as a responder.
  std::map<std::pair<std::string, Mac>, int> responder_refs_;
  std::uint64_t responders_dropped_ = 0;
  std::optional<TimePoint> last_leak_;
  std::string last_leak_text_;
  bool changed_ = false;
};

}  // namespace rsagent::arp_guard
