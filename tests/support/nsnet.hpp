// Sockets opened from inside a test namespace: a thread joins the namespace
// with setns(2), so the test talks to the daemon's listeners directly, and a
// tiny TCP service plays the "checked service" that a test can kill and
// bring back. Everything closes and joins in destructors.
#pragma once

#include "netns.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace rsagent::testing {

// Runs f on a thread inside the namespace and waits for it.
void in_netns(const Netns& ns, const std::function<void()>& f);

struct RawReply {
  std::string data;
  bool eof = false;  // the server closed the connection
  std::chrono::milliseconds elapsed{0};
};

// Connects (inside ns) to ip:port, sends `request`, reads until EOF or timeout.
RawReply raw_exchange(const Netns& ns, const std::string& ip, int port, const std::string& request,
                      std::chrono::milliseconds timeout);

// HTTP status code of a raw reply, or -1.
int status_of(const std::string& reply);

// A listening socket inside ns that never accepts: connections to it stay
// ESTABLISHED in its backlog until the returned fd is closed.
int listen_in(const Netns& ns, const std::string& ip, int port);

// Accepts on ip:port inside ns and answers each connection with `reply`
// (an HTTP response by default) before closing it. stop() closes the socket:
// a "killed service" refuses connections.
class NsService {
 public:
  NsService(const Netns& ns, std::string ip, int port, std::string body = "ok\n");
  ~NsService();
  NsService(const NsService&) = delete;
  NsService& operator=(const NsService&) = delete;
  void start();
  void stop();

 private:
  const Netns& ns_;
  std::string ip_;
  int port_;
  std::string body_;
  int fd_ = -1;
  int wake_ = -1;
  std::thread thread_;
};

}  // namespace rsagent::testing

namespace rsagent::testing {

// HAProxy in `ns` with `config` (written to dir/haproxy.cfg, its log to
// dir/haproxy.log); the namespace's end ends it. Its config must serve
// stats on 127.0.0.1:8404/stats.
class Haproxy {
 public:
  Haproxy(const Netns& ns, const std::string& dir, const std::string& config);
  // The stats page's status of backend/server: "UP", "DOWN", "DRAIN",
  // "MAINT", "UP 1/2", ...; empty while unknown.
  [[nodiscard]] std::string state(const std::string& backend, const std::string& server) const;
  [[nodiscard]] std::string log() const;

 private:
  const Netns& ns_;
  std::string dir_;
};

// /status once every check has had at least `probes` probes (waits up to
// `timeout`), as {name: {state, last output}}.
std::map<std::string, std::pair<std::string, std::string>> settled_checks(
    const Netns& ns, int probes, std::chrono::milliseconds timeout, nlohmann::json* status = nullptr);

}  // namespace rsagent::testing
