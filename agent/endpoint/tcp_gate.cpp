#include "rsagent/endpoint/tcp_gate.hpp"

#include "rsagent/util/accept_loop.hpp"
#include "rsagent/util/log.hpp"
#include "rsagent/util/socket.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rsagent::endpoint {

namespace {

constexpr std::uint64_t kWakeTag = ~std::uint64_t{0};
constexpr int kMaxWaitMs = 1000;  // the verdict is read at least this often
constexpr std::uint32_t kAccept = 0xffffffffU;  // keep the whole packet
constexpr std::uint32_t kDrop = 0;
// Where the IP header's source address is, relative to the network header
// (a TCP socket's filter sees the packet from its TCP header on).
constexpr std::uint32_t kV4Source = static_cast<std::uint32_t>(SKF_NET_OFF) + 12;
constexpr std::uint32_t kV6Source = static_cast<std::uint32_t>(SKF_NET_OFF) + 8;

BpfInsn stmt(std::uint16_t code, std::uint32_t k) { return {code, 0, 0, k}; }

std::uint32_t word_at(const IpAddress& a, int w) {
  const auto* b = a.bytes.data() + 4 * w;
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

std::uint32_t mask_of(int bits) { return bits <= 0 ? 0 : bits >= 32 ? 0xffffffffU : ~(0xffffffffU >> bits); }

bool listening(int fd) {
  int on = 0;
  socklen_t len = sizeof on;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on != 0;
}

void set_reuseaddr(int fd, int on) { (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on); }

int family_of(const config::Endpoint& e) { return e.address.family == Family::kV4 ? AF_INET : AF_INET6; }

Result<void> attach(int fd, int family, const std::vector<Cidr>& allow, const std::string& at) {
  const auto prog = allow_filter(family, allow);
  if (prog.empty()) {
    const int unused = 0;  // the kernel wants an int's length for every socket option
    if (::setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof unused) != 0 && errno != ENOENT)
      return errno_error(errno, "health.tcp_gate.listen " + at + ": detach the health.allow filter");
    return {};
  }
  if (prog.size() > BPF_MAXINSNS)
    return make_error("health.tcp_gate.listen " + at + ": health.allow has too many entries for the "
                      "gate's kernel filter (" + std::to_string(allow.size()) + "); merge them into wider CIDRs");
  std::vector<sock_filter> code;
  code.reserve(prog.size());
  for (const auto& i : prog) code.push_back(sock_filter{i.code, i.jt, i.jf, i.k});
  sock_fprog fprog{static_cast<unsigned short>(code.size()), code.data()};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) != 0)
    return errno_error(errno, "health.tcp_gate.listen " + at + ": attach the health.allow filter");
  return {};
}

}  // namespace

std::vector<BpfInsn> allow_filter(int family, const std::vector<Cidr>& allow) {
  if (allow.empty()) return {};
  const bool v4 = family == AF_INET;
  const auto want = v4 ? Family::kV4 : Family::kV6;
  std::vector<BpfInsn> p;
  for (const auto& c : allow) {
    if (c.network.family != want) continue;
    if (c.prefix == 0) {
      p.push_back(stmt(BPF_RET | BPF_K, kAccept));
      continue;
    }
    // One block per CIDR: compare the source word by word; a mismatch
    // jumps past the block's final "accept" to the next block. A block is
    // at most 13 instructions, so every jump fits in 8 bits.
    const int words = (c.prefix + 31) / 32;
    std::vector<BpfInsn> block;
    for (int w = 0; w < words; ++w) {
      const std::uint32_t mask = mask_of(c.prefix - 32 * w);
      block.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, (v4 ? kV4Source : kV6Source) + 4 * static_cast<std::uint32_t>(w)));
      if (mask != 0xffffffffU) block.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, mask));
      block.push_back({BPF_JMP | BPF_JEQ | BPF_K, 0, 0, word_at(c.network, w) & mask});
    }
    block.push_back(stmt(BPF_RET | BPF_K, kAccept));
    for (std::size_t i = 0; i < block.size(); ++i)
      if (block[i].code == (BPF_JMP | BPF_JEQ | BPF_K)) block[i].jf = static_cast<std::uint8_t>(block.size() - 1 - i);
    p.insert(p.end(), block.begin(), block.end());
  }
  p.push_back(stmt(BPF_RET | BPF_K, kDrop));
  return p;
}

Result<std::unique_ptr<TcpGate>> TcpGate::bind(const std::vector<config::Endpoint>& at,
                                               const std::vector<Cidr>& allow, verdict::Board& board) {
  std::vector<Listener> ls;
  for (const auto& ep : at) {
    auto fd = listen_tcp(ep.address, ep.port, "health.tcp_gate.listen");
    if (!fd) return fd.error();
    if (auto a = attach(fd->get(), family_of(ep), allow, ep.str()); !a) return a.error();
    ls.push_back(Listener{std::move(*fd), ep});
  }
  return std::unique_ptr<TcpGate>(new TcpGate(std::move(ls), board));
}

TcpGate::TcpGate(std::vector<Listener> listeners, verdict::Board& board)
    : listeners_(std::move(listeners)), board_(board),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  // Closed until the first verdict says ready: a starting node is not ready.
  follow();
}

TcpGate::~TcpGate() { stop(); }

void TcpGate::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void TcpGate::stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  wake();
  thread_.join();
}

void TcpGate::wake() {
  const std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void TcpGate::follow() {
  const bool want = board_.snapshot()->verdict.ready();
  std::lock_guard<std::mutex> lock(mutex_);
  if (want != want_open_) ++board_.gate_transitions;
  want_open_ = want;
  sync_locked();
}

void TcpGate::sync_locked() {
  const bool paused = std::chrono::steady_clock::now() < paused_until_;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    auto& l = listeners_[i];
    const int fd = l.fd.get();
    // The kernel's word, not ours: a listen() that failed is tried again.
    const bool is_open = listening(fd);
    if (want_open_ && !is_open) {
      set_reuseaddr(fd, 1);
      if (::listen(fd, kListenBacklog) == 0) {
        if (l.reopen_failing) log::notice("tcp gate " + l.at.str() + ": listening again");
        l.reopen_failing = false;
      } else {
        const int err = errno;
        set_reuseaddr(fd, 0);
        ++reopen_failures_;
        if (!l.reopen_failing)
          log::error("tcp gate " + l.at.str() + ": cannot listen again (" + std::strerror(err) +
                     "); the gate stays closed there and is tried again every second");
        l.reopen_failing = true;
      }
    } else if (!want_open_ && is_open) {
      // Cleared while still listening, so there is no moment when the
      // port is bound, idle and shareable. shutdown() also resets
      // connections waiting in the backlog: none is accepted after the
      // verdict changed.
      set_reuseaddr(fd, 0);
      (void)::shutdown(fd, SHUT_RD);
    }
    // A socket that is not listening reports EPOLLHUP whatever it is asked
    // for, so it leaves the set; so does every one while accepts pause.
    const bool poll = listening(fd) && !paused;
    if (poll == l.polled) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (::epoll_ctl(epoll_.get(), poll ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) == 0) l.polled = poll;
  }
}

Result<void> TcpGate::set_allow(const std::vector<Cidr>& allow) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& l : listeners_)
    if (auto a = attach(l.fd.get(), family_of(l.at), allow, l.at.str()); !a) return a;
  return {};
}

verdict::GateView TcpGate::view() const {
  std::lock_guard<std::mutex> lock(mutex_);
  verdict::GateView v;
  for (const auto& l : listeners_) v.listeners.push_back({l.at.str(), listening(l.fd.get())});
  v.want_open = want_open_;
  v.reopen_failures = reopen_failures_;
  v.accepts_paused = std::chrono::steady_clock::now() < paused_until_;
  return v;
}

void TcpGate::accept_all(std::size_t index) {
  // The connect itself is the answer: close at once, without a word.
  for (int k = 0; k < 64; ++k) {
    const int fd = ::accept4(listeners_[index].fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      ::close(fd);
      ++board_.gate_accepts;
      std::lock_guard<std::mutex> lock(mutex_);
      if (starved_) log::notice("tcp gate: accepting connections again");
      starved_ = false;
      continue;
    }
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (accept_starved(err)) {
      // The connection stays in the backlog and the socket readable: stop
      // watching it for a moment rather than spin.
      std::lock_guard<std::mutex> lock(mutex_);
      paused_until_ = std::chrono::steady_clock::now() + kAcceptBackoff;
      if (!starved_)
        log::warning(std::string("tcp gate: cannot accept (") + std::strerror(err) + "); trying again every " +
                     std::to_string(kAcceptBackoff.count()) + " ms until it recovers");
      starved_ = true;
      sync_locked();
    }
    return;
  }
}

void TcpGate::run() {
  epoll_event events[16];
  while (!stopping_) {
    int wait_ms = kMaxWaitMs;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          paused_until_ - std::chrono::steady_clock::now());
      if (left.count() >= 0 && left.count() < wait_ms) wait_ms = static_cast<int>(left.count()) + 1;
    }
    const int n = ::epoll_wait(epoll_.get(), events, 16, wait_ms);
    // First the verdict, then any accept: also on the timeout, so a missed
    // change or a failed reopen never leaves the gate wrong for long, and
    // a pause ends.
    follow();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        std::uint64_t x;
        (void)!::read(wake_.get(), &x, sizeof x);
        continue;
      }
      if (tag < listeners_.size()) accept_all(tag);
    }
  }
}

}  // namespace rsagent::endpoint
