// The drain budget's pure parts (the config, the limit, who counts, the
// holder's codec) and the publisher's slot against a small in-memory etcd
// that keeps revisions and answers the gateway's calls the way etcd does
// (a range compare in a transaction included), so a lost race is tested
// without a real etcd.
#include "rsagent/config/config.hpp"
#include "rsagent/daemon/control_codec.hpp"
#include "rsagent/daemon/fleet_link.hpp"
#include "rsagent/fleet/budget.hpp"
#include "rsagent/fleet/etcd.hpp"
#include "rsagent/fleet/publisher.hpp"
#include "rsagent/verdict/board.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <thread>

using namespace rsagent;
using namespace rsagent::fleet;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// etcd's key space in memory: revisions, leases, the calls the client makes.
struct FakeStore {
  struct Kv {
    std::string value;
    std::int64_t lease = 0;
    std::int64_t mod = 0;
  };
  std::mutex mutex;
  std::map<std::string, Kv> kvs;
  std::int64_t revision = 1;
  std::int64_t next_lease = 100;
  std::map<std::int64_t, bool> leases;  // live leases
  std::vector<std::string> revoked_keys;  // keys that went with a revoked lease
  bool down = false;
  bool lose_txn_answer = false;  // a transaction commits, then its answer is lost
  std::function<void()> after_range;  // runs (unlocked) after each range: another node acting

  void put_locked(const std::string& k, const std::string& v, std::int64_t lease) {
    kvs[k] = {v, lease, ++revision};
  }
  void put(const std::string& k, const std::string& v) {
    std::lock_guard lock(mutex);
    put_locked(k, v, 0);
  }
  bool has(const std::string& k) {
    std::lock_guard lock(mutex);
    return kvs.count(k) != 0;
  }
  std::int64_t lease_of(const std::string& k) {
    std::lock_guard lock(mutex);
    return kvs.count(k) ? kvs[k].lease : -1;
  }
  // The lease ends (TTL ran out): its keys go.
  void expire(std::int64_t lease) {
    std::lock_guard lock(mutex);
    leases.erase(lease);
    for (auto it = kvs.begin(); it != kvs.end();) it = it->second.lease == lease ? kvs.erase(it) : std::next(it);
  }
};

std::string unb64(const json& j, const char* k) {
  return j.contains(k) ? *base64_decode(j[k].get<std::string>()) : std::string();
}

class StoreTransport : public Transport {
 public:
  explicit StoreTransport(FakeStore& s) : s_(s) {}
  Result<HttpReply> post(const std::string& path, const std::string& body, std::chrono::milliseconds) override {
    const json req = json::parse(body);
    std::function<void()> hook;
    HttpReply rep{200, ""};
    {
      std::lock_guard lock(s_.mutex);
      if (s_.down) return make_error("http://203.0.113.5:2379: no answer within 500 ms (Connection)");
      const json header{{"revision", std::to_string(s_.revision)}};
      if (path == "/v3/lease/grant") {
        const auto id = s_.next_lease++;
        s_.leases[id] = true;
        rep.body = json{{"ID", std::to_string(id)}, {"TTL", "3"}}.dump();
      } else if (path == "/v3/lease/keepalive") {
        const auto id = std::stoll(req["ID"].get<std::string>());
        rep.body = s_.leases.count(id) ? json{{"result", {{"ID", req["ID"]}, {"TTL", "3"}}}}.dump()
                                       : json{{"result", {{"ID", req["ID"]}}}}.dump();
      } else if (path == "/v3/lease/revoke") {
        const auto id = std::stoll(req["ID"].get<std::string>());
        s_.leases.erase(id);
        for (auto it = s_.kvs.begin(); it != s_.kvs.end();) {
          if (it->second.lease == id) s_.revoked_keys.push_back(it->first);
          it = it->second.lease == id ? s_.kvs.erase(it) : std::next(it);
        }
        rep.body = json{{"header", header}}.dump();
      } else if (path == "/v3/kv/put") {
        const std::int64_t lease = req.contains("lease") ? std::stoll(req["lease"].get<std::string>()) : 0;
        if (lease != 0 && !s_.leases.count(lease)) return HttpReply{404, R"({"error":"requested lease not found"})"};
        s_.put_locked(unb64(req, "key"), unb64(req, "value"), lease);
        rep.body = json{{"header", header}}.dump();
      } else if (path == "/v3/kv/deleterange") {
        if (s_.kvs.erase(unb64(req, "key"))) ++s_.revision;
        rep.body = json{{"header", header}}.dump();
      } else if (path == "/v3/kv/range") {
        const std::string from = unb64(req, "key");
        const std::string to = unb64(req, "range_end");
        json kvs = json::array();
        for (const auto& [k, kv] : s_.kvs)
          if (k >= from && k < to)
            kvs.push_back({{"key", base64_encode(k)},
                           {"value", base64_encode(kv.value)},
                           {"mod_revision", std::to_string(kv.mod)},
                           {"lease", std::to_string(kv.lease)}});
        rep.body = json{{"header", header}, {"kvs", kvs}}.dump();
        hook = s_.after_range;
      } else if (path == "/v3/kv/txn") {
        bool ok = true;
        for (const auto& c : req["compare"]) {
          const std::string from = unb64(c, "key");
          const std::string to = unb64(c, "range_end");
          if (c["target"] == "MOD" && c["result"] == "LESS") {
            const auto below = std::stoll(c["mod_revision"].get<std::string>());
            for (const auto& [k, kv] : s_.kvs)
              if (k >= from && k < to && kv.mod >= below) ok = false;
          } else if (c["target"] == "CREATE") {
            ok = ok && !s_.kvs.count(from);
          }
        }
        if (ok) {
          for (const auto& op : req["success"]) {
            const json& p = op["request_put"];
            const std::int64_t lease = p.contains("lease") ? std::stoll(p["lease"].get<std::string>()) : 0;
            s_.put_locked(unb64(p, "key"), unb64(p, "value"), lease);
          }
        }
        if (s_.lose_txn_answer)
          return make_error("http://203.0.113.5:2379: no answer within 500 ms (Read)");
        // The gateway leaves out "succeeded" when it is false.
        rep.body = ok ? json{{"header", header}, {"succeeded", true}}.dump() : json{{"header", header}}.dump();
      } else {
        return HttpReply{404, "{}"};
      }
    }
    if (hook) hook();
    return rep;
  }
  [[nodiscard]] std::string where() const override { return "http://203.0.113.5:2379"; }

 private:
  FakeStore& s_;
};

config::Fleet budget_fleet(const std::string& name, int count) {
  config::Fleet f;
  f.endpoints = {"http://203.0.113.5:2379"};
  f.name = name;
  f.ttl = 3s;
  f.drain_budget = count;
  return f;
}

NodeRecord record(const std::string& name, const std::string& verdict, std::vector<std::string> vips) {
  NodeRecord r;
  r.name = name;
  r.verdict = verdict;
  r.vips = std::move(vips);
  return r;
}

Holder holder(const std::string& name, const std::string& state = "drain") {
  return Holder{name, state, "upgrade", 1'700'000'000, {"198.51.100.100"}};
}

// A running publisher for node `name` on the store, its record shared VIP.
std::unique_ptr<Publisher> publisher(FakeStore& s, const std::string& name, int count,
                                     const std::string& verdict = "ready") {
  auto p = std::make_unique<Publisher>(budget_fleet(name, count), std::make_unique<StoreTransport>(s),
                                       [name, verdict] { return record(name, verdict, {"198.51.100.100"}); });
  p->start();
  REQUIRE(([&] {
    for (int i = 0; i < 300 && !s.has("/rsagent/nodes/" + name); ++i) std::this_thread::sleep_for(10ms);
    return s.has("/rsagent/nodes/" + name);
  }()));
  return p;
}

}  // namespace

TEST_CASE("drain_budget is a count or a percentage, checked with FILE:LINE:COL, and needs etcd") {
  using config::parse_sources;
  using config::Source;
  const std::string etcd = R"("etcd": {"endpoints": ["http://203.0.113.5:2379"]})";
  auto count = parse_sources({Source{"rsagent.json", "{\"fleet\": {" + etcd + ", \"drain_budget\": 2}}"}});
  REQUIRE(count.config);
  CHECK(count.config->fleet.drain_budget == 2);
  CHECK(count.config->fleet.budgeted());
  auto pct = parse_sources({Source{"rsagent.json", "{\"fleet\": {" + etcd + ", \"drain_budget\": \"25%\"}}"}});
  REQUIRE(pct.config);
  CHECK(pct.config->fleet.drain_budget_percent == 25);
  CHECK(pct.config->fleet.budgeted());
  auto none = parse_sources({Source{"rsagent.json", "{\"fleet\": {" + etcd + "}}"}});
  REQUIRE(none.config);
  CHECK_FALSE(none.config->fleet.budgeted());
  // check-config --print reads back as the same budget.
  for (const auto* c : {&count, &pct}) {
    auto again = parse_sources({Source{"printed.json", config::render(*c->config)}});
    REQUIRE(again.config);
    CHECK(again.config->fleet == c->config->fleet);
  }
  // A conf.d file may set the budget for the endpoints of the main file.
  auto merged = parse_sources({Source{"rsagent.json", "{\"fleet\": {" + etcd + "}}"},
                               Source{"conf.d/budget.json", R"({"fleet": {"drain_budget": "50%"}})"}});
  REQUIRE(merged.config);
  CHECK(merged.config->fleet.drain_budget_percent == 50);

  for (const std::string bad : {"0", "\"0%\"", "\"101%\"", "\"25\"", "\"%\"", "\"2.5%\"", "1.5", "true", "-1"}) {
    CAPTURE(bad);
    auto r = parse_sources({Source{"rsagent.json", "{\"fleet\": {" + etcd + ",\n \"drain_budget\": " + bad + "}}"}});
    REQUIRE_FALSE(r.config);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str().rfind("rsagent.json:2:", 0) == 0);
    CHECK(r.errors[0].str().find("fleet.drain_budget") != std::string::npos);
  }
  auto alone = parse_sources({Source{"rsagent.json", "{\"fleet\": {\"drain_budget\": 1}}"}});
  REQUIRE_FALSE(alone.config);
  REQUIRE(alone.errors.size() == 1);
  CHECK(alone.errors[0].str().find("needs fleet.etcd.endpoints") != std::string::npos);
}

TEST_CASE("a percentage budget is rounded down but allows at least one node") {
  config::Fleet f;
  f.drain_budget_percent = 25;
  CHECK(budget_limit(f, 10) == 2);
  CHECK(budget_limit(f, 3) == 1);
  CHECK(budget_limit(f, 1) == 1);
  f.drain_budget_percent = 50;
  CHECK(budget_limit(f, 5) == 2);
  f.drain_budget_percent = 100;
  CHECK(budget_limit(f, 7) == 7);
  f.drain_budget_percent = 0;
  f.drain_budget = 3;
  CHECK(budget_limit(f, 100) == 3);
}

TEST_CASE("the budget counts the holders and the nodes down on their own that share a VIP") {
  config::Fleet f;
  f.drain_budget = 2;
  const std::vector<std::string> mine{"198.51.100.100", "198.51.100.10"};
  std::vector<Holder> holders{holder("a"), Holder{"x", "maint", "", 0, {"198.51.100.200"}}};
  std::vector<NodeRecord> records{record("a", "drain", {"198.51.100.100"}), record("b", "down", {"198.51.100.100"}),
                                  record("c", "ready", {"198.51.100.100"}), record("x", "maint", {"198.51.100.200"}),
                                  record("y", "down", {"198.51.100.200"})};
  auto v = budget_view(f, "self", mine, holders, records);
  // a holds a slot, b is down: two out of the nodes sharing a VIP (x, y share none).
  CHECK(v.nodes == 4);
  REQUIRE(v.holders.size() == 1);
  CHECK(v.holders[0].name == "a");
  REQUIRE(v.down.size() == 1);
  CHECK(v.down[0].name == "b");
  CHECK(v.out() == 2);
  CHECK_FALSE(v.allows());
  CHECK(holders_text(v).find("  a  drain  since 2023-11-14 22:13:20 UTC  upgrade\n") != std::string::npos);
  CHECK(holders_text(v).find("  b  down on its own") != std::string::npos);
  // A down node that holds a slot counts once.
  records[1].verdict = "ready";
  records[0].verdict = "down";
  v = budget_view(f, "self", mine, holders, records);
  CHECK(v.out() == 1);
  CHECK(v.allows());
  // A node that holds a slot already may take it again (drain, then maint).
  holders.push_back(holder("self"));
  holders.push_back(holder("d"));
  v = budget_view(f, "self", mine, holders, records);
  CHECK(v.self_holds);
  CHECK(v.out() == 2);
  CHECK(v.allows());
  // A percentage is of each VIP's nodes, this one included: 50% of the
  // four with .100 is 2 (a is down there); .10 is this node's alone, 1 of 1.
  f.drain_budget = 0;
  f.drain_budget_percent = 50;
  v = budget_view(f, "self", mine, {}, records);
  CHECK(v.vip == "198.51.100.100");
  CHECK(v.nodes == 4);
  CHECK(v.limit == 2);
  CHECK(v.out() == 1);
  v = budget_view(f, "self", {"198.51.100.10"}, {}, records);
  CHECK(v.nodes == 1);
  CHECK(v.limit == 1);
}

TEST_CASE("a percentage budget is per VIP: a VIP on two nodes keeps one server though a larger VIP has room") {
  config::Fleet f;
  f.drain_budget_percent = 50;
  const std::string x = "198.51.100.100";
  const std::string y = "198.51.100.101";
  std::vector<NodeRecord> records;
  for (int i = 1; i <= 10; ++i) {
    const std::string name = "web" + std::to_string(i);
    records.push_back(record(name, "ready", i <= 2 ? std::vector<std::string>{x, y} : std::vector<std::string>{x}));
  }
  // web2 drained and holds a slot naming both of its VIPs.
  records[1].verdict = "drain";
  const std::vector<Holder> holders{Holder{"web2", "drain", "upgrade", 1'700'000'000, {x, y}}};
  auto v = budget_view(f, "web1", {x, y}, holders, records);
  // X: 1 of 10 out, 5 allowed; Y: 1 of 2 out, 1 allowed. Y decides.
  CHECK_FALSE(v.allows());
  CHECK(v.vip == y);
  CHECK(v.nodes == 2);
  CHECK(v.limit == 1);
  CHECK(v.out() == 1);
  // web3 has only X: it may go.
  v = budget_view(f, "web3", {x}, holders, records);
  CHECK(v.allows());
  CHECK(v.vip == x);
  CHECK(v.nodes == 10);
  CHECK(v.limit == 5);
  // web2 back: web1 may go, Y's one slot free.
  v = budget_view(f, "web1", {x, y}, {}, records);
  CHECK_FALSE(v.allows());  // web2's record still says drain: out without a slot
  records[1].verdict = "ready";
  v = budget_view(f, "web1", {x, y}, {}, records);
  CHECK(v.allows());
}

TEST_CASE("a node out without a slot counts: maintenance by its file, drained with no budget, down") {
  config::Fleet f;
  f.drain_budget = 1;
  const std::vector<std::string> mine{"198.51.100.100"};
  for (const std::string verdict : {"maint", "drain", "down"}) {
    const std::vector<NodeRecord> records{record("a", verdict, mine), record("b", "ready", mine)};
    const auto v = budget_view(f, "self", mine, {}, records);
    CAPTURE(verdict);
    REQUIRE(v.down.size() == 1);
    CHECK(v.down[0].name == "a");
    CHECK_FALSE(v.allows());
    CHECK(holders_text(v).find("  a  " + verdict + " on its own") != std::string::npos);
  }
  const std::vector<NodeRecord> ready{record("a", "ready", mine)};
  CHECK(budget_view(f, "self", mine, {}, ready).allows());
}

TEST_CASE("a budget slot survives its codec, and a stranger's value is refused") {
  const auto h = holder("web-3", "maint");
  auto back = decode_holder(encode_holder(h));
  REQUIRE(back);
  CHECK(*back == h);
  CHECK_FALSE(decode_holder("[]"));
  CHECK_FALSE(decode_holder(R"({"name": "a"})"));
  CHECK_FALSE(decode_holder(R"({"name": "a", "state": "gone"})"));
}

TEST_CASE("the publisher takes a free slot under its lease, refuses a full budget with the holders, and releases") {
  FakeStore s;
  auto a = publisher(s, "a", 1);
  auto b = publisher(s, "b", 1);
  const auto ta = a->take_slot(holder("a"), 5s);
  CHECK(ta.kind == SlotAnswer::Kind::kTaken);
  REQUIRE(s.has("/rsagent/budget/a"));
  CHECK(s.lease_of("/rsagent/budget/a") == s.lease_of("/rsagent/nodes/a"));
  const auto tb = b->take_slot(holder("b"), 5s);
  CHECK(tb.kind == SlotAnswer::Kind::kFull);
  REQUIRE(tb.view.holders.size() == 1);
  CHECK(tb.view.holders[0].name == "a");
  CHECK_FALSE(s.has("/rsagent/budget/b"));
  // a takes its own slot again (maint after drain) without asking for a second.
  CHECK(a->take_slot(holder("a", "maint"), 5s).kind == SlotAnswer::Kind::kTaken);
  a->release_slot();
  CHECK(([&] {
    for (int i = 0; i < 300 && s.has("/rsagent/budget/a"); ++i) std::this_thread::sleep_for(10ms);
    return !s.has("/rsagent/budget/a");
  }()));
  CHECK(b->take_slot(holder("b"), 5s).kind == SlotAnswer::Kind::kTaken);
  // A node down on its own counts against the budget.
  b->release_slot();
  auto d = publisher(s, "d", 1, "down");
  auto c = publisher(s, "c", 1);
  const auto tc = c->take_slot(holder("c"), 5s);
  CHECK(tc.kind == SlotAnswer::Kind::kFull);
  REQUIRE(tc.view.down.size() == 1);
  CHECK(tc.view.down[0].name == "d");
}

TEST_CASE("a slot taken by another node between the read and the transaction makes the take read again") {
  FakeStore s;
  auto a = publisher(s, "a", 1);
  // Right after a's read, another node's slot appears (it won the race).
  bool once = true;
  s.after_range = [&] {
    if (!once) return;
    once = false;
    s.put("/rsagent/budget/z", encode_holder(holder("z")));
  };
  const auto t = a->take_slot(holder("a"), 5s);
  CHECK(t.kind == SlotAnswer::Kind::kFull);
  REQUIRE(t.view.holders.size() == 1);
  CHECK(t.view.holders[0].name == "z");
  CHECK_FALSE(s.has("/rsagent/budget/a"));
}

TEST_CASE("a take with etcd unreachable says so, and a held slot is written once etcd answers") {
  FakeStore s;
  auto a = publisher(s, "a", 1);
  {
    std::lock_guard lock(s.mutex);
    s.down = true;
  }
  const auto t = a->take_slot(holder("a"), 5s);
  CHECK(t.kind == SlotAnswer::Kind::kUnreachable);
  CHECK(t.error.find("203.0.113.5") != std::string::npos);
  // --force: held without asking; put when etcd is back.
  a->hold_slot(holder("a"));
  {
    std::lock_guard lock(s.mutex);
    s.down = false;
  }
  CHECK(([&] {
    for (int i = 0; i < 1000 && !s.has("/rsagent/budget/a"); ++i) std::this_thread::sleep_for(10ms);
    return s.has("/rsagent/budget/a");
  }()));
}

TEST_CASE("a held slot is put again on the new lease when etcd forgot the old one") {
  FakeStore s;
  auto a = publisher(s, "a", 1);
  REQUIRE(a->take_slot(holder("a"), 5s).kind == SlotAnswer::Kind::kTaken);
  const auto old = s.lease_of("/rsagent/budget/a");
  s.expire(old);
  REQUIRE_FALSE(s.has("/rsagent/budget/a"));
  // The keep-alive (every TTL/3) finds the lease gone: a new one, the record and the slot again.
  CHECK(([&] {
    for (int i = 0; i < 500 && !s.has("/rsagent/budget/a"); ++i) std::this_thread::sleep_for(10ms);
    return s.has("/rsagent/budget/a");
  }()));
  CHECK(s.lease_of("/rsagent/budget/a") != old);
  CHECK(s.lease_of("/rsagent/budget/a") == s.lease_of("/rsagent/nodes/a"));
  // A clean stop revokes the lease: the slot leaves at once.
  a->stop();
  CHECK_FALSE(s.has("/rsagent/budget/a"));
}

TEST_CASE("a budgeted drain or maint is answered before the control client stops waiting, whatever the endpoints") {
  for (const auto ttl : {3s, 10s, 60s}) {
    for (std::size_t n = 1; n <= 12; ++n) {
      auto f = budget_fleet("a", 1);
      f.ttl = ttl;
      f.endpoints.assign(n, "http://203.0.113.5:2379");
      const auto wait = daemon::take_wait(f);
      // A call under way tries every endpoint; the take then reads and transacts.
      CHECK(wait >= std::min<std::chrono::milliseconds>(long(n + 2) * fleet_deadline(ttl), 20s));
      // The daemon's answer (the wait, the state file) comes well before the client gives up.
      CHECK(wait.count() + 5000 <= daemon::answer_timeout_ms("drain"));
      CHECK(wait.count() + 5000 <= daemon::answer_timeout_ms("maint"));
    }
  }
  CHECK(daemon::answer_timeout_ms("status") == daemon::kControlAnswerMs);
  CHECK(daemon::answer_timeout_ms("reload") == daemon::kReloadAnswerMs);
}

TEST_CASE("a take whose transaction committed but whose answer was lost leaves no slot behind") {
  FakeStore s;
  auto a = publisher(s, "a", 1);
  {
    std::lock_guard lock(s.mutex);
    s.lose_txn_answer = true;
  }
  const auto t = a->take_slot(holder("a"), 5s);
  CHECK(t.kind == SlotAnswer::Kind::kUnreachable);
  // The slot is in etcd under the live lease though the drain was refused.
  CHECK(s.has("/rsagent/budget/a"));
  {
    std::lock_guard lock(s.mutex);
    s.lose_txn_answer = false;
  }
  // The next round deletes it: this node holds no slot.
  for (int i = 0; i < 1000 && s.has("/rsagent/budget/a"); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(s.has("/rsagent/budget/a"));
  CHECK(s.has("/rsagent/nodes/a"));
}

namespace {
FakeStore* link_store = nullptr;
std::unique_ptr<Transport> link_transport(const config::Fleet&) { return std::make_unique<StoreTransport>(*link_store); }
}  // namespace

TEST_CASE("a reload that changes the fleet section but not the name or prefix keeps a drained node's slot") {
  FakeStore s;
  link_store = &s;
  verdict::Board board({}, "/nonexistent/rsagent-unit/maintenance");
  board.set_operator({verdict::Admin::kDrain, "upgrade", 1'700'000'000});
  daemon::FleetLink link(link_transport, board);
  auto f = budget_fleet("a", 1);
  link.apply(f);
  for (int i = 0; i < 500 && !s.has("/rsagent/budget/a"); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(s.has("/rsagent/budget/a"));
  const auto first_lease = s.lease_of("/rsagent/budget/a");
  f.drain_budget = 2;  // a reload that changes the budget
  link.apply(f);
  for (int i = 0; i < 500 && s.lease_of("/rsagent/budget/a") == first_lease; ++i) std::this_thread::sleep_for(10ms);
  CHECK(s.has("/rsagent/budget/a"));
  CHECK(s.lease_of("/rsagent/budget/a") != first_lease);  // put again on the new publisher's lease
  {
    std::lock_guard lock(s.mutex);
    CHECK(s.revoked_keys.empty());  // never freed in between
  }
  link.stop();
  link_store = nullptr;
}

TEST_CASE("a drain or maint on a node out already keeps its slot with etcd unreachable and changes the slot's state") {
  FakeStore s;
  link_store = &s;
  verdict::Board board({}, "/nonexistent/rsagent-unit/maintenance");
  board.set_operator({verdict::Admin::kDrain, "upgrade", 1'700'000'000});
  daemon::FleetLink link(link_transport, board);
  link.apply(budget_fleet("a", 1));
  for (int i = 0; i < 500 && !s.has("/rsagent/budget/a"); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(s.has("/rsagent/budget/a"));
  {
    std::lock_guard lock(s.mutex);
    s.down = true;
  }
  std::string note;
  const verdict::OperatorState maint{verdict::Admin::kMaint, "disk", 1'700'000'100};
  const auto refused = link.admit({"maint", "disk", false, false}, maint, note);
  CHECK_FALSE(refused.has_value());
  CHECK(note.find("keeps its slot") != std::string::npos);
  {
    std::lock_guard lock(s.mutex);
    s.down = false;
  }
  // Once etcd answers, the slot says maint.
  auto state = [&] {
    std::lock_guard lock(s.mutex);
    auto h = decode_holder(s.kvs["/rsagent/budget/a"].value);
    return h ? h->state : std::string();
  };
  for (int i = 0; i < 1000 && state() != "maint"; ++i) std::this_thread::sleep_for(10ms);
  CHECK(state() == "maint");
  link.stop();
  link_store = nullptr;
}

TEST_CASE("a drain that lost the race for a slot every time says so, not that the budget is full") {
  FakeStore s;
  link_store = &s;
  verdict::Board board({}, "/nonexistent/rsagent-unit/maintenance");
  daemon::FleetLink link(link_transport, board);
  link.apply(budget_fleet("a", 1));
  for (int i = 0; i < 500 && !s.has("/rsagent/nodes/a"); ++i) std::this_thread::sleep_for(10ms);
  REQUIRE(s.has("/rsagent/nodes/a"));
  // After each read another node writes under budget/ (a VIP not shared):
  // every transaction fails its compare.
  int n = 0;
  s.after_range = [&] {
    s.put("/rsagent/budget/zz" + std::to_string(n++), encode_holder(Holder{"zz", "drain", "", 0, {"203.0.113.99"}}));
  };
  std::string note;
  const auto refused = link.admit({"drain", "", false, false}, {verdict::Admin::kDrain, "", 1'700'000'000}, note);
  REQUIRE(refused.has_value());
  CHECK_MESSAGE(refused->message.find("lost the race for a slot to other nodes 8 times in a row") != std::string::npos, refused->message);
  CHECK(n == kTakeRounds);
  s.after_range = nullptr;
  link.stop();
  link_store = nullptr;
}
