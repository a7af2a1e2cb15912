// `rsagent drain --wait` and `rsagent maint --wait`: set the state (with a
// drain budget, asked again about once a second while no slot is free,
// saying who holds the slots whenever that changes), then sample the
// daemon (`drain-status` over the control socket) until the drain is
// confirmed (drain/confirm.hpp), the time is up, or the operator presses
// Ctrl-C (the node stays drained; while still in line, nothing changed).
// Prints one line per change.
// Single-threaded; SIGINT and SIGTERM only end the wait.
#include "rsagent/cli/commands.hpp"
#include "rsagent/daemon/control.hpp"
#include "rsagent/daemon/paths.hpp"
#include "rsagent/drain/confirm.hpp"

#include <cerrno>
#include <csignal>
#include <iostream>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <unistd.h>

namespace rsagent::cli {

namespace {

// How often the daemon is sampled: fine enough to say a director's poll
// within a fraction of a second, light enough for the control socket.
constexpr int kSampleMs = 250;
constexpr int kInterruptedExit = 130;  // 128 + SIGINT, as a shell reports it

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int /*sig*/) { g_interrupted = 1; }

// Without SA_RESTART, so the wait between samples ends at once.
void catch_interrupts() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sleeps up to ms, less when a signal comes.
void pause_ms(int ms) { (void)::poll(nullptr, 0, ms); }

// Between two asks in line: about a second, spread by the pid so that
// nodes that queued together do not ask in lock-step.
int line_pause_ms() { return 900 + static_cast<int>(::getpid() % 200); }

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration_arg(std::string_view s) {
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  const std::string_view unit = s.substr(digits);
  long long mult = 0;
  if (unit == "ms") mult = 1;
  if (unit == "s") mult = 1000;
  if (unit == "m") mult = 60'000;
  if (unit == "h") mult = 3'600'000;
  if (digits == 0 || digits > 9 || mult == 0) return std::nullopt;
  return std::chrono::milliseconds(std::stoll(std::string(s.substr(0, digits))) * mult);
}

std::string duration_text(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

int cmd_operator_wait(const CommandOptions& opts, const std::string& cmd) {
  if (::geteuid() != 0) {
    std::cerr << "rsagent: " << cmd << " needs root: the control socket accepts only root\n";
    return exit_code::kNotPrivileged;
  }
  const daemon::Paths paths = daemon::Paths::for_state_dir(opts.state_dir);
  const std::string word = cmd == "drain" ? "drain" : "maintenance";
  const auto deadline = std::chrono::steady_clock::now() + opts.wait_timeout;
  catch_interrupts();
  // Before the request: an answer given before this instant never counts.
  std::int64_t set_at = wall_ms();
  auto reply = daemon::control_call(paths.control_socket(), {cmd, opts.reason, false, opts.force});
  // No free slot in the drain budget: wait in line, asking again.
  std::string shown;
  while (reply && !reply->ok && reply->code == exit_code::kNoSlot) {
    if (reply->message != shown) {
      std::cout << "rsagent: waiting in line: " << reply->message << "\n" << std::flush;
      shown = reply->message;
    }
    if (g_interrupted != 0) {
      std::cerr << "\nrsagent: stopped waiting in line; nothing was changed\n";
      return kInterruptedExit;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "rsagent: no slot of the drain budget came free within " << duration_text(opts.wait_timeout)
                << "; nothing was changed\n";
      return exit_code::kFailure;
    }
    pause_ms(line_pause_ms());
    set_at = wall_ms();
    reply = daemon::control_call(paths.control_socket(), {cmd, opts.reason, false, opts.force});
  }
  if (!reply) {
    std::cerr << "rsagent: " << cmd << " --wait needs the running daemon, which tells the directors "
              << "and sees who still sends; none answers on " << paths.control_socket() << " ("
              << reply.error().str() << "). Start it with `rsagent start`, or record the " << word
              << " for the next start with `rsagent " << cmd << "` without --wait\n";
    return exit_code::kFailure;
  }
  if (!reply->ok) {
    std::cerr << "rsagent: " << reply->message << "\n";
    return exit_code::kFailure;
  }
  std::cout << "rsagent: " << reply->message << "\n"
            << "rsagent: waiting up to " << duration_text(opts.wait_timeout)
            << " for every director to see it, no new connection for " << duration_text(opts.wait_quiet)
            << " and at most " << opts.wait_connections
            << " open connection(s) to the VIPs (Ctrl-C stops waiting; the node stays "
            << (cmd == "drain" ? "drained" : "in maintenance") << ")\n"
            << std::flush;

  drain::Settings settings;
  settings.quiet = opts.wait_quiet;
  settings.connections = opts.wait_connections;
  settings.wanted = cmd == "drain" ? "drain" : "maint";
  drain::Confirmation confirm(settings, set_at);
  std::string said_trouble;  // a failing sample is said once, not every 250 ms
  bool sampled = false;
  while (g_interrupted == 0) {
    std::string trouble;
    auto status = daemon::control_call(paths.control_socket(), {"drain-status", "", false});
    if (!status) {
      trouble = "the daemon does not answer (" + status.error().str() + "); still trying";
    } else if (!status->ok) {
      trouble = "the running daemon cannot report the drain (" + status->message +
                "); it may be older than this rsagent: `rsagent restart` runs the binary on disk";
    } else {
      const auto j = nlohmann::json::parse(status->message, nullptr, /*allow_exceptions=*/false);
      auto sample = drain::parse_sample(j);
      if (!sample) {
        trouble = "the daemon's answer is not understood: " + sample.error().str();
      } else {
        for (const auto& line : confirm.observe(*sample)) std::cout << line << "\n";
        std::cout << std::flush;
        sampled = true;
        if (confirm.confirmed()) {
          std::cout << "rsagent: " << confirm.summary() << "\n";
          return exit_code::kOk;
        }
        if (confirm.undone()) return exit_code::kFailure;
      }
    }
    if (!trouble.empty() && trouble != said_trouble) std::cerr << "rsagent: " << trouble << "\n";
    said_trouble = trouble;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cerr << "rsagent: not confirmed within " << duration_text(opts.wait_timeout)
                << "; the node stays " << (cmd == "drain" ? "drained" : "in maintenance")
                << ". Still not done:\n";
      if (!sampled) std::cerr << "  " << (trouble.empty() ? "no sample was taken" : trouble) << "\n";
      for (const auto& line : sampled ? confirm.pending() : std::vector<std::string>{})
        std::cerr << "  " << line << "\n";
      return exit_code::kFailure;
    }
    pause_ms(kSampleMs);
  }
  std::cerr << "\nrsagent: stopped waiting; the node stays "
            << (cmd == "drain" ? "drained" : "in maintenance") << " (`rsagent ready` takes it back)\n";
  return kInterruptedExit;
}

}  // namespace rsagent::cli
