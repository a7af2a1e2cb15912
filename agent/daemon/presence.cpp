#include "rsagent/daemon/presence.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

namespace rsagent::daemon {

namespace {

constexpr int kBacklog = 64;

// FNV-1a: stable across builds and processes, unlike std::hash.
std::string fnv1a_hex(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

socklen_t address_of(const Paths& paths, sockaddr_un& sa) {
  const std::string name = presence_name(paths);
  sa = {};
  sa.sun_family = AF_UNIX;
  // sun_path[0] stays NUL: the abstract namespace, no file anywhere.
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
}

// A connection to the presence of `paths`, or an invalid fd when nobody
// holds it. A full backlog (EAGAIN) still means somebody does.
UniqueFd connect_presence(const Paths& paths, bool& held) {
  held = false;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return fd;
  sockaddr_un sa{};
  const socklen_t len = address_of(paths, sa);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), len) == 0) {
    held = true;
    return fd;
  }
  held = errno == EAGAIN;
  return UniqueFd();
}

std::string comm_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

}  // namespace

std::string presence_name(const Paths& paths) {
  const std::string dir =
      std::filesystem::absolute(std::filesystem::path(paths.runtime)).lexically_normal().string();
  std::string name = "rsagent:" + dir;
  // sun_path holds 108 bytes, the first of them the abstract namespace's NUL.
  if (name.size() > sizeof(sockaddr_un::sun_path) - 1) name = "rsagent#" + fnv1a_hex(dir);
  return name;
}

Result<Presence> Presence::claim(const Paths& paths) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return errno_error(errno, "presence socket");
  sockaddr_un sa{};
  const socklen_t len = address_of(paths, sa);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), len) != 0)
    return errno_error(errno, "bind @" + presence_name(paths));
  if (::listen(fd.get(), kBacklog) != 0) return errno_error(errno, "listen @" + presence_name(paths));
  return Presence(std::move(fd));
}

std::optional<PresenceHolder> presence_holder(const Paths& paths) {
  bool held = false;
  const UniqueFd fd = connect_presence(paths, held);
  if (!held) return std::nullopt;
  PresenceHolder h;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (fd.get() >= 0 && ::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    h.pid = cred.pid;
    h.daemon = comm_of(cred.pid) == "rsagentd";
  }
  return h;
}

bool daemon_running(const Paths& paths) {
  return presence_holder(paths).has_value() || lock_is_held(paths.lockfile());
}

bool wait_presence_released(const Paths& paths, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    bool held = false;
    const UniqueFd fd = connect_presence(paths, held);
    if (!held) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (fd.get() < 0) {
      // The backlog is full: look again shortly.
      ::poll(nullptr, 0, static_cast<int>(std::min<std::int64_t>(left.count(), 20)));
      continue;
    }
    // The kernel hangs up a connection still in the backlog when the
    // listener closes: POLLHUP the moment the daemon lets go.
    pollfd p{fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return false;
    if (n > 0) continue;  // hung up: confirm with a fresh connect
  }
}

}  // namespace rsagent::daemon
