// The tunnel lab's userspace IPIP (the kernel here has no ipip module), and
// the lab's upload server. Three modes, each runs until killed:
//
//   ipip_tun encap DEV RIP...   the director: a TUN device DEV that the VIPs
//       are routed into; each inner IPv4 packet read from it is sent to one
//       real server (a hash of its addresses and ports, so a flow stays on
//       one server) by a raw IPPROTO_IPIP socket, the kernel writing the
//       outer header (source: the director's address towards that server).
//       An inner packet with DF set goes out with DF and is dropped when the
//       outer packet does not fit the path (the kernel's EMSGSIZE), without
//       an ICMP back to the client: the black hole that path-MTU discovery
//       meets across a tunnel whose ICMP never reaches the client. The
//       drops are counted on stderr.
//   ipip_tun decap DEV          a real server: a TUN device DEV (the lab
//       names it tunl0) and a raw socket for protocol 4; each packet's
//       payload, the inner packet, is written into the TUN, where it arrives
//       as it would from the kernel's own tunl0 (rp_filter included).
//   ipip_tun serve PORT NAME    an HTTP/1.x server on 0.0.0.0:PORT that reads
//       a whole request body and answers "NAME LENGTH\n" (a process per
//       connection; a connection silent for 60 s is dropped).
//
// Errors at start-up exit 1 with a message; afterwards a failed packet is
// skipped. Test helper only: never installed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ipip_tun: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

int open_tun(const std::string& name) {
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF " + name);
  return fd;
}

int raw_ipip(int pmtudisc) {
  const int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_IPIP);
  if (fd < 0) die("raw socket for protocol 4");
  if (::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtudisc, sizeof pmtudisc) < 0) die("IP_MTU_DISCOVER");
  return fd;
}

// FNV-1a over the addresses, the protocol and (TCP, UDP) the ports, then
// murmur3's finaliser: FNV-1a's low bit is only the parity of the bytes'
// low bits, and Linux picks even source ports for connect(), so "mod 2"
// alone would send every flow of a client to one server.
std::uint32_t flow_hash(const std::uint8_t* p, std::size_t n) {
  const std::size_t ihl = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  std::uint32_t h = 2166136261u;
  auto mix = [&](const std::uint8_t* b, std::size_t len) {
    for (std::size_t i = 0; i < len; ++i) h = (h ^ b[i]) * 16777619u;
  };
  mix(p + 9, 1);
  mix(p + 12, 8);
  if ((p[9] == IPPROTO_TCP || p[9] == IPPROTO_UDP) && n >= ihl + 4) mix(p + ihl, 4);
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

int encap(const std::string& dev, const std::vector<std::string>& rips) {
  std::vector<sockaddr_in> to;
  for (const auto& r : rips) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (::inet_pton(AF_INET, r.c_str(), &a.sin_addr) != 1) {
      std::fprintf(stderr, "ipip_tun: %s is not an IPv4 address\n", r.c_str());
      return 1;
    }
    to.push_back(a);
  }
  const int tun = open_tun(dev);
  const int with_df = raw_ipip(IP_PMTUDISC_DO);
  const int without_df = raw_ipip(IP_PMTUDISC_DONT);
  std::uint8_t buf[65536];
  unsigned long oversized = 0;
  for (;;) {
    const ssize_t n = ::read(tun, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read " + dev);
    }
    if (n < 20 || (buf[0] >> 4) != 4) continue;  // IPv4 only (the kernel's IPv6 chatter)
    const bool df = (buf[6] & 0x40) != 0;
    const auto& dst = to[flow_hash(buf, static_cast<std::size_t>(n)) % to.size()];
    if (::sendto(df ? with_df : without_df, buf, static_cast<std::size_t>(n), 0,
                 reinterpret_cast<const sockaddr*>(&dst), sizeof dst) < 0) {
      if (errno == EMSGSIZE) {
        ++oversized;
        std::fprintf(stderr, "oversized %lu: a %zd-byte packet with DF does not fit the tunnel\n", oversized, n);
      }
    }
  }
}

int decap(const std::string& dev) {
  const int tun = open_tun(dev);
  const int raw = raw_ipip(IP_PMTUDISC_DONT);
  std::uint8_t buf[65536];
  for (;;) {
    const ssize_t n = ::recv(raw, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recv");
    }
    if (n < 20) continue;
    const std::size_t ihl = static_cast<std::size_t>(buf[0] & 0x0f) * 4;
    if (static_cast<std::size_t>(n) < ihl + 20) continue;
    // A TUN that is down refuses (EIO): the packet is lost, as on a down tunl0.
    (void)!::write(tun, buf + ihl, static_cast<std::size_t>(n) - ihl);
  }
}

void serve_one(int c, const std::string& name) {
  timeval tv{60, 0};
  ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string head;
  char buf[65536];
  std::size_t end = std::string::npos;
  while (end == std::string::npos) {
    const ssize_t n = ::recv(c, buf, sizeof buf, 0);
    if (n <= 0) return;
    head.append(buf, static_cast<std::size_t>(n));
    end = head.find("\r\n\r\n");
    if (end == std::string::npos && head.size() > 65536) return;
  }
  std::string lower = head.substr(0, end);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  unsigned long long want = 0;
  if (const auto p = lower.find("\r\ncontent-length:"); p != std::string::npos)
    want = std::strtoull(lower.c_str() + p + 17, nullptr, 10);
  if (lower.find("\r\nexpect: 100-continue") != std::string::npos) {
    const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    (void)!::send(c, cont, sizeof cont - 1, MSG_NOSIGNAL);
  }
  unsigned long long got = head.size() - (end + 4);
  while (got < want) {
    const ssize_t n = ::recv(c, buf, sizeof buf, 0);
    if (n <= 0) return;  // the client gave up, or 60 s of silence
    got += static_cast<unsigned long long>(n);
  }
  const std::string body = name + " " + std::to_string(got) + "\n";
  const std::string out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\nConnection: close\r\n\r\n" + body;
  (void)!::send(c, out.data(), out.size(), MSG_NOSIGNAL);
  ::shutdown(c, SHUT_WR);
  while (::recv(c, buf, sizeof buf, 0) > 0) {
  }
}

int serve(int port, const std::string& name) {
  ::signal(SIGCHLD, SIG_IGN);  // children reaped by the kernel
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  const int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0) die("bind");
  if (::listen(s, 64) < 0) die("listen");
  for (;;) {
    const int c = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(s);
      serve_one(c, name);
      ::_exit(0);
    }
    ::close(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "encap") return encap(args[1], {args.begin() + 2, args.end()});
  if (args.size() == 2 && args[0] == "decap") return decap(args[1]);
  if (args.size() == 3 && args[0] == "serve") return serve(std::atoi(args[1].c_str()), args[2]);
  std::fprintf(stderr, "usage: ipip_tun encap DEV RIP... | decap DEV | serve PORT NAME\n");
  return 2;
}
