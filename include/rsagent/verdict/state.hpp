// Health state as values: one check's rise/fall state machine, the
// operator's admin state, the network's health, and the pure verdict that
// combines them. No I/O, no threads; the Board (board.hpp) shares these
// between threads as immutable snapshots.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace rsagent::verdict {

using Clock = std::chrono::system_clock;

struct ProbeResult {
  bool ok = false;
  std::string detail;  // why it failed, or a short note; kept short
  std::chrono::microseconds latency{0};
};

struct CheckView {
  std::string name;
  std::string type;  // "tcp", "http", "exec"
  bool up = false;   // starts down: a node is not ready before its checks rose
  int rise = 2;
  int fall = 2;
  int consecutive_ok = 0;
  int consecutive_fail = 0;
  std::uint64_t probes = 0;
  std::uint64_t failures = 0;
  std::uint64_t transitions = 0;
  bool has_result = false;
  ProbeResult last;
  Clock::time_point last_at{};
};

// One probe's effect: `rise` successes in a row bring a check up, `fall`
// failures in a row take it down.
[[nodiscard]] CheckView advance(CheckView v, const ProbeResult& r, Clock::time_point at);

enum class Admin : std::uint8_t { kReady, kDrain, kMaint };
[[nodiscard]] const char* admin_name(Admin a);

struct OperatorState {
  Admin admin = Admin::kReady;
  std::string reason;
  std::int64_t since_unix = 0;
  bool operator==(const OperatorState&) const = default;
};

struct NetHealth {
  bool known = false;  // false until the first observation
  bool ok = false;
  std::string reason;  // first problem, e.g. "VIP 198.51.100.1 is missing from lo"
};

// What the journal holds against what the kernel has, row by row, for
// /status and `rsagent status`. Plain rows rather than a JSON tree: the
// daemon keeps one for the life of the process, and with thousands of VIPs
// a JSON object per row cost several times the memory.
struct NetDetail {
  struct Vip {
    std::string address;
    int prefix = 0;
    std::string label;
    bool owned = false;
    bool present = false;
    std::string mode = "address";  // or "route": a local route, prefix may be a range
  };
  struct Route {
    std::string route;
    bool owned = false;
    bool present = false;
  };
  struct Sysctl {
    std::string key;
    int wanted = 0;
    int original = 0;
    bool exists = false;  // false: the /proc file is gone
    int actual = 0;
  };
  // Tunnel mode: each device ("tunl0 up") and the device's own address
  // ("127.0.0.42/32 dev tunl0").
  struct TunnelItem {
    std::string item;
    bool owned = false;
    bool present = false;
  };
  std::vector<Vip> vips;
  std::vector<Route> routes;
  std::vector<Sysctl> sysctls;
  std::vector<TunnelItem> tunnel;
  std::vector<std::string> drift;  // one line per difference
};

enum class Mode : std::uint8_t { kReady, kDrain, kMaint, kDown };
[[nodiscard]] const char* mode_name(Mode m);

struct Verdict {
  Mode mode = Mode::kDown;
  std::string reason;  // empty when ready
  [[nodiscard]] bool ready() const { return mode == Mode::kReady; }
  // The /healthz body: a word per mode, byte-identical for a given mode so a
  // digest check (keepalived's genhash) is stable; details go in headers.
  [[nodiscard]] std::string body() const;
  // HAProxy agent-check line: "up ready", "up drain", "maint", "down #reason".
  [[nodiscard]] std::string agent_line() const;
  bool operator==(const Verdict&) const = default;
};

// maintenance > down (network or a check) > drain > ready: a broken node is
// reported down even while drained, so the director stops new and old flows.
[[nodiscard]] Verdict decide(const std::vector<CheckView>& checks, const NetHealth& net,
                             const OperatorState& op, bool maintenance_file,
                             const std::string& maintenance_path);

}  // namespace rsagent::verdict
