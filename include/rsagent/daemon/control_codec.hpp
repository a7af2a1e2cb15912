// The control socket's wire format: one JSON object per line each way.
// Owns: decoding a request line into a ControlRequest (or what is wrong with
// it), encoding a reply, and the client's side of both. Pure functions, no
// threads. Nothing here throws, whatever the bytes: a malformed line is an
// error value, and every string that enters (a reason, a message) is made
// printable valid UTF-8 (text::printable) so that every dump succeeds.
#pragma once

#include "rsagent/util/result.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rsagent::daemon {

// What one request line may hold; a reason is at most kMaxReasonBytes, so a
// request always fits.
inline constexpr std::size_t kMaxRequestLine = 4096;
inline constexpr std::size_t kMaxReasonBytes = 256;

// How long the client waits for the daemon's answer. A drain or maint may
// first take a slot of the drain budget on etcd, bounded by
// kSlotTakeLimitMs (daemon::take_wait) and answered below this, so the
// CLI's answer is the daemon's; a reload answers once applied; anything
// else answers at once.
inline constexpr int kControlAnswerMs = 2000;
inline constexpr int kSlotTakeLimitMs = 20'000;
inline constexpr int kSlotAnswerMs = kSlotTakeLimitMs + 10'000;
inline constexpr int kReloadAnswerMs = 120'000;
[[nodiscard]] int answer_timeout_ms(std::string_view cmd);

struct ControlRequest {
  std::string cmd;  // "drain", "maint", "ready", "stop", "reload", "restart", "ping", "status",
                   // "drain-status"
  std::string reason;
  bool now = false;  // stop: skip the drain wait
  bool force = false;  // drain, maint: without the drain budget's consent
  bool operator==(const ControlRequest&) const = default;
};

struct ControlReply {
  bool ok = false;
  std::string message;
  int code = 0;            // the exit code the CLI should use (6: bad config)
  std::uint64_t boot = 0;  // identifies one start of the daemon (changes on restart)
  bool operator==(const ControlReply&) const = default;
};

// An operator's reason as it is kept and shown: printable valid UTF-8, cut
// at a character boundary to at most kMaxReasonBytes.
[[nodiscard]] std::string clean_reason(std::string_view reason);

// One request line (without its '\n'). The reason comes back cleaned; an
// error says what is wrong in printable words.
[[nodiscard]] Result<ControlRequest> decode_control_request(std::string_view line);
// The line the CLI sends, '\n' included; the reason is cleaned first.
[[nodiscard]] std::string encode_control_request(const ControlRequest& req);

// The line the daemon answers, '\n' included. The message is made
// printable (its newlines kept: a refused reload lists one error a line).
[[nodiscard]] std::string encode_control_reply(const ControlReply& reply);
[[nodiscard]] Result<ControlReply> decode_control_reply(std::string_view line);

}  // namespace rsagent::daemon
