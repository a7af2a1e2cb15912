// systemd's notification protocol, written directly (no libsystemd): one
// datagram per call to $NOTIFY_SOCKET (a path, or '@' for the abstract
// namespace). Also the watchdog interval from $WATCHDOG_USEC. Thread-safe
// (each call opens its own socket); a missing NOTIFY_SOCKET makes every call
// a no-op, and a failed send is ignored: notification is advisory.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace rsagent::sd {

bool notify(const std::string& state);  // "READY=1\nSTATUS=..." ; false if not sent
[[nodiscard]] bool enabled();
// How often to send WATCHDOG=1 (half the configured timeout), if systemd asked.
[[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval();
[[nodiscard]] std::string monotonic_usec();  // "MONOTONIC_USEC=..." for RELOADING=1

}  // namespace rsagent::sd
