#include "rsagent/daemon/daemon.hpp"
#include "rsagent/health/net_health.hpp"

#include "rsagent/arpguard/sentinel.hpp"
#include "rsagent/daemon/agent.hpp"
#include "rsagent/daemon/control.hpp"
#include "rsagent/daemon/state_keeper.hpp"
#include "rsagent/health/agent_check.hpp"
#include "rsagent/health/http_server.hpp"
#include "rsagent/health/monitor.hpp"
#include "rsagent/health/tcp_gate.hpp"
#include "rsagent/health/report.hpp"
#include "rsagent/net/plan.hpp"
#include "rsagent/net/sockdiag.hpp"
#include "rsagent/util/fs.hpp"
#include "rsagent/util/log.hpp"
#include "rsagent/util/sd_jobs.hpp"
#include "rsagent/util/sd_notify.hpp"

#include <atomic>
#include <deque>
#include <future>
#include <optional>
#include <set>
#include <tuple>
#include "rsagent/util/fd.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

namespace rsagent::daemon {

namespace {

using nlohmann::json;
constexpr std::chrono::milliseconds kTick{1000};
constexpr std::chrono::milliseconds kDrainPoll{200};
// A full dump and re-plan every this many ticks (see tick()).
constexpr std::uint64_t kFullCheckTicks = 5;
// systemctl answers from memory; do not let a hung bus delay a stop much.
constexpr std::chrono::milliseconds kRestartQueryTimeout{3000};

// Tells one daemon process from the next (restart waits for a new one); no
// need for std::random_device, whose set-up probes the CPU on every start.
std::uint64_t random_boot_id() {
  std::uint64_t id = 0;
  if (::getrandom(&id, sizeof id, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof id))
    id = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
         (static_cast<std::uint64_t>(::getpid()) << 32);
  return id;
}

// Where a starting daemon reports its outcome: the `start` parent through a
// pipe, or stderr when run in the foreground.
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  int fail(int code, const std::string& msg) {
    if (fd_ < 0) {
      log::error(msg);
    } else {
      send(code, msg);
    }
    return code;
  }
  void ready(const std::string& summary) {
    if (fd_ < 0) {
      log::notice(summary);
      return;
    }
    send(exit_code::kOk, summary);
    // The terminal belongs to the operator again; from now on, syslog only.
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      ::close(null);
    }
    auto o = log::current();
    o.to_stderr = false;
    log::configure(o);
  }

 private:
  int fd_;
  void send(int code, const std::string& msg) {
    const std::string out = std::to_string(code) + "\n" + msg;
    (void)!::write(fd_, out.data(), out.size());
    ::close(fd_);
    fd_ = -1;
  }
};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Daemon {
 public:
  Daemon(const CommandOptions& opts, health::HttpProbe http_probe)
      : opts_(opts), rep_(opts.ready_fd), http_probe_(http_probe) {}

  int run() {
    if (const int code = start_up(); code >= 0) return code;
    loop();
    refuse_pending();
    if (restart_requested_) return reexec();
    if (hand_over_) return hand_over();
    return shut_down();
  }

 private:
  CommandOptions opts_;
  Reporter rep_;
  health::HttpProbe http_probe_;
  Paths paths_;
  config::Config cfg_;
  InstanceLock lock_;
  UniqueFd signals_;
  UniqueFd timer_;
  UniqueFd wake_;  // control thread -> main loop
  std::unique_ptr<Agent> agent_;
  net::Journal journal_;
  std::unique_ptr<health::Board> board_;
  // Right after the Board, whose verdict changes call it: destroyed after
  // every thread that changes the verdict.
  std::unique_ptr<health::TcpGate> tcp_gate_;
  std::unique_ptr<arpguard::Sentinel> arp_guard_;  // its thread publishes into the Board
  std::unique_ptr<health::Monitor> monitor_;
  std::unique_ptr<health::HttpServer> http_;
  std::unique_ptr<health::AgentCheckServer> agent_check_;
  std::unique_ptr<OperatorStore> operator_store_;
  std::mutex operator_mutex_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> stop_now_{false};
  health::Mode last_mode_ = health::Mode::kDown;
  std::string sd_status_;  // the STATUS= systemd has; empty until READY=1
  bool first_tick_ = true;
  int events_fd_ = -1;
  std::string last_repair_error_;
  std::uint64_t ticks_ = 0;
  std::string self_exe_;  // the binary on disk, for a restart
  const std::uint64_t boot_ = random_boot_id();
  std::atomic<bool> restart_requested_{false};
  // systemd is restarting the unit: leave everything in place for the next process.
  bool hand_over_ = false;
  std::string unit_;  // our systemd unit, when systemd started us
  // Requests that must run on the netlink thread (reload), with their answer.
  struct Pending {
    ControlRequest req;
    std::promise<ControlReply> reply;
  };
  std::mutex pending_mutex_;
  std::deque<std::shared_ptr<Pending>> pending_;
  bool stopping_ = false;  // under pending_mutex_: the loop has ended, refuse new requests
  std::unique_ptr<StateKeeper> keeper_;
  // Last, so destroyed first: its thread calls on_control(), which uses the
  // members above.
  std::unique_ptr<ControlServer> control_;

  // Returns an exit code on failure, -1 once the daemon is up.
  int start_up() {
    auto loaded = config::load(opts_.config);
    if (!loaded.config) {
      std::string all;
      for (const auto& d : loaded.errors) all += d.str() + "\n";
      all += std::to_string(loaded.errors.size()) + " configuration error(s); nothing was changed";
      return rep_.fail(exit_code::kBadConfig, all);
    }
    cfg_ = std::move(*loaded.config);
    char exe[4096] = {};
    if (::readlink("/proc/self/exe", exe, sizeof exe - 1) > 0) self_exe_ = exe;
    unit_ = sd::own_unit();
    if (!has_net_admin())
      return rep_.fail(exit_code::kNotPrivileged, std::string("rsagent ") + kNeedPrivilege);

    paths_ = Paths::for_state_dir(opts_.state_dir);
    for (const auto& dir : {paths_.runtime, paths_.persistent})
      if (auto s = fs::make_dirs(dir); !s) return rep_.fail(exit_code::kFailure, s.error().str());
    auto lock = InstanceLock::try_acquire(paths_.lockfile());
    if (!lock) {
      if (lock.error().err == EWOULDBLOCK)
        return rep_.fail(exit_code::kAnotherStart, "another rsagent holds " + paths_.lockfile());
      return rep_.fail(exit_code::kFailure, lock.error().str());
    }
    lock_ = std::move(*lock);
    // A pid file left by a daemon that died names a pid that may be reused:
    // a waiting `start` must see one only once this daemon is ready.
    (void)fs::remove_if_exists(paths_.pidfile());

    // Signals arrive through a signalfd so the loop handles them in order,
    // never inside a half-finished netlink exchange.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    signals_.reset(signalfd(-1, &set, SFD_CLOEXEC));
    timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
    wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (signals_.get() < 0 || timer_.get() < 0 || wake_.get() < 0)
      return rep_.fail(exit_code::kFailure, std::string("signalfd/timerfd/eventfd: ") + std::strerror(errno));

    operator_store_ = std::make_unique<OperatorStore>(paths_.persistent + "/operator.json");
    auto op = operator_store_->load();
    if (!op) return rep_.fail(exit_code::kFailure, op.error().str());
    board_ = std::make_unique<health::Board>(cfg_.health.checks, cfg_.health.maintenance_file);
    board_->set_operator(*op);

    // Every listener is bound before the network changes: a taken port must
    // fail the start with nothing changed.
    auto http_loop = health::HttpLoop::bind(cfg_.health.listen, "health.listen", true);
    if (!http_loop) return rep_.fail(exit_code::kFailure, http_loop.error().str());
    if (cfg_.health.agent_check) {
      auto ac = health::AgentCheckServer::bind(*cfg_.health.agent_check, cfg_.health.allow, *board_);
      if (!ac) return rep_.fail(exit_code::kFailure, ac.error().str());
      agent_check_ = std::move(*ac);
    }
    if (!cfg_.health.tcp_gate.empty()) {
      auto gate = health::TcpGate::bind(cfg_.health.tcp_gate, *board_);
      if (!gate) return rep_.fail(exit_code::kFailure, gate.error().str());
      tcp_gate_ = std::move(*gate);
      board_->gate_configured = true;
      // The gate follows each verdict change on the thread that made it.
      board_->on_verdict_change([gate = tcp_gate_.get()] { gate->follow(); });
    }
    auto control = bind_control();
    if (!control) return rep_.fail(exit_code::kFailure, control.error().str());
    control_ = std::move(*control);
    keeper_ = std::make_unique<StateKeeper>(paths_);
    keeper_->control_bound();

    auto agent = Agent::open(paths_);
    if (!agent) return rep_.fail(exit_code::kFailure, agent.error().str());
    agent_ = std::move(*agent);
    auto conv = agent_->converge(cfg_);
    if (!conv) return rep_.fail(exit_code::kFailure, conv.error().str());
    journal_ = conv->plan.journal;
    // Self-healing: wake on every link/address/route change.
    if (auto ev = agent_->open_events(); ev) {
      events_fd_ = *ev;
    } else {
      log::warning("self-healing falls back to the 1 s check: " + ev.error().str());
    }

    http_ = std::make_unique<health::HttpServer>(cfg_.health, *board_, std::move(*http_loop));
    monitor_ = std::make_unique<health::Monitor>(cfg_.health.checks, *board_, health::make_prober(http_probe_));
    monitor_->start();
    http_->start();
    if (agent_check_) agent_check_->start();
    if (tcp_gate_) tcp_gate_->start();
    // After converge: the ARP sysctls are in place, so any leak is real.
    arp_guard_ = arpguard::Sentinel::create(cfg_.arp_guard, cfg_.vips, *board_);
    arp_guard_->start();
    control_->start();
    // Just converged: nothing to repair yet, only the verdict to compute,
    // from the kernel's acknowledgements of each change rather than a second
    // dump (at 1000 VIPs that dump was a fifth of the start). The event
    // socket and the 1 s tick check the real kernel from here on.
    http_->heartbeat();
    struct stat mst {};
    board_->set_maintenance_file(::stat(cfg_.health.maintenance_file.c_str(), &mst) == 0);
    refresh_net(net::after_plan(std::move(conv->observed), conv->plan));
    arm_timer();
    if (auto s = fs::write_atomic(paths_.pidfile(), std::to_string(getpid()) + "\n", 0644, false); !s)
      log::warning("pidfile: " + s.error().str());
    std::string listening;
    for (const auto& l : cfg_.health.listen) listening += (listening.empty() ? "" : ", ") + l.str();
    const std::string summary = "rsagent running (pid " + std::to_string(getpid()) + "): " +
                                std::to_string(cfg_.vips.size()) + " VIP(s) in place, " +
                                std::to_string(conv->report.changed) + " change(s) made, " +
                                std::to_string(conv->report.adopted) +
                                " existing object(s) adopted; health on " + listening;
    sd_status_ = health::sd_status(board_->snapshot()->verdict, cfg_.vips.size());
    sd::notify("READY=1\nSTATUS=" + sd_status_ + "\nMAINPID=" + std::to_string(getpid()));
    rep_.ready(summary);
    return -1;
  }

  Result<std::unique_ptr<ControlServer>> bind_control() {
    return ControlServer::bind(paths_.control_socket(),
                               [this](const ControlRequest& r) { return on_control(r); });
  }

  // The daemon's files as it wrote them (state_keeper.hpp says why); a
  // removed control socket is bound again.
  void keep_state() {
    const auto r = keeper_->check(journal_, ::getpid(), lock_);
    for (const auto& line : r.repaired) log::warning(line);
    for (const auto& line : r.failed) log::error(line);
    if (!r.rebind_control) return;
    auto fresh = bind_control();
    if (!fresh) {
      log::error("control socket " + paths_.control_socket() + " was removed and cannot be bound again: " +
                 fresh.error().str());
      return;
    }
    (*fresh)->start();
    std::swap(control_, *fresh);
    (*fresh)->stop();
    keeper_->control_bound();
    log::warning("control socket " + paths_.control_socket() + " was removed; bound it again");
  }

  void arm_timer() {
    // The watchdog is pinged from this loop, so tick at least that often.
    auto tick = std::chrono::duration_cast<std::chrono::microseconds>(kTick);
    if (auto wd = sd::watchdog_interval(); wd && *wd < tick) tick = *wd;
    itimerspec its{};
    its.it_value.tv_sec = tick.count() / 1'000'000;
    its.it_value.tv_nsec = (tick.count() % 1'000'000) * 1000;
    its.it_interval = its.it_value;
    timerfd_settime(timer_.get(), 0, &its, nullptr);
  }

  // Puts back what someone removed or changed: owned VIPs and routes, ARP
  // sysctls. Runs on every netlink event and every tick; the plan is empty
  // (one dump, no change) when all is in place.
  // Returns the observed state when nothing had to change (the caller can
  // compute the verdict from it without another dump).
  std::optional<net::ObservedState> reconcile(const char* why) {
    const auto t0 = std::chrono::steady_clock::now();
    auto conv = agent_->converge(cfg_, true, &journal_);
    if (!conv) {
      // "refusing to change anything:\n  reason\n  reason" reads as one line in headers.
      std::string err;
      for (const char c : conv.error().str()) {
        if (c == '\n') {
          err += ' ';
        } else if (!(c == ' ' && !err.empty() && err.back() == ' ')) {
          err += c;
        }
      }
      if (err != last_repair_error_) log::error("self-heal (" + std::string(why) + "): " + err);
      last_repair_error_ = err;
      return std::nullopt;
    }
    last_repair_error_.clear();
    journal_ = conv->plan.journal;
    if (conv->report.changed == 0) return std::move(conv->observed);
    const auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - t0).count() / 1000.0;
    board_->net_repairs += static_cast<std::uint64_t>(conv->report.changed);
    for (const auto& a : conv->plan.actions)
      log::warning("self-heal: someone changed what rsagent holds; " + a.str() + " (" + why +
                   ", fixed in " + std::to_string(ms) + " ms)");
    return net::after_plan(std::move(conv->observed), conv->plan);
  }

  // The netlink thread's periodic look at the network, for the verdict.
  // Addresses and routes arrive as netlink events; a sysctl changes
  // silently. So every tick reads the sysctls rsagent wrote (a few /proc
  // files), and only every kFullCheckTicks, or on drift, does it dump and
  // re-plan everything: with 10000 VIPs a dump costs tens of ms.
  void tick() {
    http_->heartbeat();
    keep_state();
    if (sd::watchdog_interval()) sd::notify("WATCHDOG=1");
    struct stat st {};
    board_->set_maintenance_file(::stat(cfg_.health.maintenance_file.c_str(), &st) == 0);
    if (++ticks_ % kFullCheckTicks != 0 && agent_->sysctls_as_written(journal_)) {
      log_transition();
      return;
    }
    refresh_net(reconcile("periodic check"));
  }

  // The verdict's view of the network: `seen` when the caller already has a
  // current view (a dump, or one plus the changes the kernel acknowledged),
  // otherwise a fresh dump.
  void refresh_net(std::optional<net::ObservedState> seen = std::nullopt) {
    Result<net::ObservedState> have =
        seen ? Result<net::ObservedState>(std::move(*seen)) : agent_->observe(journal_);
    health::NetHealth nh;
    health::NetDetail detail;
    if (!have) {
      nh = {true, false, "cannot observe the network: " + have.error().str()};
    } else {
      detail = health::describe_state(journal_, *have);
      nh = health::judge_network(detail, *have, health::net_policy(cfg_), last_repair_error_);
    }
    board_->set_net(nh, std::move(detail));
    log_transition();
  }

  void log_transition() {
    const auto snap = board_->snapshot();
    notify_status(snap->verdict);
    if (first_tick_ || snap->verdict.mode != last_mode_) {
      const std::string line = std::string("state ") + (first_tick_ ? "" : std::string(health::mode_name(last_mode_)) + " -> ") +
                               health::mode_name(snap->verdict.mode) +
                               (snap->verdict.reason.empty() ? "" : " (" + snap->verdict.reason + ")");
      // The first verdict comes before the checks could rise: not a warning.
      if (snap->verdict.ready() || first_tick_) {
        log::notice(line);
      } else {
        log::warning(line);
      }
      last_mode_ = snap->verdict.mode;
      first_tick_ = false;
    }
  }

  // systemd's STATUS= (what `systemctl status` shows) follows the verdict,
  // sent when it changes; not before READY=1, which carries the first.
  void notify_status(const health::Verdict& v) {
    if (sd_status_.empty()) return;
    std::string s = health::sd_status(v, cfg_.vips.size());
    if (s == sd_status_) return;
    sd_status_ = std::move(s);
    sd::notify("STATUS=" + sd_status_);
  }

  ControlReply on_control(const ControlRequest& r) {
    ControlReply rep = handle_control(r);
    rep.boot = boot_;
    return rep;
  }

  ControlReply handle_control(const ControlRequest& r) {
    if (r.cmd == "ping") return {true, "running (pid " + std::to_string(getpid()) + ")"};
    // For `rsagent status`: the verdict, operator state and checks as JSON
    // text. replace: a stray byte must not make the dump throw.
    if (r.cmd == "status")
      return {true, health::summary_json(*board_->snapshot())
                        .dump(-1, ' ', false, json::error_handler_t::replace)};
    if (r.cmd == "restart") {
      if (stop_requested_) return {false, "rsagent is stopping; not restarting", exit_code::kFailure};
      restart_requested_ = true;
      const std::uint64_t one = 1;
      (void)!::write(wake_.get(), &one, sizeof one);
      return {true, "restarting with the binary on disk; VIPs, routes and sysctls stay in place"};
    }
    if (r.cmd == "reload") {
      // Netlink belongs to the main thread: hand the request over and wait.
      auto p = std::make_shared<Pending>();
      p->req = r;
      auto fut = p->reply.get_future();
      {
        std::lock_guard<std::mutex> lock(pending_mutex_);
        if (stopping_ || stop_requested_)
          return {false, "rsagent is stopping; the running configuration stays until it exits",
                  exit_code::kFailure};
        pending_.push_back(p);
      }
      const std::uint64_t one = 1;
      (void)!::write(wake_.get(), &one, sizeof one);
      if (fut.wait_for(std::chrono::seconds(110)) != std::future_status::ready)
        return {false, "reload is taking too long; see the log", 1};
      return fut.get();
    }
    if (r.cmd == "stop") {
      stop_now_ = stop_now_ || r.now;
      stop_requested_ = true;
      const std::uint64_t one = 1;
      (void)!::write(wake_.get(), &one, sizeof one);
      return {true, r.now ? "stopping now" : "stopping"};
    }
    health::OperatorState op;
    if (r.cmd == "drain") {
      op.admin = health::Admin::kDrain;
    } else if (r.cmd == "maint") {
      op.admin = health::Admin::kMaint;
    } else if (r.cmd != "ready") {
      return {false, "unknown command \"" + r.cmd + "\""};
    }
    op.reason = clean_reason(r.reason);
    op.since_unix = unix_now();
    std::lock_guard<std::mutex> lock(operator_mutex_);
    // Persist first: a drain the director saw must survive a restart.
    if (auto s = operator_store_->save(op); !s) return {false, s.error().str()};
    board_->set_operator(op);
    log::notice(std::string("operator: ") + health::admin_name(op.admin) +
                (op.reason.empty() ? "" : " (" + op.reason + ")"));
    const auto snap = board_->snapshot();
    return {true, std::string("state is now ") + health::mode_name(snap->verdict.mode) +
                      (snap->verdict.reason.empty() ? "" : ": " + snap->verdict.reason)};
  }

  ControlReply reload() {
    sd::notify("RELOADING=1\n" + sd::monotonic_usec());
    ControlReply rep = do_reload();
    // The verdict, as ever; a refused reload's errors are many lines, so
    // they stay in the log and the CLI's answer.
    sd_status_ = health::sd_status(board_->snapshot()->verdict, cfg_.vips.size());
    sd::notify("READY=1\nSTATUS=" + sd_status_ +
               (rep.ok ? "" : "; the last reload was refused (see the log)"));
    return rep;
  }

  ControlReply do_reload() {
    auto r = config::load(opts_.config);
    if (!r.config) {
      std::string all;
      for (const auto& d : r.errors) {
        log::error("reload: " + d.str());
        all += d.str() + "\n";
      }
      log::error("reload refused: keeping the running configuration unchanged");
      return {false, all + std::to_string(r.errors.size()) +
                         " configuration error(s); the running configuration is unchanged",
              exit_code::kBadConfig};
    }
    config::Config next = *r.config;
    next.files = r.config->files;
    // Listeners and the stop policy are bound at start; checks are swapped here.
    std::string note;
    if (!(next.health.listen == cfg_.health.listen) || !(next.health.allow == cfg_.health.allow) ||
        !(next.health.agent_check == cfg_.health.agent_check)) {
      note = "; health.listen/allow/agent_check changes take effect at the next restart";
      next.health.listen = cfg_.health.listen;
      next.health.allow = cfg_.health.allow;
      next.health.agent_check = cfg_.health.agent_check;
    }
    auto c = agent_->converge(next, false, &journal_);
    if (!c) {
      log::error("reload: " + c.error().str());
      return {false, "reload failed: " + c.error().str() + "; the running state is unchanged",
              exit_code::kFailure};
    }
    journal_ = c->plan.journal;
    if (!(next.health.checks == cfg_.health.checks) ||
        next.health.maintenance_file != cfg_.health.maintenance_file) {
      monitor_->stop();
      board_->reset_checks(cfg_.health.checks, next.health.checks, next.health.maintenance_file);
      monitor_ = std::make_unique<health::Monitor>(next.health.checks, *board_, health::make_prober(http_probe_));
      monitor_->start();
      note += "; checks restarted";
    }
    cfg_ = next;
    arp_guard_->update(cfg_.arp_guard, cfg_.vips);
    refresh_net();
    const std::string msg = "reloaded: " + std::to_string(c->report.changed) + " change(s)" + note;
    log::notice(msg);
    return {true, msg, exit_code::kOk};
  }

  // The loop has ended: nothing queued will run. Answer it now rather than
  // let the control thread wait for a reply that never comes.
  void refuse_pending() {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    stopping_ = true;
    for (auto& p : pending_)
      p->reply.set_value({false, "rsagent is stopping; the " + p->req.cmd + " was not done", exit_code::kFailure});
    pending_.clear();
  }

  void run_pending() {
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

  void loop() {
    while (!stop_requested_ && !restart_requested_) {
      pollfd fds[4] = {{signals_.get(), POLLIN, 0},
                       {timer_.get(), POLLIN, 0},
                       {wake_.get(), POLLIN, 0},
                       {events_fd_, POLLIN, 0}};
      if (::poll(fds, events_fd_ >= 0 ? 4 : 3, -1) < 0) {
        if (errno == EINTR) continue;
        log::error(std::string("poll: ") + std::strerror(errno));
        return;
      }
      if (fds[1].revents) {
        std::uint64_t n;
        (void)!::read(timer_.get(), &n, sizeof n);
        tick();
      }
      if (fds[2].revents) {
        std::uint64_t n;
        (void)!::read(wake_.get(), &n, sizeof n);
        run_pending();
      }
      if (events_fd_ >= 0 && fds[3].revents) {
        const auto d = agent_->drain_events();
        if (d.lost) log::warning("netlink events were lost (ENOBUFS): full resync");
        refresh_net(reconcile(d.lost ? "resync after lost events" : "netlink event"));
      }
      if (fds[0].revents) {
        signalfd_siginfo si{};
        if (::read(signals_.get(), &si, sizeof si) != sizeof si) continue;
        if (si.ssi_signo == SIGHUP) {
          log::notice("SIGHUP: reloading " + opts_.config);
          (void)reload();
          continue;
        }
        // systemd sends SIGTERM for a restart too; its job list tells which.
        if (si.ssi_signo == SIGTERM && !unit_.empty() &&
            sd::restart_job_pending(unit_, kRestartQueryTimeout)) {
          log::notice("SIGTERM while systemd restarts " + unit_ +
                      ": handing VIPs, routes and sysctls over to the next process");
          hand_over_ = true;
        } else {
          log::notice(std::string("received ") + strsignal(static_cast<int>(si.ssi_signo)) + ": stopping");
        }
        stop_requested_ = true;
      }
    }
  }

  // Restart without a gap: stop our threads, keep the journal (ownership
  // passes to the new image) and exec the binary now on disk under the same
  // pid. Nothing is reverted, so no VIP, route or sysctl changes.
  int reexec() {
    sd::notify("RELOADING=1\n" + sd::monotonic_usec() + "\nSTATUS=restarting");
    log::notice("restarting: exec " + self_exe_ + "; VIPs, routes and sysctls stay in place");
    monitor_->stop();
    stop_listeners();
    control_.reset();
    agent_check_.reset();
    http_.reset();
    std::vector<std::string> args{self_exe_, "--config", opts_.config, "--log-level", opts_.log_level};
    if (opts_.state_dir) {
      args.push_back("--state-dir");
      args.push_back(*opts_.state_dir);
    }
    args.push_back("run");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (!log::current().to_stderr) ::setenv("RSAGENT_DAEMONIZED", "1", 1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // CLOEXEC closes the lock, listeners and sockets; the new image takes the
    // lock again and adopts the journal with an empty plan.
    ::execv(self_exe_.c_str(), argv.data());
    log::error("restart: exec " + self_exe_ + ": " + std::strerror(errno) +
               "; the journal stays in place for `rsagent stop` or `rsagent start`");
    return exit_code::kFailure;
  }

  void stop_listeners() {
    control_->stop();
    if (agent_check_) agent_check_->stop();
    if (tcp_gate_) tcp_gate_->stop();
    if (arp_guard_) arp_guard_->stop();
    http_->stop();
  }

  // `systemctl restart`: exit without reverting. The journal stays in
  // /run/rsagent (RuntimeDirectoryPreserve=yes) and the process systemd
  // starts next adopts it, as after a crash, so nothing is removed.
  int hand_over() {
    sd::notify("STOPPING=1\nSTATUS=restarting: handing over to the next process");
    monitor_->stop();
    stop_listeners();
    (void)fs::remove_if_exists(paths_.pidfile());
    log::notice("handed over: VIPs, routes and sysctls stay in place for the restarted daemon");
    return exit_code::kOk;
  }

  std::vector<net::IpAddress> vips() const {
    std::vector<net::IpAddress> out;
    for (const auto& v : cfg_.vips) out.push_back(v.address);
    return out;
  }

  // Graceful stop: tell the directors we are draining, then wait until no
  // established connection to a VIP is left or the time is up.
  void drain_wait() {
    if (cfg_.stop.drain.count() == 0 || stop_now_ || cfg_.vips.empty()) return;
    board_->set_stopping();
    log::notice("stopping: reporting drain, waiting up to " + std::to_string(cfg_.stop.drain.count()) +
                "ms for connections to the VIPs to end");
    const auto deadline = std::chrono::steady_clock::now() + cfg_.stop.drain;
    while (!stop_now_) {
      auto n = net::count_established(vips());
      if (!n) {
        log::warning("drain: " + n.error().str() + "; not waiting");
        return;
      }
      if (*n == 0) {
        log::notice("drain: no connection to a VIP is left");
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        log::warning("drain: time is up with " + std::to_string(*n) + " connection(s) still open");
        return;
      }
      pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {timer_.get(), POLLIN, 0}};
      ::poll(fds, 2, static_cast<int>(kDrainPoll.count()));
      std::uint64_t x;
      if (fds[0].revents) (void)!::read(wake_.get(), &x, sizeof x);
      if (fds[1].revents) {
        (void)!::read(timer_.get(), &x, sizeof x);
        tick();
      }
    }
  }

  int shut_down() {
    sd::notify("STOPPING=1\nSTATUS=stopping: reverting");
    drain_wait();
    monitor_->stop();
    // The revert puts arp_ignore back: the kernel's answers then are not leaks.
    arp_guard_->stop();
    // From memory: the file may be gone or garbled; its folder must exist
    // for the revert to record what is left.
    keep_state();
    auto rev = agent_->revert(journal_);
    // The listeners go last: directors see drain/down, never a refused port,
    // while we revert. Closed, not only stopped: a next daemon binds the same
    // ports, and the control server removes its socket file now rather than
    // over a next daemon's.
    http_.reset();
    agent_check_.reset();
    control_.reset();
    (void)fs::remove_if_exists(paths_.pidfile());
    if (!rev) {
      log::error(rev.error().str() + "; what could not be undone stays in " + paths_.journal() +
                 " for `rsagent stop`");
      return exit_code::kFailure;
    }
    log::notice("stopped; every change rsagent made was reverted");
    // Nothing of the system is ours any more: let `stop` (and a next
    // `start`) go on while this process tears down its threads and memory.
    lock_.release();
    return exit_code::kOk;
  }
};

}  // namespace

int run_daemon(const CommandOptions& opts, health::HttpProbe http_probe) {
  return Daemon(opts, http_probe).run();
}

}  // namespace rsagent::daemon
