// The daemon's file-descriptor budget, computed the way keepalived computes
// its own: the descriptors it needs (listeners, check sockets and pipes,
// the ARP guard's packet sockets, control, netlink, each thread's epoll and
// eventfds, the endpoint's connection cap and a reserve) against
// RLIMIT_NOFILE. The soft limit is raised to fit within the hard limit;
// when the hard limit is too low, the connection cap shrinks instead.
// Commands the daemon runs get the original soft limit back (see
// proc::set_child_fd_limit). Owns nothing. Threads: plan() is pure;
// apply() changes the process's limit and must run before other threads
// start. Errors: none; a limit that cannot be raised is reported in `note`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rsagent {

struct FdNeeds {
  std::size_t listeners = 0;    // health, agent-check, TCP gate
  std::size_t checks = 0;       // each check's probe: a socket, or pipes and a pidfd
  std::size_t interfaces = 0;   // the ARP guard's packet sockets
  std::size_t connections = 0;  // the endpoint's cap when the limit allows it
};

struct FdBudget {
  std::uint64_t original_soft = 0;
  std::uint64_t hard = 0;
  std::uint64_t soft = 0;          // what the daemon runs with
  std::size_t connections = 0;     // the endpoint's cap that fits in `soft`
  std::size_t fixed = 0;           // everything but the connections
  std::string note;                // non-empty when the cap had to shrink
};

// `soft`, `hard`: the limit as found (RLIM_INFINITY as UINT64_MAX).
[[nodiscard]] FdBudget plan_fd_budget(const FdNeeds& needs, std::uint64_t soft, std::uint64_t hard);

// Reads RLIMIT_NOFILE, plans, raises the soft limit and tells proc:: to
// give commands the original one back.
[[nodiscard]] FdBudget apply_fd_budget(const FdNeeds& needs);

}  // namespace rsagent
