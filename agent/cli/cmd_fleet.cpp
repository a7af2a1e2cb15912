// `rsagent fleet`: every node's record from etcd. The CLI binary links no
// HTTP client (every start, stop and drain starts without cpp-httplib and
// OpenSSL), so `rsagent fleet` execs `rsagentd fleet`, which has the same
// etcd client the daemon publishes with: one client to keep right, TLS
// client certificates included, and the cost of loading it paid only by
// this command. fleet_view() is that command's body, in rsagentd. With a
// drain budget it also shows who holds the budget's slots.
// Threads: one. Errors: printed with what to do; exit 1 when etcd cannot
// be read, 6 for a bad configuration.
#include "rsagent/cli/commands.hpp"
#include "rsagent/fleet/budget.hpp"
#include "rsagent/fleet/publisher.hpp"
#include "rsagent/fleet/record.hpp"
#include "rsagent/util/text.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <ctime>
#include <iostream>
#include <thread>
#include <vector>

namespace rsagent::cli {

int cmd_fleet(const CommandOptions& opts) {
  const std::string bin = daemon_binary();
  std::vector<std::string> args{bin, "--config", opts.config, "--log-level", opts.log_level, "fleet"};
  if (opts.json) args.emplace_back("--json");
  if (opts.watch) args.emplace_back("--watch");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(bin.c_str(), argv.data());
  std::cerr << "rsagent: cannot run " << bin << ": " << std::strerror(errno)
            << "; reinstall rsagent (rsagent and rsagentd go together)\n";
  return exit_code::kFailure;
}

namespace {

struct Read {
  std::int64_t revision = 0;
  std::vector<fleet::NodeRecord> nodes;
  std::vector<std::string> refused;  // "KEY: why" for records that do not decode
  std::vector<fleet::Holder> holders;  // the drain budget's slots
};

// One read of the whole prefix (records and slots at one revision).
Result<Read> read_fleet(fleet::EtcdClient& etcd, const std::string& prefix) {
  auto r = etcd.range_prefix(prefix);
  if (!r) return r.error();
  Read out;
  out.revision = r->revision;
  const std::string nodes_at = fleet::nodes_prefix(prefix);
  const std::string budget_at = fleet::budget_prefix(prefix);
  for (const auto& kv : r->kvs) {
    if (kv.key.rfind(budget_at, 0) == 0) {
      auto h = fleet::decode_holder(kv.value);
      if (h) {
        out.holders.push_back(std::move(*h));
      } else {
        out.refused.push_back(text::one_line(kv.key, 200) + ": " + h.error().str());
      }
      continue;
    }
    if (kv.key.rfind(nodes_at, 0) != 0) continue;
    auto rec = fleet::decode(kv.value);
    if (rec) {
      out.nodes.push_back(std::move(*rec));
    } else {
      out.refused.push_back(text::one_line(kv.key, 200) + ": " + rec.error().str());
    }
  }
  fleet::sort_by_attention(out.nodes);
  return out;
}


// "budget: 2 per VIP; 1 slot held: web-3 (drain since ...: upgrade)".
std::string budget_line(const config::Fleet& f, const Read& r) {
  std::string line = "budget: " + (f.budgeted() ? fleet::budget_text(f) : std::string("none configured here")) + "; ";
  line += r.holders.empty() ? std::string("no slot held")
                            : std::to_string(r.holders.size()) + (r.holders.size() == 1 ? " slot" : " slots") + " held: ";
  for (std::size_t i = 0; i < r.holders.size(); ++i) {
    const auto& h = r.holders[i];
    line += (i ? ", " : "") + h.name + " (" + h.state + " since " + text::utc_time(h.since) +
            (h.reason.empty() ? "" : ": " + h.reason) + ")";
  }
  std::string down;
  for (const auto& n : r.nodes) {
    const bool holds = std::any_of(r.holders.begin(), r.holders.end(), [&](const auto& h) { return h.name == n.name; });
    if (n.verdict == "down" && !holds) down += (down.empty() ? "" : ", ") + n.name;
  }
  if (!down.empty()) line += "; down on their own (counted too): " + down;
  return line + "\n";
}

void print(const config::Fleet& f, const Read& r, bool json_out) {
  const bool budget = f.budgeted() || !r.holders.empty();
  if (json_out) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : r.nodes) nodes.push_back(nlohmann::json::parse(fleet::encode(n)));
    nlohmann::json out{{"revision", r.revision}, {"nodes", nodes}, {"refused", r.refused}};
    if (budget) {
      nlohmann::json holders = nlohmann::json::array();
      for (const auto& h : r.holders) holders.push_back(nlohmann::json::parse(fleet::encode_holder(h)));
      nlohmann::json limit = nullptr;
      if (f.drain_budget > 0) limit = f.drain_budget;
      if (f.drain_budget_percent > 0) limit = std::to_string(f.drain_budget_percent) + "%";
      out["budget"] = {{"limit", limit}, {"holders", holders}};
    }
    std::cout << out.dump() << std::endl;
    return;
  }
  std::cout << fleet::render_table(r.nodes, static_cast<std::int64_t>(std::time(nullptr)));
  if (budget) std::cout << budget_line(f, r);
  for (const auto& why : r.refused) std::cout << "(not a node record: " << why << ")\n";
  std::cout.flush();
}

}  // namespace

int fleet_view(const CommandOptions& opts, fleet::TransportFactory transport) {
  const auto loaded = config::load(opts.config);
  if (!loaded.config) return print_config_errors(loaded);
  const config::Fleet& f = loaded.config->fleet;
  if (!f.enabled()) {
    std::cerr << "rsagent: the fleet is off: " << opts.config
              << " has no fleet.etcd.endpoints (add \"fleet\": {\"etcd\": {\"endpoints\": [...]}})\n";
    return exit_code::kFailure;
  }
  auto t = transport(f);
  fleet::EtcdClient etcd(*t, fleet::fleet_deadline(f.ttl));
  if (!opts.watch) {
    auto r = read_fleet(etcd, f.prefix);
    if (!r) {
      std::cerr << "rsagent: etcd is unreachable: " << r.error().str() << "\n";
      return exit_code::kFailure;
    }
    print(f, *r, opts.json);
    return exit_code::kOk;
  }
  // --watch: a range read once a second, printed again when etcd's
  // revision moved (a put, a lease that ended). The gateway's /v3/watch is
  // a stream in a POST answer, which cpp-httplib 0.11's client cannot
  // hand over piece by piece through its public API.
  std::int64_t shown = -1;
  bool down = false;
  for (;;) {
    auto r = read_fleet(etcd, f.prefix);
    if (!r) {
      if (!down) std::cerr << "rsagent: etcd is unreachable: " << r.error().str() << " (still trying)\n";
      down = true;
    } else {
      if (down) std::cerr << "rsagent: etcd is reachable again\n";
      down = false;
      if (r->revision != shown) {
        if (!opts.json && shown >= 0) std::cout << "\n";
        print(f, *r, opts.json);
        shown = r->revision;
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace rsagent::cli
