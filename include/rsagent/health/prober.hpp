// Probes for the local checks: tcp connect, http GET, exec of a command.
// Owns: nothing between calls. Threads: probe() is called from the check's
// own monitor thread and blocks for at most the check's timeout. Errors: a
// failed probe is a ProbeResult with ok=false and a short detail, never an
// exception.
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/health/state.hpp"

#include <memory>
#include <string>

namespace rsagent::health {

class Prober {
 public:
  virtual ~Prober() = default;
  [[nodiscard]] virtual ProbeResult probe(const config::Check& check) = 0;
};

// The http/https probe (http_check.hpp): only the daemon binary links
// cpp-httplib, so it hands its probe in.
using HttpProbe = ProbeResult (*)(const config::Check&);
[[nodiscard]] std::unique_ptr<Prober> make_prober(HttpProbe http);

// Exposed for tests: at most this many bytes of an exec check's output are kept.
inline constexpr std::size_t kMaxOutput = 256;
// A probe's output as it goes into the status: one line, at most kMaxOutput.
[[nodiscard]] std::string short_output(std::string s);

}  // namespace rsagent::health
