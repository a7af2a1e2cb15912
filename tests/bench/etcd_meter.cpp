#include "etcd_meter.hpp"

#include "rsagent/fleet/record.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

extern char** environ;

namespace rsagent::bench {

std::array<std::uint64_t, kPaths.size() + 1> Counts::snapshot() const {
  std::array<std::uint64_t, kPaths.size() + 1> out{};
  for (std::size_t i = 0; i < n.size(); ++i) out[i] = n[i].load();
  return out;
}

Result<fleet::HttpReply> CountingTransport::post(const std::string& path, const std::string& body,
                                                 std::chrono::milliseconds deadline) {
  std::size_t i = 0;
  while (i < kPaths.size() && path != kPaths[i]) ++i;
  ++counts_.n[i];
  return inner_->post(path, body, deadline);
}

bool Watch::start(const std::string& endpoint, const std::string& prefix) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return false;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);  // dup2 clears O_CLOEXEC on the child's stdout
  std::vector<std::string> args = {"etcdctl", "--endpoints=" + endpoint, "watch", "--prefix", prefix, "-w", "json"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = ::posix_spawnp(&pid_, "etcdctl", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(p[1]);
  if (rc != 0) {
    ::close(p[0]);
    pid_ = -1;
    return false;
  }
  fd_ = p[0];
  reader_ = std::thread([this] { read_loop(); });
  return true;
}

void Watch::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  if (reader_.joinable()) reader_.join();  // the pipe's end: EOF
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<Clock::time_point> Watch::wait(const std::string& key, const std::string& mark,
                                             Clock::duration timeout) {
  std::unique_lock lock(m_);
  const std::string k = key + '\n' + mark;
  if (!cv_.wait_for(lock, timeout, [&] { return seen_.count(k) != 0; })) return std::nullopt;
  return seen_[k];
}

std::uint64_t Watch::events() {
  std::lock_guard lock(m_);
  return events_;
}

void Watch::read_loop() {
  std::string buf;
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n <= 0) return;
    // One stamp per read: the moment the delivery reached this process.
    const auto at = Clock::now();
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      line(buf.substr(0, nl), at);
      buf.erase(0, nl + 1);
    }
  }
}

// One watch response: {"Header": ..., "Events": [{"kv": {"key": B64,
// "value": B64, ...}}, ...]}; a delete carries "type": 1.
void Watch::line(const std::string& text, Clock::time_point at) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("Events") || !j["Events"].is_array()) return;
  std::lock_guard lock(m_);
  for (const auto& ev : j["Events"]) {
    if (!ev.is_object() || ev.contains("type") || !ev.contains("kv") || !ev["kv"].is_object()) continue;
    const auto key = fleet::base64_decode(ev["kv"].value("key", ""));
    const auto value = fleet::base64_decode(ev["kv"].value("value", ""));
    if (!key || !value) continue;
    const auto rec = fleet::decode(*value);
    seen_.try_emplace(*key + '\n' + (rec ? rec->reason : *value), at);
    ++events_;
  }
  cv_.notify_all();
}

std::map<std::string, double> etcd_messages(const std::string& endpoint) {
  std::map<std::string, double> out;
  httplib::Client c(endpoint);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(5, 0);
  auto res = c.Get("/metrics");
  if (!res || res->status != 200) return out;
  // grpc_server_msg_received_total{grpc_method="Put",grpc_service=...,grpc_type="unary"} 42
  const std::string metric = "grpc_server_msg_received_total{";
  const std::string method = "grpc_method=\"";
  std::size_t pos = 0;
  while (pos < res->body.size()) {
    std::size_t end = res->body.find('\n', pos);
    if (end == std::string::npos) end = res->body.size();
    const std::string l = res->body.substr(pos, end - pos);
    pos = end + 1;
    if (l.rfind(metric, 0) != 0) continue;
    const auto m = l.find(method);
    const auto sp = l.rfind(' ');
    if (m == std::string::npos || sp == std::string::npos) continue;
    const auto from = m + method.size();
    const auto q = l.find('"', from);
    if (q == std::string::npos) continue;
    out[l.substr(from, q - from)] += std::strtod(l.c_str() + sp + 1, nullptr);
  }
  return out;
}

}  // namespace rsagent::bench
