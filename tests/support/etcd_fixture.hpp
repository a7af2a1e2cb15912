// A real etcd (Debian's etcd-server) for the fleet's tests: it runs in a
// namespace of its own on the LAN at kEtcdIp, its data in a temp folder
// removed at the end; read straight through its JSON gateway with curl, so
// a test checks what etcd holds without going through rsagent.
#pragma once

#include "netns.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace rsagent::testing {

inline constexpr const char* kEtcdIp = "203.0.113.5";

// What etcd serves TLS with: its certificate and key, and the CA it checks
// client certificates against (etcd then demands one). `curl_flags` are
// what a test's own reads present.
struct EtcdTls {
  std::string cert, key, client_ca;
  std::string curl_flags;
};

// etcd in its own namespace on the LAN, its data under its own temp folder;
// https only, with client certificates required, when given `tls`.
class Etcd {
 public:
  explicit Etcd(Lan& lan, std::optional<EtcdTls> tls = std::nullopt) : tls_(std::move(tls)) {
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
    const std::string url = this->url();
    const std::string tls = tls_ ? " --cert-file " + tls_->cert + " --key-file " + tls_->key +
                                       " --client-cert-auth --trusted-ca-file " + tls_->client_ca
                                 : std::string();
    ns_.run("sh -c 'etcd --name fleet-test --data-dir " + dir_ + "/data --listen-client-urls " + url +
            " --advertise-client-urls " + url + tls + " --listen-peer-urls http://127.0.0.1:2380" +
            " --initial-advertise-peer-urls http://127.0.0.1:2380" +
            " --initial-cluster fleet-test=http://127.0.0.1:2380 >>" + dir_ + "/etcd.log 2>&1 &'");
    REQUIRE_MESSAGE(wait_until([&] { return ns_.run(curl() + url + "/health").out.find("true") !=
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
    const auto r = ns_.run(curl() + "-X POST " + url() + "/v3/kv/range -d '{\"key\": \"" + b64 + "\"}'");
    return r.out.find("\"kvs\"") != std::string::npos;
  }
  // How many keys start with PREFIX (-1 when etcd did not answer).
  [[nodiscard]] int count(const std::string& prefix) const {
    const auto b64 = [](const std::string& s) { return sh("printf %s '" + s + "' | base64 -w0").out; };
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    const auto r = ns_.run(curl() + "-X POST " + url() + "/v3/kv/range -d '{\"key\": \"" + b64(prefix) +
                           "\", \"range_end\": \"" + b64(end) + "\", \"count_only\": true}'");
    if (r.code != 0 || r.out.find("\"header\"") == std::string::npos) return -1;
    const auto at = r.out.find("\"count\":\"");
    return at == std::string::npos ? 0 : std::atoi(r.out.c_str() + at + 9);
  }
  [[nodiscard]] std::string log() const { return sh("tail -20 " + dir_ + "/etcd.log").out; }
  [[nodiscard]] std::string url() const { return std::string(tls_ ? "https://" : "http://") + kEtcdIp + ":2379"; }

 private:
  [[nodiscard]] std::string curl() const {
    return "curl -s --max-time 2 " + (tls_ ? tls_->curl_flags + " " : std::string());
  }
  std::optional<EtcdTls> tls_;
  Netns ns_;
  std::string dir_;
};

inline bool have_etcd() { return sh("command -v etcd >/dev/null").code == 0; }

}  // namespace rsagent::testing
