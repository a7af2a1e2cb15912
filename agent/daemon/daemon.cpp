// The daemon's life: start-up in order (config, lock, listeners bound before
// any change, converge, threads, ready), the main loop's dispatch, the tick,
// and the way out (drain and revert, re-exec, or hand-over to systemd's
// next process). The parts live beside it: event_loop (the wait),
// network_keeper (the network), control_desk (the operator), handover
// (reload and re-exec), state_keeper (the files).
#include "rsagent/daemon/daemon.hpp"

#include "rsagent/arp_guard/guard.hpp"
#include "rsagent/attribution/watcher.hpp"
#include "rsagent/daemon/control_desk.hpp"
#include "rsagent/daemon/event_loop.hpp"
#include "rsagent/daemon/fleet_link.hpp"
#include "rsagent/daemon/handover.hpp"
#include "rsagent/daemon/network_keeper.hpp"
#include "rsagent/daemon/presence.hpp"
#include "rsagent/daemon/start_report.hpp"
#include "rsagent/daemon/state_keeper.hpp"
#include "rsagent/drain/confirm.hpp"
#include "rsagent/drain/sample.hpp"
#include "rsagent/endpoint/agent_check.hpp"
#include "rsagent/endpoint/health_endpoint.hpp"
#include "rsagent/checks/monitor.hpp"
#include "rsagent/endpoint/report.hpp"
#include "rsagent/endpoint/tcp_gate.hpp"
#include "rsagent/net/plan.hpp"
#include "rsagent/util/fd_budget.hpp"
#include "rsagent/util/fs.hpp"
#include "rsagent/util/log.hpp"
#include "rsagent/util/sd_jobs.hpp"
#include "rsagent/util/sd_notify.hpp"
#include "rsagent/util/text.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <net/if.h>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

namespace rsagent::daemon {

namespace {

constexpr std::chrono::milliseconds kTick{1000};
constexpr std::chrono::milliseconds kDrainPoll{200};
// A full dump and re-plan every this many ticks (see tick()).
constexpr std::uint64_t kFullCheckTicks = 5;
// systemctl answers from memory; do not let a hung bus delay a stop much.
constexpr std::chrono::milliseconds kRestartQueryTimeout{3000};

class Daemon {
 public:
  Daemon(const CommandOptions& opts, checks::HttpProbe http_probe, fleet::TransportFactory fleet_transport)
      : opts_(opts), rep_(opts.ready_fd), http_probe_(http_probe), fleet_transport_(fleet_transport) {}

  int run() {
    if (const int code = start_up(); code >= 0) return code;
    loop();
    desk_->refuse_pending();
    if (desk_->restart_requested) return reexec();
    if (hand_over_) return hand_over();
    return shut_down();
  }

 private:
  CommandOptions opts_;
  StartReport rep_;
  checks::HttpProbe http_probe_;
  fleet::TransportFactory fleet_transport_;
  Paths paths_;
  config::Config cfg_;
  Presence presence_;
  InstanceLock lock_;
  std::optional<EventLoop> events_;
  std::unique_ptr<NetworkKeeper> net_;
  std::unique_ptr<verdict::Board> board_;
  // Right after the Board, whose verdict changes call it: destroyed after
  // every thread that changes the verdict.
  std::unique_ptr<endpoint::TcpGate> tcp_gate_;
  std::unique_ptr<arp_guard::Guard> arp_guard_;  // its thread publishes into the Board
  std::unique_ptr<attribution::Watcher> attribution_;  // so does its
  std::unique_ptr<FleetLink> fleet_;              // this node's record in etcd (its own thread)
  std::unique_ptr<checks::Monitor> monitor_;
  std::unique_ptr<endpoint::HealthEndpoint> http_;
  std::unique_ptr<endpoint::AgentCheckServer> agent_check_;
  std::unique_ptr<OperatorStore> operator_store_;
  verdict::Mode last_mode_ = verdict::Mode::kDown;
  std::string sd_status_;  // the STATUS= systemd has; empty until READY=1
  bool first_tick_ = true;
  std::uint64_t ticks_ = 0;
  std::string self_exe_;  // the binary on disk, for a restart
  // systemd is restarting the unit: leave everything in place for the next process.
  bool hand_over_ = false;
  std::string unit_;  // our systemd unit, when systemd started us
  std::unique_ptr<StateKeeper> keeper_;
  std::vector<std::string> keeper_failed_;  // what the keeper could not write back last tick
  std::unique_ptr<ControlDesk> desk_;
  // Last, so destroyed first: its thread calls the desk, which uses the
  // members above.
  std::unique_ptr<ControlServer> control_;

  // Returns an exit code on failure, -1 once the daemon is up.
  int start_up() {
    if (const int code = load_config(); code >= 0) return code;
    if (const int code = claim_state(); code >= 0) return code;
    const FdBudget fds = size_fd_budget();
    endpoint::HttpLoop::Options http_opts{cfg_.health.allow, cfg_.health.http, fds.connections};
    auto http_loop = endpoint::HttpLoop::bind(cfg_.health.listen, "health.listen", true,
                                            std::move(http_opts));
    if (!http_loop) return rep_.fail(exit_code::kFailure, http_loop.error().str());
    if (const int code = bind_listeners(); code >= 0) return code;
    auto net = NetworkKeeper::open(paths_);
    if (!net) return rep_.fail(exit_code::kFailure, net.error().str());
    net_ = std::move(*net);
    auto conv = net_->take_over(cfg_);
    if (!conv) return rep_.fail(exit_code::kFailure, conv.error().str());
    if (conv->refused()) return rep_.fail(exit_code::kFailure, refusal_text(conv->plan.errors, false));
    // Self-healing: wake on every link/address/route change.
    if (auto ev = net_->open_events(); ev) {
      events_->watch_netlink(*ev, [this] { return net_->drain_events(); });
    } else {
      log::warning("self-healing falls back to the 1 s check: " + ev.error().str());
    }
    start_threads(std::move(*http_loop));
    // Just converged: nothing to repair yet, only the verdict to compute,
    // from the kernel's acknowledgements of each change rather than a second
    // dump (at 1000 VIPs that dump was a fifth of the start). The event
    // socket and the 1 s tick check the real kernel from here on.
    refresh_net(net::after_plan(std::move(conv->observed), conv->plan));
    announce(conv->report);
    return -1;
  }

  int load_config() {
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
    return -1;
  }

  // The descriptors the daemon needs, its RLIMIT_NOFILE raised to fit
  // (before any thread starts), and the endpoint's connection cap from what
  // is left.
  FdBudget size_fd_budget() {
    FdNeeds needs;
    const auto& h = cfg_.health;
    needs.listeners = h.listen.size() + (h.agent_check ? 1 : 0) + h.tcp_gate.size();
    needs.checks = h.checks.size();
    if (struct if_nameindex* names = ::if_nameindex(); names != nullptr) {
      for (const struct if_nameindex* n = names; n->if_index != 0; ++n) ++needs.interfaces;
      ::if_freenameindex(names);
    }
    needs.connections = endpoint::kMaxConnections;
    FdBudget b = apply_fd_budget(needs);
    if (!b.note.empty()) log::warning(b.note);
    log::debug("file descriptors: soft limit " + std::to_string(b.soft) + " (was " +
               std::to_string(b.original_soft) + ", hard " + std::to_string(b.hard) + "), " +
               std::to_string(b.fixed) + " for the daemon, " + std::to_string(b.connections) +
               " for health endpoint connections");
    return b;
  }

  // The state folders, the instance lock, the event loop and the operator
  // state: everything that is this daemon's before it touches anything.
  int claim_state() {
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
    if (const int code = claim_presence(); code >= 0) return code;
    // The watchdog is pinged from the tick, so tick at least that often.
    auto tick = std::chrono::duration_cast<std::chrono::microseconds>(kTick);
    if (auto wd = sd::watchdog_interval(); wd && *wd < tick) tick = *wd;
    auto loop = EventLoop::open(tick);
    if (!loop) return rep_.fail(exit_code::kFailure, loop.error().str());
    events_.emplace(std::move(*loop));
    operator_store_ = std::make_unique<OperatorStore>(paths_.persistent + "/operator.json");
    auto op = operator_store_->load();
    if (!op) return rep_.fail(exit_code::kFailure, op.error().str());
    board_ = std::make_unique<verdict::Board>(cfg_.health.checks, cfg_.health.maintenance_file);
    board_->set_operator(*op);
    desk_ = std::make_unique<ControlDesk>(*board_, *operator_store_, *events_);
    fleet_ = std::make_unique<FleetLink>(fleet_transport_, *board_);
    desk_->set_budget(
        [fleet = fleet_.get()](const ControlRequest& r, const verdict::OperatorState& op, std::string& note) {
          return fleet->admit(r, op, note);
        },
        [fleet = fleet_.get()] { fleet->release(); });
    // Every verdict change wakes the fleet publisher (it only sets a flag).
    board_->on_verdict_change([fleet = fleet_.get()] { fleet->notify(); });
    return -1;
  }

  // The presence names the process that bound it: `start` hands down the
  // one it claimed, and it is bound again here under this process (the
  // lock, held already, covers the moment between), so that `stop` finds
  // this daemon's pid through it.
  int claim_presence() {
    if (opts_.presence_fd >= 0) (void)Presence::adopt(opts_.presence_fd);  // closed at once
    auto presence = Presence::claim(paths_);
    if (!presence) {
      if (presence.error().err == EADDRINUSE)
        return rep_.fail(exit_code::kAnotherStart, "another rsagent runs for state folder " + paths_.runtime);
      return rep_.fail(exit_code::kFailure, presence.error().str());
    }
    presence_ = std::move(*presence);
    return -1;
  }

  // Every listener is bound before the network changes: a taken port must
  // fail the start with nothing changed.
  int bind_listeners() {
    if (cfg_.health.agent_check) {
      auto ac = endpoint::AgentCheckServer::bind(*cfg_.health.agent_check, cfg_.health.allow, *board_);
      if (!ac) return rep_.fail(exit_code::kFailure, ac.error().str());
      agent_check_ = std::move(*ac);
    }
    if (!cfg_.health.tcp_gate.empty()) {
      auto gate = endpoint::TcpGate::bind(cfg_.health.tcp_gate, cfg_.health.allow, *board_);
      if (!gate) return rep_.fail(exit_code::kFailure, gate.error().str());
      tcp_gate_ = std::move(*gate);
      board_->set_gate_view([gate = tcp_gate_.get()] { return gate->view(); });
      // The gate follows each verdict change on the thread that made it.
      board_->on_verdict_change([gate = tcp_gate_.get(), fleet = fleet_.get()] {
        gate->follow();
        fleet->notify();
      });
    }
    auto control = bind_control();
    if (!control) return rep_.fail(exit_code::kFailure, control.error().str());
    control_ = std::move(*control);
    keeper_ = std::make_unique<StateKeeper>(paths_);
    keeper_->control_bound();
    return -1;
  }

  void start_threads(std::unique_ptr<endpoint::HttpLoop> http_loop) {
    http_ = std::make_unique<endpoint::HealthEndpoint>(*board_, std::move(http_loop));
    monitor_ = std::make_unique<checks::Monitor>(cfg_.health.checks, *board_, checks::make_prober(http_probe_));
    monitor_->start();
    http_->start();
    if (agent_check_) agent_check_->start();
    if (tcp_gate_) tcp_gate_->start();
    // After converge: the ARP sysctls are in place, so any leak is real.
    arp_guard_ = arp_guard::Guard::create(cfg_.arp_guard, cfg_.vips, *board_);
    arp_guard_->start();
    attribution_ = attribution::Watcher::create(cfg_.attribution, cfg_.vips, *board_);
    attribution_->start();
    // Never waits for etcd: the publisher's thread does the talking.
    fleet_->apply(cfg_.fleet);
    control_->start();
    http_->heartbeat();
    struct stat mst {};
    board_->set_maintenance_file(::stat(cfg_.health.maintenance_file.c_str(), &mst) == 0);
  }

  // Ready: the pid file (what a waiting `start` looks for), systemd and the
  // `start` that forked us.
  void announce(const net::ApplyReport& report) {
    if (auto s = fs::write_atomic(paths_.pidfile(), std::to_string(getpid()) + "\n", 0644, false); !s)
      log::warning("pidfile: " + s.error().str());
    std::string listening;
    for (const auto& l : cfg_.health.listen) listening += (listening.empty() ? "" : ", ") + l.str();
    const std::string summary = "rsagent running (pid " + std::to_string(getpid()) + "): " +
                                std::to_string(cfg_.vips.size()) + " VIP(s) in place, " +
                                std::to_string(report.changed) + " change(s) made, " +
                                std::to_string(report.adopted) +
                                " existing object(s) adopted; health on " + listening;
    sd_status_ = endpoint::sd_status(board_->snapshot()->verdict, cfg_.vips.size());
    sd::notify("READY=1\nSTATUS=" + sd_status_ + "\nMAINPID=" + std::to_string(getpid()));
    rep_.ready(summary);
  }

  Result<std::unique_ptr<ControlServer>> bind_control() {
    return ControlServer::bind(paths_.control_socket(),
                               [desk = desk_.get()](const ControlRequest& r) { return desk->answer(r); });
  }

  // The daemon's files as it wrote them (state_keeper.hpp says why); a
  // removed control socket is bound again.
  void keep_state() {
    if (auto why = net_->take_unsaved()) keeper_->journal_owed(std::move(*why));
    auto r = keeper_->check(net_->journal(), ::getpid(), lock_);
    for (const auto& line : r.repaired) log::warning(line);
    // A full disk fails every tick: say so when it starts or changes, not every second.
    if (r.failed != keeper_failed_)
      for (const auto& line : r.failed) log::error(line);
    keeper_failed_ = std::move(r.failed);
    if (!r.rebind_control) return;
    // The same thread takes the new socket: joining the old one here could
    // wait on a reload it has queued for this very thread.
    if (auto s = control_->rebind(); !s) {
      log::error("control socket " + paths_.control_socket() + " was removed and cannot be bound again: " +
                 s.error().str());
      return;
    }
    keeper_->control_bound();
    log::warning("control socket " + paths_.control_socket() + " was removed; bound it again");
  }

  // The main thread's periodic look. Addresses and routes arrive as netlink
  // events; a sysctl changes silently. So every tick reads the sysctls
  // rsagent wrote (a few /proc files), and only every kFullCheckTicks, or
  // on drift, does it dump and re-plan everything: with 10000 VIPs a dump
  // costs tens of ms.
  void tick() {
    http_->heartbeat();
    keep_state();
    if (sd::watchdog_interval()) sd::notify("WATCHDOG=1");
    // The record also carries what changes without a verdict change (a
    // reason, the directors seen); a re-render that equals the last put
    // costs no request.
    fleet_->notify();
    struct stat st {};
    board_->set_maintenance_file(::stat(cfg_.health.maintenance_file.c_str(), &st) == 0);
    if (++ticks_ % kFullCheckTicks != 0 && net_->sysctls_as_written()) {
      log_transition();
      return;
    }
    refresh_net(net_->repair(cfg_, "periodic check"));
  }

  // `seen`: the kernel as the caller already knows it; otherwise a fresh dump.
  void refresh_net(std::optional<net::ObservedState> seen = std::nullopt) {
    net_->report(cfg_, *board_, std::move(seen));
    log_transition();
  }

  void log_transition() {
    const auto snap = board_->snapshot();
    notify_status(snap->verdict);
    if (!first_tick_ && snap->verdict.mode == last_mode_) return;
    const std::string line = std::string("state ") +
                             (first_tick_ ? "" : std::string(verdict::mode_name(last_mode_)) + " -> ") +
                             verdict::mode_name(snap->verdict.mode) +
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

  // systemd's STATUS= (what `systemctl status` shows) follows the verdict,
  // sent when it changes; not before READY=1, which carries the first.
  void notify_status(const verdict::Verdict& v) {
    if (sd_status_.empty()) return;
    std::string s = endpoint::sd_status(v, cfg_.vips.size());
    if (s == sd_status_) return;
    sd_status_ = std::move(s);
    sd::notify("STATUS=" + sd_status_);
  }

  ControlReply reload() {
    sd::notify("RELOADING=1\n" + sd::monotonic_usec());
    ControlReply rep = apply_reload();
    // The verdict, as ever; a refused reload's errors are many lines, so
    // they stay in the log and the CLI's answer.
    sd_status_ = endpoint::sd_status(board_->snapshot()->verdict, cfg_.vips.size());
    sd::notify("READY=1\nSTATUS=" + sd_status_ +
               (rep.ok ? "" : "; the last reload was refused (see the log)"));
    return rep;
  }

  ControlReply apply_reload() {
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
    auto rp = plan_reload(cfg_, std::move(*r.config));
    auto c = net_->apply(rp.next);
    if (!c || c->refused()) {
      const std::string why = c ? refusal_text(c->plan.errors, false) : c.error().str();
      log::error("reload: " + text::one_line(why));
      return {false, "reload failed: " + why + "; the running state is unchanged", exit_code::kFailure};
    }
    if (rp.checks_changed) {
      monitor_->stop();
      board_->reset_checks(cfg_.health.checks, rp.next.health.checks, rp.next.health.maintenance_file);
      monitor_ = std::make_unique<checks::Monitor>(rp.next.health.checks, *board_,
                                                   checks::make_prober(http_probe_));
      monitor_->start();
    }
    cfg_ = std::move(rp.next);
    arp_guard_->update(cfg_.arp_guard, cfg_.vips);
    attribution_->update(cfg_.attribution, cfg_.vips);
    fleet_->apply(cfg_.fleet);
    // The gate's kernel-side filter follows health.allow as the reload left it.
    if (tcp_gate_)
      if (auto a = tcp_gate_->set_allow(cfg_.health.allow); !a) log::error("reload: " + a.error().str());
    refresh_net();
    std::string msg = "reloaded: " + std::to_string(c->report.changed) + " change(s)" + rp.note;
    log::notice(msg);
    if (c->report.unsaved)
      msg += "\nwarning: the journal could not be written after the changes (" + c->report.unsaved->str() +
             "); it keeps the write-ahead record, which covers every change, and rsagent writes it "
             "again once it can";
    return {true, msg, exit_code::kOk};
  }

  void loop() {
    while (!desk_->stop_requested && !desk_->restart_requested) {
      const LoopEvents ev = events_->wait();
      if (ev.tick) tick();
      if (ev.woken) desk_->run_pending([this] { return reload(); });
      if (ev.net_changed) {
        if (ev.net_lost) log::warning("netlink events were lost (ENOBUFS): full resync");
        refresh_net(net_->repair(cfg_, ev.net_lost ? "resync after lost events" : "netlink event"));
      }
      for (const int sig : ev.signals) on_signal(sig);
    }
  }

  void on_signal(int sig) {
    if (sig == SIGHUP) {
      log::notice("SIGHUP: reloading " + opts_.config);
      (void)reload();
      return;
    }
    // systemd sends SIGTERM for a restart too; its job list tells which.
    if (sig == SIGTERM && !unit_.empty() && sd::restart_job_pending(unit_, kRestartQueryTimeout)) {
      log::notice("SIGTERM while systemd restarts " + unit_ +
                  ": handing VIPs, routes and sysctls over to the next process");
      hand_over_ = true;
    } else {
      log::notice(std::string("received ") + strsignal(sig) + ": stopping");
    }
    desk_->stop_requested = true;
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
    // The presence goes across the exec, so a `stop` meanwhile waits for
    // the new image rather than finding nobody.
    CommandOptions next = opts_;
    next.presence_fd = presence_.fd();
    return exec_self(self_exe_, next);
  }

  // A restart or a hand-over: the lease is left to run, so the next
  // process puts the record and the slot over it with no moment between
  // where this node looks absent (and its slot free); if no process comes
  // back, the lease ends within the TTL.
  void stop_listeners() {
    fleet_->stop(/*keep_lease=*/true);
    control_->stop();
    if (agent_check_) agent_check_->stop();
    if (tcp_gate_) tcp_gate_->stop();
    if (arp_guard_) arp_guard_->stop();
    if (attribution_) attribution_->stop();
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

  // Graceful stop: tell the directors we are draining, then wait until the
  // drain is confirmed (every director that polled in the last minute was
  // answered drain since, no new connection for 5 s, no connection to a
  // VIP left open), or the time is up.
  void drain_wait() {
    if (cfg_.stop.drain.count() == 0 || desk_->stop_now || cfg_.vips.empty()) return;
    const auto set_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    // A draining stop takes a slot of the drain budget (never refused).
    fleet_->stopping();
    board_->set_stopping();
    log::notice("stopping: reporting drain, waiting up to " + std::to_string(cfg_.stop.drain.count()) +
                "ms for the directors to see it and the connections to the VIPs to end");
    drain::Confirmation confirm(drain::Settings{}, set_at);
    const auto deadline = std::chrono::steady_clock::now() + cfg_.stop.drain;
    while (!desk_->stop_now) {
      auto sample = drain::parse_sample(drain::drain_status_json(*board_));
      if (!sample) {
        log::warning("drain: " + sample.error().str() + "; not waiting");
        return;
      }
      for (const auto& line : confirm.observe(*sample)) log::notice("drain: " + line);
      if (confirm.confirmed()) {
        log::notice("drain: " + confirm.summary());
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        std::string left;
        for (const auto& line : confirm.pending()) left += (left.empty() ? "" : "; ") + line;
        log::warning("drain: time is up; not confirmed: " + left);
        return;
      }
      if (events_->wait_quietly(kDrainPoll).tick) tick();
    }
  }

  int shut_down() {
    sd::notify("STOPPING=1\nSTATUS=stopping: reverting");
    drain_wait();
    monitor_->stop();
    // The record leaves with the node (its lease is revoked).
    fleet_->stop();
    // The revert puts arp_ignore back: the kernel's answers then are not leaks.
    arp_guard_->stop();
    // From memory: the file may be gone or garbled; its folder must exist
    // for the revert to record what is left.
    keep_state();
    auto rev = net_->revert();
    // The listeners go last: directors see drain/down, never a refused port,
    // while we revert. Closed, not only stopped: a next daemon binds the same
    // ports, and the control server removes its socket file now rather than
    // over a next daemon's.
    http_.reset();
    agent_check_.reset();
    control_.reset();
    // The gate's port is closed too before `stop` is let go. Every thread
    // that could change the verdict (and so call the gate) has stopped.
    tcp_gate_.reset();
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
    presence_.release();
    return exit_code::kOk;
  }
};

}  // namespace

int run_daemon(const CommandOptions& opts, checks::HttpProbe http_probe,
               fleet::TransportFactory fleet_transport) {
  return Daemon(opts, http_probe, fleet_transport).run();
}

}  // namespace rsagent::daemon
