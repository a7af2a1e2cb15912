// The Board: everything the health endpoints report, shared between threads.
// Owns: the current Snapshot (checks, network health, operator state,
// maintenance file, verdict, status details), replaced whole under a mutex so
// readers get an immutable std::shared_ptr<const Snapshot> and never wait on
// a probe; the directors seen; request counters for /metrics.
// Threads: any thread may update or read. Nothing fails.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/verdict/arp_guard_view.hpp"
#include "rsagent/verdict/state.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rsagent::verdict {

struct Snapshot {
  std::vector<CheckView> checks;
  NetHealth net;
  OperatorState op;
  bool maintenance_file = false;
  std::string maintenance_path;
  Verdict verdict;
  // Shared, never changed once set: every Board change copies the
  // snapshot, and with thousands of VIPs a deep copy would cost more than
  // the rest of it.
  std::shared_ptr<const NetDetail> net_detail = std::make_shared<const NetDetail>();
  bool stopping = false;
  // The ARP guard's last report; null when there is none.
  std::shared_ptr<const ArpGuardView> arp_guard;
};

// The TCP gate as the kernel sees it, read when asked (not a flag the gate
// keeps): whether each listening socket is in the LISTEN state now.
struct GateView {
  struct Listener {
    std::string at;          // "0.0.0.0:9797"
    bool listening = false;  // SO_ACCEPTCONN on the socket
  };
  std::vector<Listener> listeners;
  bool want_open = false;            // the verdict says ready
  std::uint64_t reopen_failures = 0;  // listen() that failed to reopen a listener (retried)
  bool accepts_paused = false;        // out of fds or memory: not accepting for a moment
  // Every listener is listening.
  [[nodiscard]] bool open() const {
    for (const auto& l : listeners)
      if (!l.listening) return false;
    return !listeners.empty();
  }
};

struct Director {
  std::string source;
  std::string user_agent;
  std::int64_t last_seen_unix = 0;
  std::uint64_t count = 0;
};

class Board {
 public:
  Board(const std::vector<config::Check>& checks, std::string maintenance_path);

  [[nodiscard]] std::shared_ptr<const Snapshot> snapshot() const;

  void update_check(std::size_t index, const ProbeResult& r);
  void set_net(NetHealth net, NetDetail detail);
  void set_operator(OperatorState op);
  void set_maintenance_file(bool present);
  void set_stopping();
  // The ARP guard's report. Its `not_ready` (a leak with on_leak
  // "not-ready") makes a ready or drained node down; maintenance wins.
  void set_arp_guard(ArpGuardView v);
  // After a reload: checks whose definition did not change keep their state.
  void reset_checks(const std::vector<config::Check>& old_checks,
                    const std::vector<config::Check>& new_checks, std::string maintenance_path);  // graceful stop: report drain until the process ends

  // Called after each change of the verdict's mode, on the thread that made
  // it (the TCP gate follows it at once). Set before any thread starts.
  void on_verdict_change(std::function<void()> f) { on_change_ = std::move(f); }

  // The TCP gate's view, for /status and /metrics; unset: no gate. Set
  // before any thread starts.
  void set_gate_view(std::function<GateView()> f) { gate_view_ = std::move(f); }
  [[nodiscard]] std::optional<GateView> gate() const {
    if (!gate_view_) return std::nullopt;
    return gate_view_();
  }

  void note_request(const std::string& source, const std::string& user_agent);
  [[nodiscard]] std::map<std::string, Director> directors() const;

  // Counters for /metrics, by response class.
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> http_denied{0};       // closed at accept: source not in health.allow
  std::atomic<std::uint64_t> http_source_full{0};  // closed at accept: the source's cap was reached
  std::atomic<std::uint64_t> http_timeouts{0};     // closed by a header, keep-alive or send deadline
  std::atomic<std::uint64_t> http_errors{0};
  std::atomic<std::uint64_t> agent_checks{0};
  std::atomic<std::uint64_t> agent_checks_denied{0};  // closed: source not in health.allow
  std::atomic<std::uint64_t> verdict_changes{0};
  std::atomic<std::uint64_t> net_repairs{0};  // owned objects put back after someone removed them
  std::atomic<std::uint64_t> net_replans{0};  // observe + plan rounds of the network
  std::atomic<std::uint64_t> gate_transitions{0};
  std::atomic<std::uint64_t> gate_accepts{0};
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

 private:
  template <typename F>
  void mutate(F f);
  template <typename F>
  bool apply_locked(F f);  // under mutex_: whether the verdict's mode changed

  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> current_;
  std::function<void()> on_change_;
  std::function<GateView()> gate_view_;
  mutable std::mutex directors_mutex_;
  std::map<std::string, Director> directors_;
};

}  // namespace rsagent::verdict
