// The fleet benchmark's driver (tests/bench/fleet_bench.sh runs it in a
// namespace that reaches one etcd): NODES fleet::Publishers, each over its
// own transport (one kept-alive connection each), as NODES rsagentd would
// run them. It measures, against the same etcd in the same run:
//  - how long a verdict change takes to reach etcd: from the moment the
//    record function starts returning the changed record and notify() is
//    called, to the moment an etcd watch (etcd_meter.hpp: etcdctl, a
//    separate process and client) delivers the record with that change;
//    changes one node at a time, round robin, then all nodes at once;
//  - the reference, interleaved with those changes: a put of a
//    record-sized value through the same EtcdClient over the fleet's own
//    transport, its round trip and when the same watch delivers it;
//  - the requests each node sends at rest, counted by a Transport wrapper
//    and cross-checked against etcd's own gRPC counters.
// Usage: fleet_bench ENDPOINT NODES CHANGES REST_SECONDS TTL_SECONDS
//        INTERVAL_MS BURSTS
// Threads: one per publisher, the watch's reader, main. Exits 1 when etcd
// or the watch fails or a change never shows up.
#include "etcd_meter.hpp"

#include "rsagent/fleet/etcd.hpp"
#include "rsagent/fleet/http_transport.hpp"
#include "rsagent/fleet/publisher.hpp"
#include "rsagent/fleet/record.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace rsagent;
using bench::Clock;
using namespace std::chrono_literals;

constexpr const char* kPrefix = "/rsagent-bench/";

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Nearest-rank percentile of `v` (sorted here); 0 when empty.
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

// One simulated node: the record its publisher reads, changed by main.
struct Node {
  std::string name;
  std::string key;
  std::mutex m;
  fleet::NodeRecord rec;
  std::unique_ptr<fleet::Publisher> pub;
  fleet::NodeRecord get() {
    std::lock_guard lock(m);
    return rec;
  }
  // The change, then notify(): returns the moment the change was made.
  Clock::time_point change(const std::string& mark) {
    {
      std::lock_guard lock(m);
      rec.verdict = rec.verdict == "ready" ? "down" : "ready";
      rec.reason = mark;
    }
    const auto t0 = Clock::now();
    pub->notify();
    return t0;
  }
};

fleet::NodeRecord sample_record(const std::string& name, int i) {
  fleet::NodeRecord r;
  r.name = name;
  r.version = "bench";
  r.addresses = {"203.0.113." + std::to_string(10 + i % 200)};
  r.vips = {"198.51.100.100", "198.51.100.101"};
  r.verdict = "ready";
  r.reason = "start";
  r.checks_up = 2;
  r.checks_total = 2;
  r.directors = {"203.0.113.2", "203.0.113.3"};
  return r;
}

void row(const char* what, const std::vector<double>& v, std::size_t want) {
  std::printf("%-44s %5zu/%-5zu %9.2f %9.2f %9.2f\n", what, v.size(), want, pct(v, 0.5), pct(v, 0.99),
              v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: fleet_bench ENDPOINT NODES CHANGES REST_SECONDS TTL_SECONDS INTERVAL_MS BURSTS\n");
    return 2;
  }
  // A write to a connection etcd closed must fail, not end the driver.
  std::signal(SIGPIPE, SIG_IGN);
  const std::string endpoint = argv[1];
  const int nodes = std::max(1, std::atoi(argv[2]));
  const int changes = std::max(1, std::atoi(argv[3]));
  const int rest_s = std::max(1, std::atoi(argv[4]));
  const int ttl_s = std::max(1, std::atoi(argv[5]));
  const auto interval = std::chrono::milliseconds(std::max(2, std::atoi(argv[6])));
  const int bursts = std::max(0, std::atoi(argv[7]));

  config::Fleet cfg;
  cfg.endpoints = {endpoint};
  cfg.prefix = kPrefix;
  cfg.ttl = std::chrono::seconds(ttl_s);
  bench::Counts counts;      // the publishers' requests
  bench::Counts ref_counts;  // the reference client's (kept apart)

  bench::Watch watch;
  if (!watch.start(endpoint, kPrefix)) {
    std::fprintf(stderr, "fleet_bench: cannot start etcdctl watch\n");
    return 1;
  }
  // The reference: the same EtcdClient over the fleet's own transport,
  // as a publisher uses it, on a connection of its own.
  bench::CountingTransport ref_t(fleet::make_http_transport(cfg), ref_counts);
  fleet::EtcdClient ref(ref_t, fleet::fleet_deadline(cfg.ttl));
  const std::string ref_key = std::string(kPrefix) + "ref";
  std::vector<double> ref_rtt;
  std::vector<std::pair<std::string, Clock::time_point>> ref_made;
  std::vector<double> ref_seen;
  const auto lease = ref.grant(std::chrono::seconds(300));
  if (!lease) {
    std::fprintf(stderr, "fleet_bench: %s\n", lease.error().str().c_str());
    return 1;
  }
  // The watch is live once it delivers a put made after it started.
  bool synced = false;
  for (int i = 0; i < 50 && !synced; ++i) {
    (void)ref.put(std::string(kPrefix) + "sync", "s" + std::to_string(i), *lease);
    synced = watch.wait(std::string(kPrefix) + "sync", "s" + std::to_string(i), 200ms).has_value();
  }
  if (!synced) {
    std::fprintf(stderr, "fleet_bench: the etcd watch delivered nothing\n");
    return 1;
  }

  // NODES publishers, started together (a fleet after a power cut).
  std::vector<std::unique_ptr<Node>> fleet_nodes;
  for (int i = 0; i < nodes; ++i) {
    auto n = std::make_unique<Node>();
    char name[32];
    std::snprintf(name, sizeof name, "node-%03d", i);
    n->name = name;
    n->key = fleet::nodes_prefix(kPrefix) + name;
    n->rec = sample_record(name, i);
    config::Fleet c = cfg;
    c.name = name;
    Node* raw = n.get();
    n->pub = std::make_unique<fleet::Publisher>(
        c, std::make_unique<bench::CountingTransport>(fleet::make_http_transport(c), counts),
        [raw] { return raw->get(); });
    fleet_nodes.push_back(std::move(n));
  }
  const auto t_start = Clock::now();
  for (auto& n : fleet_nodes) n->pub->start();
  double startup_ms = 0;
  for (auto& n : fleet_nodes) {
    const auto at = watch.wait(n->key, "start", 30s);
    if (!at) {
      std::fprintf(stderr, "fleet_bench: %s never published its first record\n", n->name.c_str());
      return 1;
    }
    startup_ms = std::max(startup_ms, ms(*at - t_start));
  }

  // One change every INTERVAL, round robin over the nodes (each node's
  // changes are NODES x INTERVAL apart, so none is coalesced into the
  // next); half way to the next change, one reference put.
  std::vector<std::pair<Node*, Clock::time_point>> made;
  const auto t_loop = Clock::now();
  for (int i = 0; i < changes; ++i) {
    std::this_thread::sleep_until(t_loop + i * interval);
    Node& n = *fleet_nodes[static_cast<std::size_t>(i % nodes)];
    made.emplace_back(&n, n.change("c-" + std::to_string(i)));
    std::this_thread::sleep_until(t_loop + i * interval + interval / 2);
    auto rec = sample_record("ref", 0);  // a record-sized value
    rec.reason = "r-" + std::to_string(i);
    const std::string v = fleet::encode(rec);
    const auto t0 = Clock::now();
    if (ref.put(ref_key, v, *lease)) {
      ref_rtt.push_back(ms(Clock::now() - t0));
      ref_made.emplace_back(rec.reason, t0);
    }
  }
  std::vector<double> change_ms;
  for (std::size_t i = 0; i < made.size(); ++i) {
    if (const auto at = watch.wait(made[i].first->key, "c-" + std::to_string(i), 10s))
      change_ms.push_back(ms(*at - made[i].second));
  }
  for (const auto& [mark, t0] : ref_made) {
    if (const auto at = watch.wait(ref_key, mark, 10s)) ref_seen.push_back(ms(*at - t0));
  }

  // Every node at once, BURSTS times: what etcd sees when a shared
  // dependency fails across the farm.
  std::vector<double> burst_ms;
  std::vector<double> burst_last_ms;
  for (int b = 0; b < bursts; ++b) {
    std::this_thread::sleep_for(500ms);
    std::vector<Clock::time_point> t0(fleet_nodes.size());
    const std::string mark = "b-" + std::to_string(b);
    for (std::size_t i = 0; i < fleet_nodes.size(); ++i) t0[i] = fleet_nodes[i]->change(mark);
    double last = 0;
    for (std::size_t i = 0; i < fleet_nodes.size(); ++i) {
      if (const auto at = watch.wait(fleet_nodes[i]->key, mark, 10s)) {
        burst_ms.push_back(ms(*at - t0[i]));
        last = std::max(last, ms(*at - t0.front()));
      }
    }
    burst_last_ms.push_back(last);
  }
  (void)ref.revoke(*lease);

  // At rest: nothing changes for REST_SECONDS; only the leases are kept.
  std::this_thread::sleep_for(2s);
  const auto c0 = counts.snapshot();
  const auto e0 = bench::etcd_messages(endpoint);
  const auto w0 = watch.events();
  const auto t_rest = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(rest_s));
  const double rest_min = std::chrono::duration<double>(Clock::now() - t_rest).count() / 60.0;
  const auto c1 = counts.snapshot();
  const auto e1 = bench::etcd_messages(endpoint);
  const auto w1 = watch.events();

  std::uint64_t puts = 0;
  for (auto& n : fleet_nodes) {
    puts += n->pub->puts();
    n->pub->stop();
  }
  watch.stop();

  std::printf("%d publishers (one connection each, over the fleet's own transport) -> etcd at %s, ttl %d s\n",
              nodes, endpoint.c_str(), ttl_s);
  std::printf("all %d first records in etcd %.0f ms after the publishers started\n\n", nodes, startup_ms);
  std::printf("%-44s %11s %9s %9s %9s\n", "latency (ms)", "seen", "p50", "p99", "max");
  const auto want = static_cast<std::size_t>(changes);
  row("reference: put round trip", ref_rtt, want);
  row("reference: put -> watch", ref_seen, want);
  row("verdict change -> record in etcd (watch)", change_ms, made.size());
  if (bursts > 0) {
    char what[64];
    std::snprintf(what, sizeof what, "all %d nodes change at once (%d rounds)", nodes, bursts);
    row(what, burst_ms, static_cast<std::size_t>(nodes * bursts));
    row("  ...until the last node's record", burst_last_ms, static_cast<std::size_t>(bursts));
  }
  const double c50 = pct(change_ms, 0.5), c99 = pct(change_ms, 0.99);
  const double r50 = pct(ref_seen, 0.5), r99 = pct(ref_seen, 0.99);
  std::printf("verdict change / put -> watch                  p50 %6.2fx  p99 %6.2fx\n", r50 > 0 ? c50 / r50 : 0.0,
              r99 > 0 ? c99 / r99 : 0.0);
  std::printf("\n");

  std::printf("at rest, %.1f s, no change: requests per node per minute\n", rest_min * 60);
  double total = 0;
  std::string by_path;
  for (std::size_t i = 0; i < c0.size(); ++i) {
    const double d = static_cast<double>(c1[i] - c0[i]);
    if (d == 0) continue;
    total += d;
    char part[96];
    std::snprintf(part, sizeof part, "  %s %.2f", i < bench::kPaths.size() ? bench::kPaths[i] : "other",
                  d / nodes / rest_min);
    by_path += part;
  }
  std::printf("  counted by the publishers' transports: %.2f (%s )\n", total / nodes / rest_min, by_path.c_str());
  double etcd_total = 0;
  std::string by_method;
  for (const auto& [method, v] : e1) {
    const double d = v - (e0.count(method) ? e0.at(method) : 0.0);
    if (d == 0) continue;
    etcd_total += d;
    char part[96];
    std::snprintf(part, sizeof part, "  %s %.2f", method.c_str(), d / nodes / rest_min);
    by_method += part;
  }
  if (e0.empty() || e1.empty()) {
    std::printf("  counted by etcd (/metrics): unavailable\n");
  } else {
    std::printf("  counted by etcd (gRPC messages received): %.2f (%s )\n", etcd_total / nodes / rest_min,
                by_method.c_str());
  }
  std::printf("  records delivered by the watch during the rest: %llu\n",
              static_cast<unsigned long long>(w1 - w0));
  std::printf("puts by the publishers over the run: %llu\n", static_cast<unsigned long long>(puts));

  const bool all = change_ms.size() == made.size() && burst_ms.size() == static_cast<std::size_t>(nodes * bursts);
  if (!all) std::fprintf(stderr, "fleet_bench: some changes never reached etcd within 10 s\n");
  return all ? 0 : 1;
}
