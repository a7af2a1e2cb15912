#include "rsagent/daemon/control.hpp"

#include "rsagent/util/fs.hpp"
#include "rsagent/util/log.hpp"
#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace rsagent::daemon {

namespace {

using nlohmann::json;
constexpr int kIoTimeoutMs = kControlAnswerMs;

bool fill_addr(const std::string& path, sockaddr_un& sa) {
  if (path.size() >= sizeof sa.sun_path) return false;
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return true;
}

// A reply may be longer than a request: `status` carries every check, a
// refused reload every error.
constexpr std::size_t kMaxReplyLine = 1 << 20;

enum class LineRead { kLine, kTooLong, kNothing };

// Reads one '\n'-terminated line (or what came before EOF) within the
// timeout, without its '\n'. kTooLong once more than `max` bytes came
// without one; kNothing on a timeout or an EOF before any byte.
LineRead read_line(int fd, std::string& out, std::size_t max) {
  char buf[4096];
  std::size_t nl = std::string::npos;
  while (out.size() <= max) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kIoTimeoutMs) <= 0) break;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    const std::size_t from = out.size();
    out.append(buf, static_cast<std::size_t>(n));
    nl = out.find('\n', from);
    if (nl != std::string::npos) break;
  }
  if (nl != std::string::npos && nl <= max) {
    out.resize(nl);
    return LineRead::kLine;
  }
  if (out.size() > max) return LineRead::kTooLong;
  return out.empty() ? LineRead::kNothing : LineRead::kLine;
}

void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

namespace {

// The listening socket at `path`, and the socket file's inode as bound.
Result<std::pair<UniqueFd, ino_t>> bind_socket(const std::string& path) {
  sockaddr_un sa{};
  if (!fill_addr(path, sa)) return make_error("control socket path too long: " + path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return errno_error(errno, "control socket");
  // The caller holds the instance lock, so a socket file left here is stale.
  ::unlink(path.c_str());
  // Created 0600, only root talks to it: the socket file takes its mode
  // from the socket's own inode (less the umask), set here before bind(),
  // so the process-wide umask stays as it is while other threads spawn
  // check children.
  if (::fchmod(fd.get(), 0600) != 0) return errno_error(errno, "control socket " + path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 || ::listen(fd.get(), 16) != 0)
    return errno_error(errno, "control socket " + path);
  struct stat st {};
  const ino_t ino = ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
  return std::make_pair(std::move(fd), ino);
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::bind(const std::string& path,
                                                           ControlHandler handler) {
  auto bound = bind_socket(path);
  if (!bound) return bound.error();
  std::unique_ptr<ControlServer> server(new ControlServer(std::move(bound->first), path, std::move(handler)));
  server->bound_ino_ = bound->second;
  return server;
}

Status ControlServer::rebind() {
  auto bound = bind_socket(path_);
  if (!bound) return bound.error();
  loop_.replace_listener(std::move(bound->first));
  bound_ino_ = bound->second;
  return {};
}

ControlServer::~ControlServer() {
  stop();
  // Only our own socket file: after a rebind the path names the new one.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_ino == bound_ino_) ::unlink(path_.c_str());
}

void ControlServer::start() {
  loop_.start([this](UniqueFd client) { serve(client.get()); });
}

void ControlServer::stop() { loop_.stop(); }

void ControlServer::serve(int client) {
  write_all(client, encode_control_reply(answer(client)));
}

ControlReply ControlServer::answer(int client) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != 0)
    return {false, "refused: only root may change rsagent's state"};
  std::string line;
  switch (read_line(client, line, kMaxRequestLine)) {
    case LineRead::kNothing:
      return {false, "malformed request: no request line within " +
                         std::to_string(kIoTimeoutMs / 1000) + " s"};
    case LineRead::kTooLong:
      return {false, "malformed request: longer than " + std::to_string(kMaxRequestLine) + " bytes"};
    case LineRead::kLine: break;
  }
  auto req = decode_control_request(line);
  if (!req) return {false, "malformed request: " + req.error().str()};
  // One client is served at a time: a command that queued behind a slow
  // one (a drain waiting for the budget's slot) may find its client gone,
  // told "no answer from the daemon". Carrying it out now would do what
  // the operator was told had failed. POLLHUP, not POLLRDHUP: a client
  // that only shut its sending side still waits for the answer.
  pollfd gone{client, 0, 0};
  if (::poll(&gone, 1, 0) == 1 && (gone.revents & (POLLHUP | POLLERR)) != 0) {
    log::warning("control: `" + text::printable(req->cmd) +
                 "` not carried out: its client stopped waiting before it was served");
    return {false, "not carried out: the client stopped waiting"};
  }
  // The handler is the daemon's; whatever it throws must not end the daemon.
  try {
    return handler_(*req);
  } catch (const std::exception& e) {
    return {false, std::string("internal error: ") + e.what() + " (the daemon keeps running)"};
  } catch (...) {
    return {false, "internal error (the daemon keeps running)"};
  }
}

Result<ControlReply> control_call(const std::string& path, const ControlRequest& req) {
  sockaddr_un sa{};
  if (!fill_addr(path, sa)) return make_error("control socket path too long: " + path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error(errno, "control socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    const int e = errno;
    ::close(fd);
    return errno_error(e, "connect " + path);
  }
  write_all(fd, encode_control_request(req));
  std::string line;
  // A reload answers only once applied, a drain once the budget's slot is
  // taken or refused: allow them more than the I/O timeout.
  pollfd p{fd, POLLIN, 0};
  (void)::poll(&p, 1, answer_timeout_ms(req.cmd));
  const LineRead got = read_line(fd, line, kMaxReplyLine);
  ::close(fd);
  if (got != LineRead::kLine) return make_error("no answer from the daemon on " + path);
  auto reply = decode_control_reply(line);
  if (!reply) return Result<ControlReply>(reply.error()).with_context("malformed answer from the daemon");
  return reply;
}

Result<verdict::OperatorState> OperatorStore::load() const {
  auto text = fs::read_if_exists(path_);
  if (!text) return text.error();
  if (!*text) return verdict::OperatorState{};
  try {
    const json j = json::parse(**text);
    verdict::OperatorState s;
    const std::string st = j.at("state").get<std::string>();
    if (st == "drain") {
      s.admin = verdict::Admin::kDrain;
    } else if (st == "maint") {
      s.admin = verdict::Admin::kMaint;
    } else if (st != "ready") {
      return make_error(path_ + ": unknown state \"" + st + "\"");
    }
    s.reason = clean_reason(j.value("reason", ""));  // the file may have been edited by hand
    s.since_unix = j.value("since", std::int64_t{0});
    return s;
  } catch (const std::exception& e) {
    return make_error(path_ + ": malformed (" + text::printable(e.what()) +
                      "); fix it or run `rsagent ready` to rewrite it");
  }
}

Status OperatorStore::save(const verdict::OperatorState& s) const {
  const json j{{"state", verdict::admin_name(s.admin)}, {"reason", clean_reason(s.reason)},
               {"since", s.since_unix}};
  return fs::write_atomic(path_, j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n", 0644);
}

}  // namespace rsagent::daemon
