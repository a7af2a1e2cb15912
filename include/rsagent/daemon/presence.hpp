// The daemon's presence: a listening abstract unix socket named after the
// state folder. Unlike the lock and pid files it cannot be removed with the
// state folder, and the kernel drops it when the process ends, even after
// kill -9. `start` claims it before it forks and hands it down; the daemon
// takes the instance lock, then binds it anew under its own pid (a peer's
// SO_PEERCRED names whoever bound it), and `stop`, `status` and a second
// `start` find a running daemon through it (or, for that moment, its lock),
// never through files alone. Nobody accepts on it: a connection waits in the
// backlog, and the kernel hangs it up the moment the daemon lets go, which is
// how `stop` waits. Abstract names belong to a network namespace: the CLI
// runs in the namespace whose network rsagent manages, as the daemon does.
// No threads. Errors: Result with errno and the name.
#pragma once

#include "rsagent/daemon/paths.hpp"
#include "rsagent/util/fd.hpp"
#include "rsagent/util/result.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>

namespace rsagent::daemon {

class Presence {
 public:
  Presence() = default;
  // Binds and listens; EADDRINUSE in the error while another process holds it.
  [[nodiscard]] static Result<Presence> claim(const Paths& paths);
  // Takes ownership of the socket `start` claimed and handed down
  // (--presence-fd), so it can be let go and claimed anew by this process.
  [[nodiscard]] static Presence adopt(int fd) { return Presence(UniqueFd(fd)); }
  [[nodiscard]] bool held() const { return fd_.get() >= 0; }
  [[nodiscard]] int fd() const { return fd_.get(); }
  // Lets go before the process ends: `stop` waits for exactly this.
  void release() { fd_.reset(); }

 private:
  explicit Presence(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// The abstract name for a state folder ("rsagent:" and its absolute path,
// or a hash of it when that is too long for a socket address).
[[nodiscard]] std::string presence_name(const Paths& paths);

struct PresenceHolder {
  pid_t pid = 0;
  bool daemon = false;  // rsagentd; false: a `start` still on its way to exec it
};
// Who holds the presence of `paths` now; nullopt when nobody does.
[[nodiscard]] std::optional<PresenceHolder> presence_holder(const Paths& paths);
// A daemon (or a `start` on its way) runs for `paths`: its presence is held,
// or its lock file is.
[[nodiscard]] bool daemon_running(const Paths& paths);
// Waits until whoever holds the presence of `paths` has let go, or `timeout`;
// true when it has (or nobody held it).
[[nodiscard]] bool wait_presence_released(const Paths& paths, std::chrono::milliseconds timeout);

}  // namespace rsagent::daemon
