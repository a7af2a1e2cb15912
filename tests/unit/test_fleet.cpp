// The fleet's pure parts: the node record's codec and table, the etcd
// client's requests and its reading of the gateway's answers (over a fake
// transport), the publisher's lease life against a fake etcd, and the
// config section.
#include "rsagent/config/config.hpp"
#include "rsagent/fleet/etcd.hpp"
#include "rsagent/fleet/publisher.hpp"
#include "rsagent/fleet/record.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <mutex>
#include <thread>

using namespace rsagent;
using namespace rsagent::fleet;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Answers each POST from a script (path -> reply), recording the requests.
class FakeTransport : public Transport {
 public:
  struct Call {
    std::string path;
    json body;
  };
  Result<HttpReply> post(const std::string& path, const std::string& body, std::chrono::milliseconds) override {
    std::lock_guard lock(mutex);
    calls.push_back({path, json::parse(body)});
    if (down) return make_error("http://203.0.113.5:2379: no answer within 500 ms (Connection)");
    if (auto it = replies.find(path); it != replies.end() && !it->second.empty()) {
      auto r = it->second.front();
      if (it->second.size() > 1) it->second.pop_front();
      return r;
    }
    return HttpReply{200, R"({"header":{"revision":"7"}})"};
  }
  [[nodiscard]] std::string where() const override { return "http://203.0.113.5:2379"; }
  std::size_t count(const std::string& path) {
    std::lock_guard lock(mutex);
    std::size_t n = 0;
    for (const auto& c : calls) n += c.path == path;
    return n;
  }
  std::mutex mutex;
  std::vector<Call> calls;
  std::map<std::string, std::deque<HttpReply>> replies;
  bool down = false;
};

NodeRecord sample() {
  NodeRecord r;
  r.name = "web-17";
  r.version = "0.1.0";
  r.addresses = {"203.0.113.17"};
  r.vips = {"198.51.100.100"};
  r.verdict = "drain";
  r.reason = "operator drained this node: upgrade";
  r.state = "drain";
  r.state_reason = "upgrade";
  r.checks_up = 1;
  r.checks_total = 2;
  r.checks_down = {"db"};
  r.directors = {"203.0.113.1"};
  r.last_change = 1'700'000'000;
  return r;
}

}  // namespace

TEST_CASE("a node record survives its codec unchanged") {
  const auto r = sample();
  auto back = decode(encode(r));
  REQUIRE(back);
  CHECK(*back == r);
}

TEST_CASE("a record that is not ours is refused with the reason") {
  CHECK_FALSE(decode("not json"));
  CHECK_FALSE(decode("[]"));
  CHECK(decode(R"({"verdict": "ready"})").error().str().find("name") != std::string::npos);
  CHECK(decode(R"({"name": "a", "verdict": "great"})").error().str().find("great") != std::string::npos);
  CHECK_FALSE(decode(R"({"name": "a", "verdict": "ready", "vips": "198.51.100.1"})"));
  // Text from another host is cleaned where it enters: no terminal escapes.
  auto r = decode("{\"name\": \"a\\u001b[2J\", \"verdict\": \"ready\"}");
  REQUIRE(r);
  CHECK(r->name.find('\x1b') == std::string::npos);
}

TEST_CASE("the fleet table puts what needs attention first") {
  auto a = sample();
  a.name = "b-ready";
  a.verdict = "ready";
  auto b = sample();
  b.name = "z-down";
  b.verdict = "down";
  auto c = sample();
  c.name = "a-ready";
  c.verdict = "ready";
  std::vector<NodeRecord> v{a, b, c};
  sort_by_attention(v);
  CHECK(v[0].name == "z-down");
  CHECK(v[1].name == "a-ready");
  CHECK(v[2].name == "b-ready");
  const auto t = render_table(v, a.last_change + 90);
  CHECK(t.rfind("NAME", 0) == 0);
  CHECK(t.find("z-down") < t.find("a-ready"));
  CHECK(t.find("90s") != std::string::npos);
}

TEST_CASE("base64 and the prefix's range end are what etcd expects") {
  CHECK(base64_encode("/rsagent/nodes/a") == "L3JzYWdlbnQvbm9kZXMvYQ==");
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", std::string("\0\xff\x10", 3)})
    CHECK(*base64_decode(base64_encode(s)) == s);
  CHECK_FALSE(base64_decode("abc"));
  CHECK_FALSE(base64_decode("ab!="));
  CHECK(prefix_end("/rsagent/nodes/") == "/rsagent/nodes0");
  CHECK(prefix_end(std::string("a\xff", 2)) == "b");
}

TEST_CASE("the etcd client sends the gateway's requests and reads its answers") {
  FakeTransport t;
  EtcdClient etcd(t, 500ms);
  t.replies["/v3/lease/grant"] = {{200, R"({"header":{},"ID":"7587899370433822725","TTL":"10"})"}};
  auto id = etcd.grant(10s);
  REQUIRE(id);
  CHECK(*id == 7587899370433822725LL);
  CHECK(t.calls.back().body == json{{"TTL", "10"}});

  REQUIRE(etcd.put("/rsagent/nodes/a", "x", *id));
  CHECK(t.calls.back().body == json{{"key", "L3JzYWdlbnQvbm9kZXMvYQ=="}, {"value", "eA=="}, {"lease", "7587899370433822725"}});

  // The keep-alive answer of a lease etcd knows, and of one it forgot.
  t.replies["/v3/lease/keepalive"] = {{200, R"({"result":{"header":{},"ID":"1","TTL":"10"}})"},
                                      {200, R"({"result":{"header":{},"ID":"1"}})"}};
  CHECK(*etcd.keepalive(1) == 10);
  CHECK(*etcd.keepalive(1) == 0);

  t.replies["/v3/kv/range"] = {
      {200, R"({"header":{"revision":"42"},"kvs":[{"key":"L3JzYWdlbnQvbm9kZXMvYQ==","value":"eA==","lease":"5","mod_revision":"3"}],"count":"1"})"}};
  auto r = etcd.range_prefix("/rsagent/nodes/");
  REQUIRE(r);
  CHECK(r->revision == 42);
  REQUIRE(r->kvs.size() == 1);
  CHECK(r->kvs[0].key == "/rsagent/nodes/a");
  CHECK(r->kvs[0].value == "x");
  CHECK(r->kvs[0].lease == 5);
  CHECK(t.calls.back().body["range_end"] == base64_encode("/rsagent/nodes0"));

  // An empty range: the gateway leaves "kvs" out.
  t.replies["/v3/kv/range"] = {{200, R"({"header":{"revision":"43"}})"}};
  CHECK(etcd.range_prefix("/x/")->kvs.empty());

}

TEST_CASE("the etcd client names the endpoint and etcd's own message when a call fails") {
  FakeTransport t;
  EtcdClient etcd(t, 500ms);
  t.replies["/v3/kv/put"] = {{404, R"({"error":"etcdserver: requested lease not found","code":5,"message":"etcdserver: requested lease not found"})"
                                    "Grpc-Trailer-Content-Type: application/grpc"}};
  auto p = etcd.put("k", "v", 3);
  REQUIRE_FALSE(p);
  CHECK(p.error().str().find("requested lease not found") != std::string::npos);
  CHECK(p.error().str().find("203.0.113.5:2379") != std::string::npos);
  t.replies["/v3/lease/grant"] = {{200, "<html>"}};
  CHECK_FALSE(etcd.grant(10s));
  t.down = true;
  auto g = etcd.grant(10s);
  REQUIRE_FALSE(g);
  CHECK(g.error().str().find("/v3/lease/grant") != std::string::npos);
}

TEST_CASE("the publisher puts its record on a lease, again on a change, and on a new lease when etcd forgot it") {
  auto t = std::make_unique<FakeTransport>();
  FakeTransport& fake = *t;
  fake.replies["/v3/lease/grant"] = {{200, R"({"ID":"11","TTL":"3"})"}};
  fake.replies["/v3/lease/keepalive"] = {{200, R"({"result":{"ID":"11"}})"}};  // always forgotten
  std::mutex m;
  std::string verdict = "ready";
  config::Fleet f;
  f.endpoints = {"http://203.0.113.5:2379"};
  f.name = "web-1";
  f.ttl = 3s;
  Publisher p(f, std::move(t), [&] {
    std::lock_guard lock(m);
    NodeRecord r;
    r.name = "web-1";
    r.verdict = verdict;
    return r;
  });
  p.start();
  REQUIRE(([&] {
    for (int i = 0; i < 200 && p.puts() < 1; ++i) std::this_thread::sleep_for(10ms);
    return p.puts() >= 1;
  }()));
  {
    std::lock_guard lock(m);
    verdict = "drain";
  }
  p.notify();
  for (int i = 0; i < 200 && p.puts() < 2; ++i) std::this_thread::sleep_for(10ms);
  CHECK(p.puts() >= 2);
  // The keep-alive (every TTL/3) finds the lease gone: a new grant, the record again.
  for (int i = 0; i < 400 && fake.count("/v3/lease/grant") < 2; ++i) std::this_thread::sleep_for(10ms);
  CHECK(fake.count("/v3/lease/grant") >= 2);
  for (int i = 0; i < 200 && p.puts() < 3; ++i) std::this_thread::sleep_for(10ms);
  CHECK(p.puts() >= 3);
  p.stop();
  std::lock_guard lock(fake.mutex);
  bool put_on_lease = false;
  for (const auto& c : fake.calls)
    if (c.path == "/v3/kv/put") {
      put_on_lease = c.body["lease"] == "11";
      CHECK(*base64_decode(c.body["key"].get<std::string>()) == "/rsagent/nodes/web-1");
    }
  CHECK(put_on_lease);
  // A clean stop revokes the lease.
  CHECK(fake.calls.back().path == "/v3/lease/revoke");
}

TEST_CASE("a put refused because etcd lost the lease makes the publisher grant a new one") {
  auto t = std::make_unique<FakeTransport>();
  FakeTransport& fake = *t;
  fake.replies["/v3/lease/grant"] = {{200, R"({"ID":"21","TTL":"3"})"}, {200, R"({"ID":"22","TTL":"3"})"}};
  fake.replies["/v3/kv/put"] = {{404, R"({"error":"etcdserver: requested lease not found","code":5})"},
                               {200, R"({"header":{}})"}};
  config::Fleet f;
  f.endpoints = {"http://203.0.113.5:2379"};
  f.ttl = 3s;
  Publisher p(f, std::move(t), [] { return NodeRecord{}; });
  p.start();
  for (int i = 0; i < 600 && p.puts() < 1; ++i) std::this_thread::sleep_for(10ms);
  CHECK(p.puts() == 1);
  p.stop();
  std::lock_guard lock(fake.mutex);
  std::vector<std::string> leases;
  for (const auto& c : fake.calls)
    if (c.path == "/v3/kv/put") leases.push_back(c.body["lease"]);
  CHECK(leases == std::vector<std::string>{"21", "22"});
}

TEST_CASE("the publisher keeps trying while etcd is down and publishes once it is back") {
  auto t = std::make_unique<FakeTransport>();
  FakeTransport& fake = *t;
  fake.down = true;
  fake.replies["/v3/lease/grant"] = {{200, R"({"ID":"12","TTL":"3"})"}};
  config::Fleet f;
  f.endpoints = {"http://203.0.113.5:2379"};
  f.ttl = 3s;
  Publisher p(f, std::move(t), [] { return NodeRecord{}; });
  p.start();
  for (int i = 0; i < 200 && fake.count("/v3/lease/grant") < 2; ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(p.reachable());
  CHECK(p.puts() == 0);
  {
    std::lock_guard lock(fake.mutex);
    fake.down = false;
  }
  for (int i = 0; i < 600 && p.puts() < 1; ++i) std::this_thread::sleep_for(10ms);
  CHECK(p.puts() == 1);
  CHECK(p.reachable());
  p.stop();
}

TEST_CASE("the fleet section is off by default and validated with FILE:LINE:COL") {
  using config::parse_sources;
  using config::Source;
  auto off = parse_sources({Source{"rsagent.json", "{}"}});
  REQUIRE(off.config);
  CHECK_FALSE(off.config->fleet.enabled());
  auto on = parse_sources({Source{"rsagent.json", R"({"fleet": {"etcd": {"endpoints": ["http://203.0.113.5:2379"]},
    "name": "web-17", "ttl": "5s"}})"}});
  REQUIRE(on.config);
  CHECK(on.config->fleet.enabled());
  CHECK(on.config->fleet.name == "web-17");
  CHECK(on.config->fleet.prefix == "/rsagent/");
  CHECK(on.config->fleet.ttl == 5s);
  // check-config --print shows it and reads back as the same configuration.
  const auto printed = config::render(*on.config);
  CHECK(printed.find("\"web-17\"") != std::string::npos);
  auto again = parse_sources({Source{"printed.json", printed}});
  REQUIRE(again.config);
  CHECK(again.config->fleet == on.config->fleet);

  auto bad = parse_sources({Source{"rsagent.json", R"({"fleet": {"etcd": {"endpoints": ["ftp://x", 3]},
  "name": "a b", "prefix": "rsagent", "ttl": "1500ms", "budget": 1}})"}});
  REQUIRE_FALSE(bad.config);
  std::vector<std::string> errs;
  for (const auto& d : bad.errors) errs.push_back(d.str());
  CHECK(errs.size() == 6);
  CHECK(errs[0].rfind("rsagent.json:", 0) == 0);
  const auto has = [&](const std::string& s) {
    for (const auto& e : errs)
      if (e.find(s) != std::string::npos) return true;
    return false;
  };
  CHECK(has("ftp://x"));
  CHECK(has("fleet.name"));
  CHECK(has("fleet.prefix"));
  CHECK(has("fleet.ttl"));
  CHECK(has("budget"));
  auto tls = parse_sources({Source{"rsagent.json", R"({"fleet": {"etcd": {"endpoints": ["http://203.0.113.5:2379"], "cert": "/etc/c.pem"}}})"}});
  REQUIRE_FALSE(tls.config);
}
