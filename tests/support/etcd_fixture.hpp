// A real etcd (Debian's etcd-server) for the fleet's tests: it runs in a
// namespace of its own on the LAN at kEtcdIp, its data in a temp folder
// removed at the end; read straight through its JSON gateway with curl, so
// a test checks what etcd holds without going through rsagent.
#pragma once

#include "netns.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace rsagent::testing {

inline constexpr const char* kEtcdIp = "203.0.113.5";

// etcd in its own namespace on the LAN, its data under its own temp folder.
class Etcd {
 public:
  explicit Etcd(Lan& lan) {
    char tmpl[] = "/tmp/rsagent-etcd-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    lan.attach(ns_, std::string(kEtcdIp) + "/24");
    start();
  }
  ~Etcd() {
    ns_.kill_all_processes();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // A fresh member when `wipe`: what a node meets after etcd lost its data.
  void start(bool wipe = false) {
    if (wipe) {
      std::error_code ec;
      std::filesystem::remove_all(dir_ + "/data", ec);
    }
    const std::string url = std::string("http://") + kEtcdIp + ":2379";
    ns_.run("sh -c 'etcd --name fleet-test --data-dir " + dir_ + "/data --listen-client-urls " + url +
            " --advertise-client-urls " + url + " --listen-peer-urls http://127.0.0.1:2380" +
            " --initial-advertise-peer-urls http://127.0.0.1:2380" +
            " --initial-cluster fleet-test=http://127.0.0.1:2380 >>" + dir_ + "/etcd.log 2>&1 &'");
    REQUIRE_MESSAGE(wait_until([&] { return ns_.run("curl -s --max-time 1 " + url + "/health").out.find("true") !=
                                             std::string::npos; },
                               std::chrono::seconds(30), std::chrono::milliseconds(100)),
                    log());
  }
  void stop() {
    ns_.kill_all_processes();
    REQUIRE(wait_until([&] { return sh("ip netns pids " + ns_.name()).out.empty(); }, std::chrono::seconds(10)));
  }
  // Whether etcd holds KEY now (read straight from etcd, not through rsagent).
  [[nodiscard]] bool has(const std::string& key) const {
    const auto b64 = sh("printf %s '" + key + "' | base64 -w0").out;
    const auto r = ns_.run(std::string("curl -s --max-time 2 -X POST http://") + kEtcdIp +
                           ":2379/v3/kv/range -d '{\"key\": \"" + b64 + "\"}'");
    return r.out.find("\"kvs\"") != std::string::npos;
  }
  // How many keys start with PREFIX (-1 when etcd did not answer).
  [[nodiscard]] int count(const std::string& prefix) const {
    const auto b64 = [](const std::string& s) { return sh("printf %s '" + s + "' | base64 -w0").out; };
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    const auto r = ns_.run(std::string("curl -s --max-time 2 -X POST http://") + kEtcdIp +
                           ":2379/v3/kv/range -d '{\"key\": \"" + b64(prefix) + "\", \"range_end\": \"" + b64(end) +
                           "\", \"count_only\": true}'");
    if (r.code != 0 || r.out.find("\"header\"") == std::string::npos) return -1;
    const auto at = r.out.find("\"count\":\"");
    return at == std::string::npos ? 0 : std::atoi(r.out.c_str() + at + 9);
  }
  [[nodiscard]] std::string log() const { return sh("tail -20 " + dir_ + "/etcd.log").out; }

 private:
  Netns ns_;
  std::string dir_;
};

inline bool have_etcd() { return sh("command -v etcd >/dev/null").code == 0; }

}  // namespace rsagent::testing
