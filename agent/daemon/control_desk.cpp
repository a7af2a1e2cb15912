#include "rsagent/daemon/control_desk.hpp"

#include "rsagent/daemon/options.hpp"
#include "rsagent/drain/sample.hpp"
#include "rsagent/endpoint/report.hpp"
#include "rsagent/util/log.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <sys/random.h>
#include <unistd.h>

namespace rsagent::daemon {

namespace {
// A reload of 10,000 VIPs takes seconds; beyond this the caller is told to read the log.
constexpr auto kReloadAnswerTimeout = std::chrono::seconds(110);
}  // namespace

// No need for std::random_device, whose set-up probes the CPU on every start.
std::uint64_t random_boot_id() {
  std::uint64_t id = 0;
  if (::getrandom(&id, sizeof id, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof id))
    id = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
         (static_cast<std::uint64_t>(::getpid()) << 32);
  return id;
}

ControlReply ControlDesk::answer(const ControlRequest& r) {
  ControlReply rep;
  if (r.cmd == "ping") {
    rep = {true, "running (pid " + std::to_string(getpid()) + ")"};
  } else if (r.cmd == "status") {
    // The verdict, operator state and checks as JSON text. replace: a stray
    // byte must not make the dump throw.
    rep = {true, endpoint::summary_json(board_)
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
  } else if (r.cmd == "drain-status") {
    // The same, with the open connections to the VIPs and the daemon's
    // clock: one sample of `drain --wait`'s confirmation.
    rep = {true, drain::drain_status_json(board_)
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
  } else if (r.cmd == "restart") {
    if (stop_requested) {
      rep = {false, "rsagent is stopping; not restarting", exit_code::kFailure};
    } else {
      wish(restart_requested);
      rep = {true, "restarting with the binary on disk; VIPs, routes and sysctls stay in place"};
    }
  } else if (r.cmd == "reload") {
    rep = queue_reload(r);
  } else if (r.cmd == "stop") {
    stop_now = stop_now || r.now;
    wish(stop_requested);
    rep = {true, r.now ? "stopping now" : "stopping"};
  } else {
    rep = set_operator(r);
  }
  rep.boot = boot;
  return rep;
}

void ControlDesk::wish(std::atomic<bool>& flag) {
  flag = true;
  loop_.wake();
}

// Netlink belongs to the main thread: hand the request over and wait.
ControlReply ControlDesk::queue_reload(const ControlRequest& r) {
  auto p = std::make_shared<Pending>();
  p->req = r;
  auto fut = p->reply.get_future();
  {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    if (stopping_ || stop_requested)
      return {false, "rsagent is stopping; the running configuration stays until it exits",
              exit_code::kFailure};
    pending_.push_back(p);
  }
  loop_.wake();
  if (fut.wait_for(kReloadAnswerTimeout) != std::future_status::ready)
    return {false, "reload is taking too long; see the log", exit_code::kFailure};
  return fut.get();
}

ControlReply ControlDesk::set_operator(const ControlRequest& r) {
  verdict::OperatorState op;
  if (r.cmd == "drain") {
    op.admin = verdict::Admin::kDrain;
  } else if (r.cmd == "maint") {
    op.admin = verdict::Admin::kMaint;
  } else if (r.cmd != "ready") {
    return {false, "unknown command \"" + r.cmd + "\""};
  }
  op.reason = clean_reason(r.reason);
  op.since_unix = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  std::lock_guard<std::mutex> lock(operator_mutex_);
  std::string note;
  if (op.admin != verdict::Admin::kReady && admit_)
    if (auto refused = admit_(r, op, note)) return *refused;
  // Persist first: a drain the director saw must survive a restart.
  if (auto s = store_.save(op); !s) {
    // A slot taken for a state that was not set goes again, unless the
    // node was out already (the state it keeps holds the slot).
    if (board_.snapshot()->op.admin == verdict::Admin::kReady && release_) release_();
    return {false, s.error().str()};
  }
  board_.set_operator(op);
  if (op.admin == verdict::Admin::kReady && release_) release_();
  log::notice(std::string("operator: ") + verdict::admin_name(op.admin) +
              (op.reason.empty() ? "" : " (" + op.reason + ")"));
  const auto snap = board_.snapshot();
  return {true, std::string("state is now ") + verdict::mode_name(snap->verdict.mode) +
                    (snap->verdict.reason.empty() ? "" : ": " + snap->verdict.reason) + note};
}

void ControlDesk::run_pending(const std::function<ControlReply()>& reload) {
  while (true) {
    std::shared_ptr<Pending> p;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      if (pending_.empty()) return;
      p = pending_.front();
      pending_.pop_front();
    }
    p->reply.set_value(reload());
  }
}

void ControlDesk::refuse_pending() {
  std::lock_guard<std::mutex> lock(pending_mutex_);
  stopping_ = true;
  for (auto& p : pending_)
    p->reply.set_value({false, "rsagent is stopping; the " + p->req.cmd + " was not done", exit_code::kFailure});
  pending_.clear();
}

}  // namespace rsagent::daemon
