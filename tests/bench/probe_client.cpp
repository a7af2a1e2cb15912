// A checker for benchmarks: COUNT requests "GET PATH HTTP/1.0" with
// Connection: close to IP:PORT, INTERVAL_MS apart, each timed from connect
// to the server's EOF; prints "p50 p99 max" in ms. One long-lived process,
// so that what is measured is the server, not the start of a client
// process (curl per request measured mostly its own exec on a busy CPU).
#include <algorithm>
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: probe_client IP PORT PATH COUNT INTERVAL_MS\n");
    return 2;
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[2])));
  if (::inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) return 2;
  const std::string req = std::string("GET ") + argv[3] + " HTTP/1.0\r\nConnection: close\r\n\r\n";
  const int count = std::atoi(argv[4]);
  const auto interval = std::chrono::milliseconds(std::atoi(argv[5]));
  std::vector<double> ms;
  int failed = 0;
  for (int i = 0; i < count; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
              ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
    char buf[4096];
    std::size_t got = 0;
    while (ok) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (fd >= 0) ::close(fd);
    if (!ok || got == 0) ++failed;
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    std::this_thread::sleep_for(interval);
  }
  std::sort(ms.begin(), ms.end());
  const auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
  std::printf("%.2f %.2f %.2f %d\n", at(0.50), at(0.99), ms.back(), failed);
  return failed == 0 ? 0 : 1;
}
