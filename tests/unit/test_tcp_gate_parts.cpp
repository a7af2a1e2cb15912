// The TCP gate's pure parts: the kernel filter it builds from health.allow
// (run here by a small interpreter of the classic BPF it uses, on IP
// headers), and what a reload does with a changed health.tcp_gate.
#include "rsagent/daemon/handover.hpp"
#include "rsagent/endpoint/tcp_gate.hpp"

#include <doctest/doctest.h>

#include <linux/filter.h>
#include <sys/socket.h>

using namespace rsagent;

namespace {

// Runs `prog` on a packet whose IP source is `src`, as the kernel runs a
// TCP socket's filter: loads relative to SKF_NET_OFF read the IP header.
// Returns the verdict (0: drop), or -1 for anything the gate should never emit.
long long run_filter(const std::vector<endpoint::BpfInsn>& prog, const IpAddress& src) {
  std::uint8_t ip[40] = {};
  const bool v4 = src.family == Family::kV4;
  std::copy(src.bytes.begin(), src.bytes.begin() + (v4 ? 4 : 16), ip + (v4 ? 12 : 8));
  std::uint32_t a = 0;
  for (std::size_t pc = 0; pc < prog.size(); ++pc) {
    const auto& i = prog[pc];
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS: {
        const std::int64_t off = static_cast<std::int64_t>(i.k) - static_cast<std::uint32_t>(SKF_NET_OFF);
        if (off < 0 || off + 4 > 40) return -1;
        a = (std::uint32_t{ip[off]} << 24) | (std::uint32_t{ip[off + 1]} << 16) | (std::uint32_t{ip[off + 2]} << 8) |
            ip[off + 3];
        break;
      }
      case BPF_ALU | BPF_AND | BPF_K: a &= i.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i.k ? i.jt : i.jf; break;
      case BPF_RET | BPF_K: return i.k;
      default: return -1;
    }
  }
  return -1;  // ran off the end
}

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

}  // namespace

TEST_CASE("the gate's kernel filter passes exactly the sources health.allow names, per family") {
  const std::vector<Cidr> allow{*parse_cidr("203.0.113.0/24"), *parse_cidr("198.51.100.7/32"),
                                        *parse_cidr("2001:db8::/33"), *parse_cidr("2001:db8:ffff::1/128"),
                                        *parse_cidr("10.0.0.0/7")};
  const auto v4 = endpoint::allow_filter(AF_INET, allow);
  const auto v6 = endpoint::allow_filter(AF_INET6, allow);
  for (const char* ok : {"203.0.113.1", "203.0.113.255", "198.51.100.7", "10.0.0.1", "11.255.255.255"})
    CHECK_MESSAGE(run_filter(v4, ip(ok)) != 0, ok);
  for (const char* no : {"203.0.112.255", "198.51.100.6", "198.51.100.8", "12.0.0.0", "9.255.255.255"})
    CHECK_MESSAGE(run_filter(v4, ip(no)) == 0, no);
  for (const char* ok : {"2001:db8::1", "2001:db8:7fff:ffff::1", "2001:db8:ffff::1"})
    CHECK_MESSAGE(run_filter(v6, ip(ok)) != 0, ok);
  for (const char* no : {"2001:db8:8000::1", "2001:db8:ffff::2", "2001:db9::1", "::1", "::ffff:203.0.113.1"})
    CHECK_MESSAGE(run_filter(v6, ip(no)) == 0, no);
  // Everyone when the list is empty (no filter), or a /0 of the family.
  CHECK(endpoint::allow_filter(AF_INET, {}).empty());
  const auto any4 = endpoint::allow_filter(AF_INET, {*parse_cidr("0.0.0.0/0")});
  CHECK(run_filter(any4, ip("198.18.0.1")) != 0);
  // Only IPv4 allowed: an IPv6 listener lets nobody in.
  const auto none6 = endpoint::allow_filter(AF_INET6, {*parse_cidr("203.0.113.0/24")});
  CHECK(run_filter(none6, ip("2001:db8::1")) == 0);
}

TEST_CASE("a reload keeps the running TCP gate and says a changed health.tcp_gate waits for a restart") {
  config::Config running;
  running.health.tcp_gate = {*config::parse_endpoint("0.0.0.0:9797")};
  config::Config next = running;
  next.health.tcp_gate = {*config::parse_endpoint("0.0.0.0:9796")};
  const auto rp = daemon::plan_reload(running, next);
  CHECK(rp.next.health.tcp_gate == running.health.tcp_gate);
  CHECK(rp.note.find("health.tcp_gate changes take effect at the next restart") != std::string::npos);
  CHECK(rp.note.find("0.0.0.0:9797") != std::string::npos);
  CHECK(daemon::plan_reload(running, running).note.empty());
}
