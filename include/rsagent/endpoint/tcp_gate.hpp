// The TCP gate: a port that accepts connections only while the node is
// ready, for directors that only connect (keepalived's TCP_CHECK with
// connect_port, HAProxy's plain `check`). Owns: its listening sockets
// (bound before the daemon changes anything, so a taken port refuses the
// start), an epoll set, and one thread (not an AcceptLoop) that closes
// every accepted connection at once and retries what failed.
// Closing the gate stops listening without giving up the port (Linux:
// shutdown(SHUT_RD) on a listening socket leaves it bound in TCP_CLOSE;
// listen() again reopens it). A closed socket is taken out of the epoll set
// (a TCP_CLOSE socket reports EPOLLHUP forever), and its SO_REUSEADDR is
// cleared: the kernel lets a second socket bind a port only when both set
// SO_REUSEADDR and neither listens, so meanwhile no other socket can bind
// the port, with or without SO_REUSEADDR. Reopening sets it again first
// (the TIME_WAIT sockets of closed connections share the port).
// health.allow is enforced in the kernel: a classic BPF filter on each
// listener drops SYNs from other sources, so they never see a connect.
// Threads: its own thread; follow() runs on whichever thread changed the
// verdict (the Board calls it), so the gate closes before that change
// returns; view() on any thread. Errors: bind() names the address and the
// fix; after that nothing fails: a listen() that fails to reopen is
// counted, logged once and retried every second; at EMFILE/ENFILE/ENOBUFS/
// ENOMEM the listeners leave the epoll set for kAcceptBackoff (logged once).
#pragma once

#include "rsagent/config/config.hpp"
#include "rsagent/verdict/board.hpp"
#include "rsagent/util/fd.hpp"
#include "rsagent/util/result.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rsagent::endpoint {

// The classic BPF program for a listener of `family` (AF_INET, AF_INET6)
// that accepts packets whose source is in `allow` and drops the rest; the
// CIDRs of the other family match nothing (IPv6 listeners are v6-only).
// Empty allow: no program (everyone). Pure; exposed for unit tests.
struct BpfInsn {
  std::uint16_t code;
  std::uint8_t jt;
  std::uint8_t jf;
  std::uint32_t k;
};
[[nodiscard]] std::vector<BpfInsn> allow_filter(int family, const std::vector<Cidr>& allow);

class TcpGate {
 public:
  [[nodiscard]] static Result<std::unique_ptr<TcpGate>> bind(const std::vector<config::Endpoint>& at,
                                                             const std::vector<Cidr>& allow,
                                                             verdict::Board& board);
  ~TcpGate();
  TcpGate(const TcpGate&) = delete;
  TcpGate& operator=(const TcpGate&) = delete;

  void start();
  void stop();
  // Opens or closes the gate to match the Board's verdict now.
  void follow();
  // Replaces the kernel-side filter on every listener (after a reload).
  [[nodiscard]] Result<void> set_allow(const std::vector<Cidr>& allow);
  // What the kernel says about each listener now.
  [[nodiscard]] verdict::GateView view() const;

 private:
  struct Listener {
    UniqueFd fd;
    config::Endpoint at;
    bool polled = false;          // in the epoll set
    bool reopen_failing = false;  // said so in the log
  };
  TcpGate(std::vector<Listener> listeners, verdict::Board& board);
  void run();
  void wake();
  void sync_locked();  // under mutex_: sockets and epoll set to match want_open_
  void accept_all(std::size_t index);

  std::vector<Listener> listeners_;  // the set never changes after bind()
  verdict::Board& board_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;  // follow() and view() from any thread
  bool want_open_ = true;     // bound sockets start listening
  std::chrono::steady_clock::time_point paused_until_{};
  bool starved_ = false;  // accept4 out of a resource; said so in the log
  std::uint64_t reopen_failures_ = 0;
};

}  // namespace rsagent::endpoint
