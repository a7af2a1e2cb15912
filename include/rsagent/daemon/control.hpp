// The operator's channel to a running daemon: a Unix stream socket in the
// runtime folder (mode 0600; the peer must be root), one JSON line each way.
// Never reachable over the network. Also the persistent operator state
// (drain/maint survive restarts and reboots).
// Threads: ControlServer has one accept thread and calls the handler on it.
// Errors: Result with errno and the socket path. Every request gets an
// answer, a malformed or refused one too, and a handler that throws is
// answered as an internal error: nothing a peer sends ends the daemon.
#pragma once

#include "rsagent/daemon/control_codec.hpp"
#include "rsagent/verdict/state.hpp"
#include "rsagent/util/accept_loop.hpp"
#include "rsagent/util/result.hpp"

#include <functional>
#include <memory>
#include <string>
#include <sys/types.h>

namespace rsagent::daemon {

using ControlHandler = std::function<ControlReply(const ControlRequest&)>;

class ControlServer {
 public:
  [[nodiscard]] static Result<std::unique_ptr<ControlServer>> bind(const std::string& path,
                                                                   ControlHandler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  void start();
  void stop();
  // Binds the socket file again (someone removed it) and hands the new
  // socket to the running thread; never waits for that thread, which may
  // be waiting for the caller to answer a reload.
  [[nodiscard]] Status rebind();

 private:
  ControlServer(UniqueFd fd, std::string path, ControlHandler h)
      : loop_(std::move(fd), 0, "control socket"), path_(std::move(path)), handler_(std::move(h)) {}
  void serve(int client);
  ControlReply answer(int client);
  AcceptLoop loop_;
  std::string path_;
  ControlHandler handler_;
  ino_t bound_ino_ = 0;  // the socket file as bound, so that only it is removed
};

// ENOENT/ECONNREFUSED in the error when no daemon listens.
[[nodiscard]] Result<ControlReply> control_call(const std::string& path, const ControlRequest& req);

class OperatorStore {
 public:
  explicit OperatorStore(std::string path) : path_(std::move(path)) {}
  [[nodiscard]] Result<verdict::OperatorState> load() const;  // absent file: ready
  [[nodiscard]] Status save(const verdict::OperatorState& s) const;

 private:
  std::string path_;
};

}  // namespace rsagent::daemon
