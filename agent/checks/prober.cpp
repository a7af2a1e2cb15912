#include "rsagent/checks/prober.hpp"

#include "rsagent/util/fd.hpp"
#include "rsagent/util/process.hpp"
#include "rsagent/util/text.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rsagent::checks {

namespace {

using Steady = std::chrono::steady_clock;

int remaining_ms(Steady::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::string short_output(std::string s) {
  // One line: a status line or a header cannot hold more. Command output is
  // bytes from outside: it is cleaned here, where it enters, so that every
  // later use (the status, a header, a JSON dump, the log) can take it as
  // printable UTF-8 without a second look and none of them can fail on it.
  return text::one_line(s, kMaxOutput, true);
}

namespace {

verdict::ProbeResult probe_tcp(const config::Check& ck, int cancel_fd) {
  const auto deadline = Steady::now() + ck.timeout;
  sockaddr_storage ss{};
  socklen_t len = 0;
  const auto& a = ck.address.address;
  if (a.family == Family::kV4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(ck.address.port);
    std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(ck.address.port);
    std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return {false, std::string("socket: ") + std::strerror(errno), {}};
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS)
    return {false, "connect " + ck.address.str() + ": " + std::strerror(errno), {}};
  pollfd p[2] = {{fd.get(), POLLOUT, 0}, {cancel_fd, POLLIN, 0}};
  int n = 0;
  do {
    n = ::poll(p, 2, remaining_ms(deadline));
  } while (n < 0 && errno == EINTR);
  if (n == 0) return {false, "connect " + ck.address.str() + ": timed out", {}};
  if (p[1].revents != 0) return {false, "connect " + ck.address.str() + ": cancelled", {}};
  int err = 0;
  socklen_t elen = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) return {false, "connect " + ck.address.str() + ": " + std::strerror(err), {}};
  return {true, "connected", {}};
}

verdict::ProbeResult probe_exec(const config::Check& ck, int cancel_fd) {
  proc::RunOptions o;
  o.timeout = ck.timeout;
  o.max_output = kMaxOutput * 4;  // room to cut at a character boundary
  o.cancel_fd = cancel_fd;
  // A command whose previous run is still unreaped (stuck in the kernel)
  // is not started again: the reason says so.
  o.owner = "check " + ck.name;
  auto r = proc::run(ck.command, o);
  if (!r) return {false, short_output(r.error().str()), {}};
  const std::string out = short_output(r->output);
  if (r->success()) return {true, out, {}};
  return {false, r->str() + (out.empty() ? "" : ": " + out), {}};
}

class RealProber final : public Prober {
 public:
  // Written once by cancel() and never read: it stays readable, so every
  // probe running then or later sees it.
  explicit RealProber(HttpProbe http) : http_(http), cancel_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

  void cancel() override {
    const std::uint64_t one = 1;
    (void)!::write(cancel_.get(), &one, sizeof one);
  }

  verdict::ProbeResult probe(const config::Check& ck) override {
    const auto t0 = Steady::now();
    verdict::ProbeResult r;
    switch (ck.type) {
      case config::Check::Type::kTcp: r = probe_tcp(ck, cancel_.get()); break;
      case config::Check::Type::kHttp:
        r = http_ != nullptr ? http_(ck, cancel_.get()) : verdict::ProbeResult{false, "http checks run in rsagentd only", {}};
        break;
      case config::Check::Type::kExec: r = probe_exec(ck, cancel_.get()); break;
    }
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - t0);
    return r;
  }

 private:
  HttpProbe http_;
  UniqueFd cancel_;
};

}  // namespace

std::unique_ptr<Prober> make_prober(HttpProbe http) { return std::make_unique<RealProber>(http); }

}  // namespace rsagent::checks
