// Probes for the local checks: tcp connect, http GET, exec of a command.
// Owns: nothing between calls but a cancel switch. Threads: probe() is
// called from each check's own monitor thread, several at once, and blocks
// for at most the check's timeout, counted from its start whatever the
// other side does (an exec check's deadline is on the process: see
// util/process.hpp; an http check's on the whole exchange: see
// http_check.hpp); cancel() may come from any thread and ends every probe
// of every type within milliseconds. Errors: a failed probe is a
// ProbeResult with ok=false and a short detail, never an exception; the
// detail is printable UTF-8 (command output is cleaned here).
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/verdict/state.hpp"

#include <memory>
#include <string>

namespace rsagent::checks {

class Prober {
 public:
  virtual ~Prober() = default;
  [[nodiscard]] virtual verdict::ProbeResult probe(const config::Check& check) = 0;
  // Ends running probes now (an exec check's process group is killed, a
  // tcp connect abandoned, an http probe's socket shut down) and makes later
  // ones fail at once: the Monitor's stop runs on the daemon's main thread,
  // which must not wait for a hanging service. For good: a stopped Monitor
  // is not restarted.
  virtual void cancel() {}
};

// The http/https probe (http_check.hpp): only the daemon binary links
// cpp-httplib, so it hands its probe in. It must end at once when cancel_fd
// becomes readable.
using HttpProbe = verdict::ProbeResult (*)(const config::Check&, int cancel_fd);
[[nodiscard]] std::unique_ptr<Prober> make_prober(HttpProbe http);

// Exposed for tests: at most this many bytes of an exec check's output are kept.
inline constexpr std::size_t kMaxOutput = 256;
// A probe's output as it goes into the status: one line of printable UTF-8
// (invalid bytes as \xff), at most kMaxOutput bytes cut at a character.
[[nodiscard]] std::string short_output(std::string s);

}  // namespace rsagent::checks
