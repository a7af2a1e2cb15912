// The phases of make_plan, one function each, so each is read and tested on
// its own: ARP sysctls, addresses on lo, host routes, and what the prior
// journal owns that the config no longer wants, and tunnel mode's devices,
// rp_filter and device address. Pure functions of values,
// like make_plan; no I/O, no threads. Refusals come back in Phase::errors.
#pragma once

#include "rsagent/net/plan.hpp"

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rsagent::net {

// One phase's share of a plan.
struct Phase {
  std::vector<Action> actions;         // in the order the phase needs them
  std::vector<JournalEntry> entries;   // ownership once the actions succeeded
  std::vector<JournalEntry> leaving;   // owned until removed, in journal order
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
  std::vector<std::string> notes;
};

// The loopback link, or nullptr when the namespace has none.
[[nodiscard]] const Link* loopback_link(const ObservedState& have);

// make_plan puts the phases' actions in this order: 1, 4, 2, 3, 5. New
// things go in before old ones go out, so a VIP switching modes is never
// without a local form.

// 1. ARP sysctls: writes for values that differ (healing a value someone
// else wrote), and an entry per wanted key keeping the first original
// recorded for it, whatever the kernel holds now.
[[nodiscard]] Phase plan_sysctls(const DesiredState& want, const ObservedState& have,
                                 const Journal& prior);

// 2. Addresses on lo: add what is missing, adopt what is there, relabel
// what rsagent created; refuse a VIP held on another interface.
[[nodiscard]] Phase plan_addresses(const DesiredState& want, const ObservedState& have,
                                   const Journal& prior, const Link& lo);

// 3. Host routes in the main table: add what is missing, adopt what is
// there on lo; refuse one that routes the VIP elsewhere.
[[nodiscard]] Phase plan_routes(const DesiredState& want, const ObservedState& have,
                                const Journal& prior, const Link& lo);

// 4. Route-mode VIPs: a `local` route in the local table on lo per VIP:
// add what is missing, adopt a local route for exactly that prefix on lo
// that is already there. Refused, naming the VIP and where it was declared:
// an address inside the range on another interface (the director?), an
// address inside it on lo that rsagent does not own, and a local route
// that overlaps the range without being it.
[[nodiscard]] Phase plan_local_routes(const DesiredState& want, const ObservedState& have,
                                      const Journal& prior, const Link& lo);

// A local route rsagent made for a VIP that is now an address VIP, kept
// until the kernel's own local route of the address is there: IPv6 makes
// the address local only once its address work runs, after the add
// returned. That route's arrival is a route event, and the next plan
// removes rsagent's. The (network, prefix) of each such route in `prior`.
[[nodiscard]] std::set<std::pair<IpAddress, int>> kept_for_addresses(const DesiredState& want,
                                                                     const ObservedState& have,
                                                                     const Journal& prior);

// 5. What `prior` owns that `want` no longer names, newest first: routes,
// addresses, then local routes, then sysctls restored (only while they
// still hold the value rsagent wrote; otherwise a warning).
[[nodiscard]] Phase plan_leaving(const DesiredState& want, const ObservedState& have,
                                 const Journal& prior);

// Tunnel mode (plan_tunnel.cpp).

// rp_filter on a decapsulation device: the kernel applies max(all, device)
// to each packet coming out of it, and a decapsulated packet's source (the
// client) is routed out another interface, so strict (1) drops every one.
// Loose (2) passes only while the device has an IPv4 address of its own;
// off (0) passes always. The values to write, if any: the device alone
// where it suffices, `all` only when it must go to 0 as well.
struct RpFilterDecision {
  std::optional<int> device;  // write this to conf/<device>/rp_filter
  std::optional<int> all;     // write this to conf/all/rp_filter (only for off)
  bool operator==(const RpFilterDecision&) const = default;
};
[[nodiscard]] RpFilterDecision decide_rp_filter(int all, int device, bool device_has_ipv4);

// Whether packets decapsulated on a device with these values pass rp_filter.
[[nodiscard]] bool rp_filter_passes(int all, int device, bool device_has_ipv4);

struct TunnelPhase {
  Phase links;    // devices created or brought up: first, before anything needs them
  Phase address;  // the device's IPv4 address: after its sysctls
  Phase leaving;  // devices of a tunnel no longer configured: last
  // rp_filter values for plan_sysctls and plan_leaving, decided from the
  // values before rsagent's first write (the journal's originals), so a
  // value rsagent wrote never changes the decision that wrote it.
  std::vector<SysctlSetting> sysctls;
  // For a device created by this plan: its rp_filter has no file yet,
  // so its write goes after the link is made (in `address`, first).
  std::optional<AddressSpec> wanted_address;  // the device address rsagent keeps
};

// Devices (adopt what exists, whatever its type; create what is missing,
// up; bring up an adopted one that is down), rp_filter and the device's
// IPv4 address when it has none. Pure, like the other phases.
[[nodiscard]] TunnelPhase plan_tunnel(const DesiredState& want, const ObservedState& have,
                                      const Journal& prior);

}  // namespace rsagent::net
