#include "rsagent/util/fd_budget.hpp"

#include "rsagent/util/process.hpp"

#include <algorithm>
#include <sys/resource.h>

namespace rsagent {

namespace {

// stdio, the log, the lock, pid and journal files being written, the
// instance's state files.
constexpr std::size_t kBase = 16;
// Each thread's epoll (or poll set), its wake eventfd and timerfd; the main
// thread's signalfd and netlink sockets.
constexpr std::size_t kPerThread = 4;
constexpr std::size_t kThreads = 8;  // main, endpoint, agent-check, gate, control, ARP guard, spare
constexpr std::size_t kNetlink = 4;
// An exec check holds a pipe (2), a pidfd and, while spawning, /dev/null;
// an http check one socket; a reload runs old and new monitors briefly.
constexpr std::size_t kPerCheck = 2 * 4;
constexpr std::size_t kPerInterface = 2;  // the ARP guard's ARP and NDP sockets
constexpr std::size_t kControl = 4;       // the socket and the connections it serves
// What nothing above counted: a library's file, a connection being
// accepted while another closes.
constexpr std::size_t kReserve = 64;
// Below this the endpoint is not worth running; the directors need only a few.
constexpr std::size_t kMinConnections = 16;

}  // namespace

FdBudget plan_fd_budget(const FdNeeds& needs, std::uint64_t soft, std::uint64_t hard) {
  FdBudget b;
  b.original_soft = soft;
  b.hard = hard;
  b.fixed = kBase + kThreads * kPerThread + kNetlink + kControl + kReserve + needs.listeners +
            needs.checks * kPerCheck + needs.interfaces * kPerInterface;
  const std::uint64_t want = b.fixed + needs.connections;
  b.soft = std::max(soft, std::min(hard, want));
  if (b.soft >= want) {
    b.connections = needs.connections;
    return b;
  }
  const std::uint64_t room = b.soft > b.fixed ? b.soft - b.fixed : 0;
  b.connections = static_cast<std::size_t>(std::max<std::uint64_t>(kMinConnections, room));
  b.note = "the file descriptor limit (" + std::to_string(hard) + ") leaves room for " +
           std::to_string(b.connections) + " health endpoint connection(s) instead of " +
           std::to_string(needs.connections) + "; raise LimitNOFILE= to at least " +
           std::to_string(want);
  return b;
}

FdBudget apply_fd_budget(const FdNeeds& needs) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) lim = {1024, 1024};
  const auto as_u64 = [](rlim_t v) {
    return v == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(v);
  };
  FdBudget b = plan_fd_budget(needs, as_u64(lim.rlim_cur), as_u64(lim.rlim_max));
  if (b.soft != b.original_soft) {
    rlimit raised = lim;
    raised.rlim_cur = static_cast<rlim_t>(b.soft);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      // Commands (exec checks) may use select(): they get what they would
      // have had without us.
      proc::set_child_fd_limit(lim.rlim_cur);
    } else {
      b = plan_fd_budget(needs, b.original_soft, b.original_soft);
    }
  }
  return b;
}

}  // namespace rsagent
