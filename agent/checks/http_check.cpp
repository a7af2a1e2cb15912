#include "rsagent/checks/http_check.hpp"

#include "rsagent/checks/prober.hpp"
#include "rsagent/util/fd.hpp"

#include <httplib.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

namespace rsagent::checks {

namespace {

using Steady = std::chrono::steady_clock;

// How often a fired Deadline shuts the probe's socket down again: a socket
// that cpp-httplib created just before the deadline may not have started
// its connect yet, and shutting down an unconnected socket does nothing.
constexpr std::chrono::milliseconds kReshutEvery{5};

int ms_until(Steady::time_point t) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(t - Steady::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// Ends a probe at its deadline or at a cancel, whatever the server does.
// cpp-httplib's timeouts apply to each connect, read and write on its own,
// so a server that sends a byte now and then would hold a probe for as long
// as it likes. A thread of its own waits for the deadline, the cancel fd and
// the probe's end; at the deadline or a cancel it shuts the probe's socket
// down, which makes the connect, TLS handshake, read or write in progress
// fail at once. (Client::stop() cannot do this: it takes the lock that
// cpp-httplib holds through the connect and the handshake.) The socket comes
// from the socket-options hook, which hands over each socket before it
// connects; we keep a duplicate of it, so the descriptor we shut down is
// ours until we close it and can never be a number that cpp-httplib closed
// and another thread reused.
class Deadline {
 public:
  enum class Why : std::uint8_t { kNone, kDeadline, kCancelled };

  Deadline(Steady::time_point at, int cancel_fd)
      : at_(at), cancel_fd_(cancel_fd), done_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (done_.get() < 0) return;
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error&) {
      // No thread to spare: armed() says so and the probe does not run.
    }
  }
  ~Deadline() {
    const std::uint64_t one = 1;
    (void)!::write(done_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // False when the watch could not start (no eventfd or thread): the probe must not
  // run without its deadline.
  [[nodiscard]] bool armed() const { return thread_.joinable(); }

  // The socket-options hook: called on the probe's thread with each socket
  // cpp-httplib creates, before it connects.
  void adopt(int sock) {
    std::lock_guard<std::mutex> lock(mutex_);
    sock_.reset(::fcntl(sock, F_DUPFD_CLOEXEC, 0));
  }

  [[nodiscard]] Why fired() const { return why_.load(); }

 private:
  void run() {
    pollfd p[2] = {{done_.get(), POLLIN, 0}, {cancel_fd_, POLLIN, 0}};
    const nfds_t n = cancel_fd_ >= 0 ? 2 : 1;
    while (true) {
      const int left = ms_until(at_);
      const int r = left == 0 ? 0 : ::poll(p, n, left);
      if (r < 0 && errno == EINTR) continue;
      if (r > 0 && p[0].revents != 0) return;  // the probe ended first
      why_ = r > 0 && n == 2 && p[1].revents != 0 ? Why::kCancelled : Why::kDeadline;
      break;
    }
    // Until the probe returns, keep its socket shut down.
    do {
      std::lock_guard<std::mutex> lock(mutex_);
      if (sock_.get() >= 0) ::shutdown(sock_.get(), SHUT_RDWR);
    } while (::poll(p, 1, static_cast<int>(kReshutEvery.count())) == 0 || p[0].revents == 0);
  }

  Steady::time_point at_;
  int cancel_fd_;
  UniqueFd done_;
  std::mutex mutex_;
  UniqueFd sock_;
  std::atomic<Why> why_{Why::kNone};
  std::thread thread_;
};

// cpp-httplib names its errors in one word ("Connection"); the status and
// the headers a director sees should say what happened.
std::string describe(httplib::Error e, std::chrono::milliseconds timeout) {
  const std::string within = " within " + std::to_string(timeout.count()) + " ms";
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect (refused, reset or unreachable)";
    case httplib::Error::ConnectionTimeout:
      return "no connection" + within;
    case httplib::Error::Read:
      return "no complete answer" + within + " (or the connection broke)";
    case httplib::Error::Write:
      return "could not send the request" + within;
    case httplib::Error::SSLConnection:
      return "TLS handshake failed (is the service speaking TLS on this port?)";
    case httplib::Error::SSLServerVerification:
      return "the service's TLS certificate is not trusted or does not name the host; fix the "
             "certificate, set \"host\" to the name it carries, or set \"tls_verify\": false";
    default:
      return httplib::to_string(e);
  }
}

template <typename C>
void limit(C& cli, std::chrono::milliseconds t, Deadline& deadline) {
  // Each of these is a bound on one step; the Deadline is the bound on all.
  const auto sec = std::chrono::duration_cast<std::chrono::seconds>(t);
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(t - sec);
  cli.set_connection_timeout(sec.count(), usec.count());
  cli.set_read_timeout(sec.count(), usec.count());
  cli.set_write_timeout(sec.count(), usec.count());
  cli.set_keep_alive(false);
  // Replaces cpp-httplib's default hook, which only sets SO_REUSEADDR: a
  // client socket has no use for it.
  cli.set_socket_options([&deadline](int sock) { deadline.adopt(sock); });
}

bool status_ok(const config::Check& ck, int status) {
  return ck.expect.empty()
             ? (status >= 200 && status <= 399)
             : std::find(ck.expect.begin(), ck.expect.end(), status) != ck.expect.end();
}

// What one GET saw: the status (0 before the headers were complete) and at
// most ck.max_body bytes of the body.
struct Answer {
  int status = 0;
  std::string body;
  bool cut = false;  // the body went on past max_body; we stopped reading
};

template <typename C>
httplib::Result get(C& cli, const config::Check& ck, const httplib::Headers& headers, Answer& a) {
  return cli.Get(
      ck.path.c_str(), headers,
      [&](const httplib::Response& res) {
        a.status = res.status;
        return status_ok(ck, res.status);  // a wrong status needs no body
      },
      [&](const char* data, std::size_t len) {
        const std::size_t room = ck.max_body - a.body.size();
        a.body.append(data, std::min(room, len));
        if (len <= room) return true;
        a.cut = true;
        return false;
      });
}

// The verdict on an answer (or its absence).
verdict::ProbeResult judge(const config::Check& ck, const httplib::Result& res, const Answer& a,
                  Deadline::Why why) {
  const std::string what = "GET " + ck.url + ": ";
  if (why == Deadline::Why::kCancelled) return {false, what + "cancelled", {}};
  // Enough to judge: the whole answer, a body cut at max_body (not an error
  // by itself: judged on what was read), or a status that fails already.
  const bool judged = res || a.cut || (a.status != 0 && !status_ok(ck, a.status));
  if (!judged && why == Deadline::Why::kDeadline) {
    const std::string limit =
        "the deadline of " + std::to_string(ck.timeout.count()) + " ms (counted from the connect)";
    if (a.status == 0) return {false, what + "no status and headers within " + limit, {}};
    return {false,
            what + "status " + std::to_string(a.status) + " but the body did not end within " +
                limit + ", " + std::to_string(a.body.size()) + " bytes read",
            {}};
  }
  if (!judged) return {false, what + describe(res.error(), ck.timeout), {}};
  if (!status_ok(ck, a.status)) return {false, what + "status " + std::to_string(a.status), {}};
  const std::string cut =
      a.cut ? " (body cut at max_body, " + std::to_string(ck.max_body) + " bytes)" : "";
  if (!ck.contains.empty() && a.body.find(ck.contains) == std::string::npos)
    return {false, what + "body lacks \"" + short_output(ck.contains) + "\"" + cut, {}};
  return {true, "status " + std::to_string(a.status) + cut, {}};
}

}  // namespace

verdict::ProbeResult probe_http(const config::Check& ck, int cancel_fd) {
  const std::string ip = ck.address.address.str();
  const int port = ck.address.port;
  httplib::Headers headers{{"User-Agent", "rsagent-check"}};
  Deadline deadline(Steady::now() + ck.timeout, cancel_fd);
  if (!deadline.armed())
    return {false, "GET " + ck.url + ": not run: no eventfd or thread to watch its deadline", {}};
  Answer a;
  if (ck.tls) {
    // The client is named for the host the certificate carries (SNI and
    // verification use it) and connects to the configured address: the
    // map keeps it from resolving the name.
    httplib::SSLClient cli(ck.host.empty() ? ip : ck.host, port);
    if (!ck.host.empty()) cli.set_hostname_addr_map({{ck.host, ip}});
    cli.enable_server_certificate_verification(ck.tls_verify);
    limit(cli, ck.timeout, deadline);
    const auto res = get(cli, ck, headers, a);
    return judge(ck, res, a, deadline.fired());
  }
  httplib::Client cli(ip, port);
  if (!ck.host.empty()) headers.emplace("Host", ck.host);
  limit(cli, ck.timeout, deadline);
  const auto res = get(cli, ck, headers, a);
  return judge(ck, res, a, deadline.fired());
}

}  // namespace rsagent::checks
