// The instruments the fleet benchmark reads etcd with, apart from the
// code under test: a Transport that counts requests by API path, an
// `etcdctl watch` that timestamps what etcd delivers, and etcd's own gRPC
// counters from /metrics.
// Threads: Counts is shared by any number of transports (atomics); a
// Watch owns a reader thread and an etcdctl child, both ended by stop()
// or the destructor; everything else is used by one thread at a time.
// Errors: a Watch that cannot start says false; a /metrics that cannot be
// read is an empty map; CountingTransport returns its inner transport's
// Result.
#pragma once

#include "rsagent/fleet/etcd.hpp"

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace rsagent::bench {

using Clock = std::chrono::steady_clock;

// Requests by etcd API path; the last slot counts any other path.
inline constexpr std::array<const char*, 7> kPaths = {"/v3/lease/grant", "/v3/lease/keepalive", "/v3/kv/put",
                                                      "/v3/lease/revoke", "/v3/kv/range", "/v3/kv/txn",
                                                      "/v3/kv/deleterange"};
struct Counts {
  std::array<std::atomic<std::uint64_t>, kPaths.size() + 1> n{};
  [[nodiscard]] std::array<std::uint64_t, kPaths.size() + 1> snapshot() const;
};

class CountingTransport : public fleet::Transport {
 public:
  CountingTransport(std::unique_ptr<fleet::Transport> inner, Counts& counts)
      : inner_(std::move(inner)), counts_(counts) {}
  Result<fleet::HttpReply> post(const std::string& path, const std::string& body,
                                std::chrono::milliseconds deadline) override;
  [[nodiscard]] std::string where() const override { return inner_->where(); }

 private:
  std::unique_ptr<fleet::Transport> inner_;
  Counts& counts_;
};

// `etcdctl watch --prefix PREFIX -w json` in a child process: remembers
// when each (key, mark) was first delivered, stamped when etcdctl's
// output reaches this process (one stamp per read). The mark is a
// record's reason when the value decodes as a node record, else the raw
// value.
class Watch {
 public:
  Watch() = default;
  ~Watch() { stop(); }
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  bool start(const std::string& endpoint, const std::string& prefix);
  void stop();
  // When KEY carrying MARK was first delivered, waiting at most `timeout`.
  std::optional<Clock::time_point> wait(const std::string& key, const std::string& mark, Clock::duration timeout);
  std::uint64_t events();  // puts delivered so far

 private:
  void read_loop();
  void line(const std::string& text, Clock::time_point at);

  pid_t pid_ = -1;
  int fd_ = -1;
  std::thread reader_;
  std::mutex m_;
  std::condition_variable cv_;
  std::map<std::string, Clock::time_point> seen_;
  std::uint64_t events_ = 0;
};

// etcd's gRPC messages received, by method: its own count of requests
// (the JSON gateway forwards each POST as one gRPC message).
[[nodiscard]] std::map<std::string, double> etcd_messages(const std::string& endpoint);

}  // namespace rsagent::bench
