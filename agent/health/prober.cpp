#include "rsagent/health/prober.hpp"


#include <arpa/inet.h>
#include "rsagent/util/fd.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace rsagent::health {

namespace {

using Steady = std::chrono::steady_clock;

int remaining_ms(Steady::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

std::string short_output(std::string s) {
  if (s.size() > kMaxOutput) s = s.substr(0, kMaxOutput) + "...";
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

namespace {

ProbeResult probe_tcp(const config::Check& ck) {
  const auto deadline = Steady::now() + ck.timeout;
  sockaddr_storage ss{};
  socklen_t len = 0;
  const auto& a = ck.address.address;
  if (a.family == net::Family::kV4) {
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
  pollfd p{fd.get(), POLLOUT, 0};
  const int n = ::poll(&p, 1, remaining_ms(deadline));
  if (n == 0) return {false, "connect " + ck.address.str() + ": timed out", {}};
  int err = 0;
  socklen_t elen = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) return {false, "connect " + ck.address.str() + ": " + std::strerror(err), {}};
  return {true, "connected", {}};
}

ProbeResult probe_exec(const config::Check& ck) {
  const auto deadline = Steady::now() + ck.timeout;
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return {false, std::string("pipe: ") + std::strerror(errno), {}};
  UniqueFd rd(pipefd[0]);
  UniqueFd wr(pipefd[1]);
  // argv is built before fork: between fork and exec only async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& a : ck.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return {false, std::string("fork: ") + std::strerror(errno), {}};
  if (pid == 0) {
    // Its own process group, so a timeout kills the command and its children.
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::dup2(wr.get(), STDOUT_FILENO);
    ::dup2(wr.get(), STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    const char msg[] = "exec failed\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here: no race with the child's own call
  wr.reset();
  std::string out;
  bool timed_out = false;
  char buf[512];
  while (true) {
    pollfd p{rd.get(), POLLIN, 0};
    const int left = remaining_ms(deadline);
    if (left == 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      timed_out = true;
      break;
    }
    const ssize_t r = ::read(rd.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // EOF: every holder of the pipe is gone
    if (out.size() < kMaxOutput * 2) out.append(buf, static_cast<std::size_t>(r));
  }
  int status = 0;
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return {false, "timed out after " + std::to_string(ck.timeout.count()) + "ms (process group killed)" +
                       (out.empty() ? "" : ": " + short_output(out)),
            {}};
  }
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, short_output(out), {}};
  const std::string how = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                            : std::string("signal ") + std::to_string(WTERMSIG(status));
  return {false, how + (out.empty() ? "" : ": " + short_output(out)), {}};
}

class RealProber final : public Prober {
 public:
  explicit RealProber(HttpProbe http) : http_(http) {}
  ProbeResult probe(const config::Check& ck) override {
    const auto t0 = Steady::now();
    ProbeResult r;
    switch (ck.type) {
      case config::Check::Type::kTcp: r = probe_tcp(ck); break;
      case config::Check::Type::kHttp:
        r = http_ != nullptr ? http_(ck) : ProbeResult{false, "http checks run in rsagentd only", {}};
        break;
      case config::Check::Type::kExec: r = probe_exec(ck); break;
    }
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - t0);
    return r;
  }

 private:
  HttpProbe http_;
};

}  // namespace

std::unique_ptr<Prober> make_prober(HttpProbe http) { return std::make_unique<RealProber>(http); }

}  // namespace rsagent::health
