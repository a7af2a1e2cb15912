// Planning: a pure function from (desired, observed, prior journal) to an
// ordered list of kernel actions plus the journal that describes ownership
// once they are done. Also the revert plan and the DR leak check. No I/O, no
// threads; refusals come back in Plan::errors (then nothing may be applied).
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/net/model.hpp"

#include <string>
#include <vector>

namespace rsagent::net {

struct Action {
  enum class Kind : std::uint8_t {
    kWriteSysctl, kAddAddress, kDelAddress, kAddRoute, kDelRoute,
    kAddLink, kDelLink, kLinkUp, kLinkDown,  // a tunnel device, by name
    kSetClamp, kDelClamp                     // rsagent's nftables table (the MSS clamp)
  };
  Kind kind = Kind::kWriteSysctl;
  AddressSpec address;  // kAddAddress, kDelAddress
  RouteSpec route;      // kAddRoute, kDelRoute
  LinkSpec link;        // kAddLink (created up), kDelLink, kLinkUp, kLinkDown
  ClampSpec clamp;      // kSetClamp
  SysctlKey key;        // kWriteSysctl
  int from = 0;         // kWriteSysctl: value seen before
  int to = 0;           // kWriteSysctl: value to write
  [[nodiscard]] std::string str() const;  // "add address 198.51.100.100/32 dev lo label lo:0"
  [[nodiscard]] Action inverse() const;   // for rolling back a failed apply
  bool operator==(const Action&) const = default;
};

struct Plan {
  std::vector<Action> actions;
  Journal intent;   // write-ahead record: everything owned at any point while applying
  Journal journal;  // ownership once every action succeeded
  std::vector<std::string> errors;    // refusals, each naming the object and the fix
  std::vector<std::string> warnings;  // applied anyway, but the operator must know
  std::vector<std::string> notes;     // adopted objects and other facts
  [[nodiscard]] bool empty() const { return actions.empty(); }
};

[[nodiscard]] DesiredState desired_state(const config::Config& cfg);

// Sysctl keys whose values planning needs: desired, journaled, "all" and one
// per link (for the effective-value check).
[[nodiscard]] std::vector<SysctlKey> keys_to_observe(const DesiredState& want,
                                                     const Journal& prior,
                                                     const std::vector<Link>& links);

[[nodiscard]] Plan make_plan(const DesiredState& want, const ObservedState& have,
                             const Journal& prior);

// The kernel as it is once every action of `plan` has succeeded on `before`
// (the state the plan was made from): what the daemon reports right after
// applying, from the kernel's acknowledgements instead of a second dump.
[[nodiscard]] ObservedState after_plan(ObservedState before, const Plan& plan);

// The journal with each per-interface sysctl entry moved to its interface's
// current name (found by ifindex), and entries of interfaces that are gone
// dropped; one note per change.
[[nodiscard]] Journal follow_renamed_interfaces(const Journal& journal, const std::vector<Link>& links,
                                                std::vector<std::string>& notes);

// Undo exactly what `journal` says rsagent did, newest first. A sysctl is
// restored only while it still holds the value rsagent wrote.
[[nodiscard]] Plan make_revert_plan(const Journal& journal, const ObservedState& have);

// Interfaces that are up where DR would still leak: effective (max of all and
// the interface) arp_ignore not in {1, 2, 8} or arp_announce below 2.
[[nodiscard]] std::vector<std::string> arp_leaks(const ObservedState& have);

}  // namespace rsagent::net
