#include "rsagent/attribution/syn_filter.hpp"

#include <algorithm>
#include <cstdio>

namespace rsagent::attribution {

namespace {

constexpr std::uint32_t kEth = 14;
constexpr std::uint32_t kTcpSyn = 0x02, kTcpAck = 0x10;

std::uint32_t word(const IpAddress& a, std::size_t i) {
  return (std::uint32_t{a.bytes[4 * i]} << 24) | (std::uint32_t{a.bytes[4 * i + 1]} << 16) |
         (std::uint32_t{a.bytes[4 * i + 2]} << 8) | std::uint32_t{a.bytes[4 * i + 3]};
}

std::uint32_t mask_of(int bits) { return bits <= 0 ? 0 : bits >= 32 ? 0xffffffffu : ~(0xffffffffu >> bits); }

sock_filter stmt(std::uint16_t code, std::uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

// Every test fails into a `ret #0` right behind it, so no jump is ever
// longer than a target's own block, whatever the number of targets.
struct Emitter {
  std::vector<sock_filter> code;
  void drop_unless_eq(std::uint32_t k) {
    code.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, k, 1, 0));
    code.push_back(stmt(BPF_RET | BPF_K, 0));
  }
  void drop_if_set(std::uint32_t k) {
    code.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, k, 0, 1));
    code.push_back(stmt(BPF_RET | BPF_K, 0));
  }
};

// The header tests; A is free afterwards. IPv4 (X, and M[0], hold the
// offset from kEth of the IP header that carries the TCP segment): a direct
// frame's own header (X = 0), or in an IPIP frame (protocol 4, as tunnelling
// balancers send) the inner header (X = the outer header's length; the
// outer header must not be a later fragment either).
Emitter header(Family family) {
  Emitter e;
  if (family == Family::kV4) {
    e.code.push_back(stmt(BPF_LDX | BPF_IMM, 0));                 // X = 0: direct
    e.code.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, kEth + 9));  // protocol
    e.code.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 4));  // IPIP, else -> the TCP header tests
    e.code.push_back(stmt(BPF_LD | BPF_H | BPF_ABS, kEth + 6));  // outer flags, fragment offset
    e.drop_if_set(0x1fff);
    e.code.push_back(stmt(BPF_LDX | BPF_B | BPF_MSH, kEth));  // X = the outer header's length
    e.code.push_back(stmt(BPF_LD | BPF_B | BPF_IND, kEth + 9));  // protocol
    e.drop_unless_eq(6);
    e.code.push_back(stmt(BPF_LD | BPF_H | BPF_IND, kEth + 6));  // flags, fragment offset
    e.drop_if_set(0x1fff);
    e.code.push_back(stmt(BPF_STX, 0));                           // M[0] = X
    e.code.push_back(stmt(BPF_LD | BPF_B | BPF_IND, kEth));       // version, header length
    e.code.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, 0x0f));
    e.code.push_back(stmt(BPF_ALU | BPF_LSH | BPF_K, 2));
    e.code.push_back(stmt(BPF_ALU | BPF_ADD | BPF_X, 0));
    e.code.push_back(stmt(BPF_MISC | BPF_TAX, 0));                // X = where TCP starts, from kEth
    e.code.push_back(stmt(BPF_LD | BPF_B | BPF_IND, kEth + 13));  // TCP flags
    e.code.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, kTcpSyn | kTcpAck));
    e.drop_unless_eq(kTcpSyn);
    e.code.push_back(stmt(BPF_LDX | BPF_W | BPF_MEM, 0));  // X = M[0]: the destination is at kEth + X + 16
    return e;
  }
  e.code.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, kEth + 6));  // next header
  e.drop_unless_eq(6);
  e.code.push_back(stmt(BPF_LD | BPF_B | BPF_ABS, kEth + 40 + 13));
  e.code.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, kTcpSyn | kTcpAck));
  e.drop_unless_eq(kTcpSyn);
  return e;
}

// The IPv4 targets, X being where the IP header is (header()): hosts first
// under one load of the destination, each a compare and a return of
// kSnapLen; then the ranges, each a load, a mask and a compare.
void ipv4_targets(Emitter& e, const std::vector<const Target*>& mine, std::uint32_t dst) {
  const std::uint16_t load = BPF_LD | BPF_W | BPF_IND;
  bool loaded = false;
  for (const Target* t : mine) {
    if (t->prefix == 32) {
      if (!loaded) e.code.push_back(stmt(load, dst));
      loaded = true;
      e.code.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, word(t->network, 0), 0, 1));
      e.code.push_back(stmt(BPF_RET | BPF_K, kSnapLen));
    } else {
      e.code.push_back(stmt(load, dst));
      e.code.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, mask_of(t->prefix)));
      e.code.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, word(t->network, 0), 0, 1));
      e.code.push_back(stmt(BPF_RET | BPF_K, kSnapLen));
      loaded = false;
    }
  }
}

// The IPv6 targets: per target the words its prefix covers, each a load
// (and a mask for the last partial one) and a compare that skips to the
// next target.
void ipv6_targets(Emitter& e, const std::vector<const Target*>& mine, std::uint32_t dst) {
  for (const Target* t : mine) {
    std::vector<sock_filter> block;
    for (std::size_t i = 0; i < 4; ++i) {
      const int bits = std::min(32, t->prefix - static_cast<int>(32 * i));
      if (bits <= 0) break;
      block.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, dst + static_cast<std::uint32_t>(4 * i)));
      if (bits < 32) block.push_back(stmt(BPF_ALU | BPF_AND | BPF_K, mask_of(bits)));
      block.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, word(t->network, i), 0, 0));  // jf set below
    }
    block.push_back(stmt(BPF_RET | BPF_K, kSnapLen));
    for (std::size_t i = 0; i < block.size(); ++i)
      if (BPF_CLASS(block[i].code) == BPF_JMP) block[i].jf = static_cast<std::uint8_t>(block.size() - i - 1);
    e.code.insert(e.code.end(), block.begin(), block.end());
  }
}

}  // namespace

std::string mac_text(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return buf;
}

std::vector<Target> targets_of(const std::vector<config::Vip>& vips) {
  std::vector<Target> out;
  for (const auto& v : vips) {
    Target t;
    t.prefix = std::clamp(v.prefix, 0, v.address.max_prefix());
    t.network = v.address.with_host_bits(t.prefix, false);
    t.name = t.prefix == v.address.max_prefix() ? t.network.str() : t.network.str() + "/" + std::to_string(t.prefix);
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
  }
  return out;
}

Filter syn_filter(const std::vector<Target>& targets, Family family, std::size_t max_instructions) {
  std::vector<const Target*> mine;
  for (const auto& t : targets)
    if (t.network.family == family) mine.push_back(&t);
  Filter f;
  if (mine.empty()) {
    f.code.push_back(stmt(BPF_RET | BPF_K, 0));
    return f;
  }
  const std::uint32_t dst = family == Family::kV4 ? kEth + 16 : kEth + 24;
  // Hosts first, under one load; each costs a compare and a return.
  std::stable_sort(mine.begin(), mine.end(), [](const Target* a, const Target* b) {
    return (a->prefix == a->network.max_prefix()) > (b->prefix == b->network.max_prefix());
  });
  Emitter e = header(family);
  const std::size_t head = e.code.size();
  if (family == Family::kV4)
    ipv4_targets(e, mine, dst);
  else
    ipv6_targets(e, mine, dst);
  e.code.push_back(stmt(BPF_RET | BPF_K, 0));
  if (e.code.size() <= max_instructions) {
    f.code = std::move(e.code);
    return f;
  }
  // Too many targets for the kernel: every SYN of the family, matched here.
  e.code.resize(head);
  e.code.push_back(stmt(BPF_RET | BPF_K, kSnapLen));
  f.code = std::move(e.code);
  f.exact = false;
  return f;
}

Filter syn_filter_any(const std::vector<Target>& targets, std::size_t max_instructions) {
  constexpr std::size_t kHead = 6;
  Filter v4 = syn_filter(targets, Family::kV4, max_instructions);
  Filter v6 = syn_filter(targets, Family::kV6, max_instructions);
  if (kHead + v4.code.size() + v6.code.size() > max_instructions) {
    Filter& big = v4.code.size() >= v6.code.size() ? v4 : v6;
    big = syn_filter(targets, &big == &v4 ? Family::kV4 : Family::kV6, 0);
  }
  if (kHead + v4.code.size() + v6.code.size() > max_instructions) {
    v4 = syn_filter(targets, Family::kV4, 0);
    v6 = syn_filter(targets, Family::kV6, 0);
  }
  Filter f;
  f.exact = v4.exact && v6.exact;
  f.code = {
      stmt(BPF_LD | BPF_H | BPF_ABS, 12),                   // 0: ethertype
      jump(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 1),        // 1: IPv4 -> 2
      stmt(BPF_JMP | BPF_JA, 3),                            // 2: -> the IPv4 program
      jump(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 0, 1),        // 3: IPv6 -> 4
      stmt(BPF_JMP | BPF_JA, static_cast<std::uint32_t>(1 + v4.code.size())),  // 4: -> the IPv6 program
      stmt(BPF_RET | BPF_K, 0),                             // 5: neither
  };
  f.code.insert(f.code.end(), v4.code.begin(), v4.code.end());
  f.code.insert(f.code.end(), v6.code.begin(), v6.code.end());
  return f;
}

TargetSet::TargetSet(std::vector<Target> targets) : targets_(std::move(targets)) {
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (targets_[i].prefix == targets_[i].network.max_prefix())
      singles_.emplace_back(targets_[i].network, i);
    else
      ranges_.push_back(i);
  }
  std::sort(singles_.begin(), singles_.end());
  std::stable_sort(ranges_.begin(), ranges_.end(),
                   [&](std::size_t a, std::size_t b) { return targets_[a].prefix > targets_[b].prefix; });
}

bool TargetSet::has(Family f) const {
  return std::any_of(targets_.begin(), targets_.end(), [&](const Target& t) { return t.network.family == f; });
}

const Target* TargetSet::match(const IpAddress& a) const {
  const auto it = std::lower_bound(singles_.begin(), singles_.end(), std::make_pair(a, std::size_t{0}));
  if (it != singles_.end() && it->first == a) return &targets_[it->second];
  for (const std::size_t i : ranges_) {
    const Target& t = targets_[i];
    if (t.network.family == a.family && a.with_host_bits(t.prefix, false) == t.network) return &t;
  }
  return nullptr;
}

std::optional<Syn> parse_syn(std::span<const std::uint8_t> f, const TargetSet& targets) {
  if (f.size() < kEth + 20) return std::nullopt;
  const std::uint16_t type = static_cast<std::uint16_t>((f[12] << 8) | f[13]);
  IpAddress dst;
  std::size_t tcp = 0;
  std::optional<IpAddress> outer_source;
  if (type == 0x0800) {
    std::size_t ip = kEth;
    if (f[ip + 9] == 4) {  // IPIP: the outer header, then the inner one is read as a direct frame's
      const std::size_t outer = static_cast<std::size_t>(f[ip] & 0x0f) * 4;
      if ((f[ip] >> 4) != 4 || outer < 20 || f.size() < ip + outer + 20) return std::nullopt;
      if (((f[ip + 6] << 8) | f[ip + 7]) & 0x1fff) return std::nullopt;
      IpAddress src;
      std::copy_n(f.begin() + static_cast<std::ptrdiff_t>(ip) + 12, 4, src.bytes.begin());
      outer_source = src;
      ip += outer;
    }
    const auto at = static_cast<std::ptrdiff_t>(ip);
    const std::size_t ihl = static_cast<std::size_t>(f[ip] & 0x0f) * 4;
    if ((f[ip] >> 4) != 4 || ihl < 20 || f[ip + 9] != 6) return std::nullopt;
    if (((f[ip + 6] << 8) | f[ip + 7]) & 0x1fff) return std::nullopt;
    std::copy_n(f.begin() + at + 16, 4, dst.bytes.begin());
    tcp = ip + ihl;
  } else if (type == 0x86dd) {
    if (f.size() < kEth + 40 || (f[kEth] >> 4) != 6 || f[kEth + 6] != 6) return std::nullopt;
    dst.family = Family::kV6;
    std::copy_n(f.begin() + kEth + 24, 16, dst.bytes.begin());
    tcp = kEth + 40;
  } else {
    return std::nullopt;
  }
  if (f.size() < tcp + 14 || (f[tcp + 13] & (kTcpSyn | kTcpAck)) != kTcpSyn) return std::nullopt;
  const Target* t = targets.match(dst);
  if (!t) return std::nullopt;
  Syn s;
  std::copy_n(f.begin() + 6, 6, s.source.begin());
  s.outer_source = outer_source;
  s.target = t;
  return s;
}

}  // namespace rsagent::attribution
