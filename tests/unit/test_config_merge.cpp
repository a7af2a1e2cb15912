// conf.d drop-ins merge setting by setting, and `check-config --print`
// shows the result with the file each value came from.
#include "rsagent/config/config.hpp"

#include <doctest/doctest.h>

using namespace rsagent::config;

namespace {

LoadResult files(const std::vector<std::pair<std::string, std::string>>& named) {
  std::vector<Source> sources;
  for (const auto& [name, text] : named) sources.push_back(Source{name, text});
  return parse_sources(sources);
}

const Config& ok(const LoadResult& r) {
  REQUIRE_MESSAGE(r.config, (r.errors.empty() ? "" : r.errors[0].str()));
  return *r.config;
}

const char* const kMain = R"({
  "vips": ["198.51.100.1"],
  "arp": {"ignore": 2, "interfaces": ["all", "lo", "eth0"]},
  "health": {
    "listen": ["127.0.0.1:9799"],
    "allow": ["198.51.100.0/24"],
    "maintenance_file": "/run/rsagent-maint",
    "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:80"}]
  },
  "stop": {"drain": "5s"}
})";

}  // namespace

TEST_CASE(
    "a drop-in that sets health.checks keeps the main file's allow, listen and maintenance_file") {
  const auto r = files(
      {{"main.json", kMain},
       {"conf.d/50-db.json",
        R"({"health": {"checks": [{"name": "db", "type": "tcp", "address": "127.0.0.1:5432"}]}})"}});
  const Config& c = ok(r);
  REQUIRE(c.health.listen.size() == 1);
  CHECK(c.health.listen[0].str() == "127.0.0.1:9799");
  REQUIRE(c.health.allow.size() == 1);
  CHECK(c.health.allow[0].str() == "198.51.100.0/24");
  CHECK(c.health.maintenance_file == "/run/rsagent-maint");
  REQUIRE(c.health.checks.size() == 2);  // concatenated, in file order
  CHECK(c.health.checks[0].name == "web");
  CHECK(c.health.checks[1].name == "db");
  CHECK(c.stop.drain == std::chrono::seconds(5));
}

TEST_CASE("a drop-in replaces only the settings it names, key by key inside objects") {
  const auto r = files(
      {{"main.json", kMain},
       {"conf.d/10.json", R"({"arp": {"announce": 2}, "health": {"allow": []}})"},
       {"conf.d/20.json", R"({"arp": {"ignore": 1}, "vips": ["2001:db8::1"], "routes": false})"}});
  const Config& c = ok(r);
  CHECK(c.arp.ignore == 1);                                                  // 20.json
  CHECK(c.arp.announce == 2);                                                // 10.json
  CHECK(c.arp.interfaces == std::vector<std::string>{"all", "lo", "eth0"});  // main
  CHECK(c.health.allow.empty());                                             // 10.json: everyone
  CHECK(c.health.listen[0].str() == "127.0.0.1:9799");                       // main
  CHECK_FALSE(c.routes);
  REQUIRE(c.vips.size() == 2);
  CHECK(c.origins.at("arp.ignore").str() == "conf.d/20.json:1:20");
  CHECK(c.origins.at("arp.announce").str() == "conf.d/10.json:1:22");
  CHECK(c.origins.at("arp.interfaces").file == "main.json");
  CHECK(c.origins.at("health.checks.web").file == "main.json");
  CHECK(c.origins.count("health.agent_check.listen") == 0);  // the default
}

TEST_CASE("a check name declared in two files is refused, naming both") {
  const auto r = files({{"main.json", kMain},
                        {"conf.d/a.json",
                         "{\"health\": {\"checks\": [\n  {\"name\": \"web\", \"type\": \"tcp\", "
                         "\"address\": \"127.0.0.1:81\"}]}}"}});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str() ==
        "conf.d/a.json:2:3: duplicate check name \"web\" (first declared at main.json:8:16); "
        "rename one");
}

TEST_CASE(
    "an agent-check port that collides with a listen port from another file is refused there") {
  const auto r =
      files({{"main.json", kMain},
             {"conf.d/a.json", R"({"health": {"agent_check": {"listen": "127.0.0.1:9799"}}})"}});
  REQUIRE(r.errors.size() == 1);
  CHECK(
      r.errors[0].str().rfind("conf.d/a.json:1:39: agent_check.listen 127.0.0.1:9799 collides with "
                              "health.listen 127.0.0.1:9799 (set at main.json:5:15)",
                              0) == 0);
}

TEST_CASE(
    "check-config --print shows every setting with its file and reads back as the same config") {
  const auto r =
      files({{"main.json", kMain},
             {"conf.d/50-db.json",
              "{\"health\": {\"agent_check\": {\"listen\": \"[::]:9798\"}, \"checks\": [\n"
              "  {\"name\": \"db\", \"type\": \"exec\", \"command\": [\"/bin/check\", "
              "\"\\u00e9\\u0085\"], \"interval\": \"90s\"},\n"
              "  {\"name\": \"api\", \"type\": \"http\", \"url\": \"http://[::1]:8080/ping?x=1\", "
              "\"expect\": [200, 204], \"host\": \"www.example.com\", \"timeout\": \"250ms\"}]},\n"
              " \"vips\": [{\"address\": \"198.51.100.2\", \"label\": \"lo:web\"}]}"}});
  const Config& c = ok(r);
  const std::string out = render(c);
  CAPTURE(out);
  CHECK(out.find("//   main.json\n//   conf.d/50-db.json\n") != std::string::npos);
  CHECK(out.find("    \"198.51.100.1\",  // main.json:2:12\n") != std::string::npos);
  CHECK(out.find("    {\"address\": \"198.51.100.2\", \"label\": \"lo:web\"}  // "
                 "conf.d/50-db.json:4:23\n") != std::string::npos);
  CHECK(out.find("    \"ignore\": 2,  // main.json:3:21\n") != std::string::npos);
  CHECK(out.find("    \"announce\": 2,  // default\n") != std::string::npos);
  CHECK(out.find("  \"routes\": true,  // default\n") != std::string::npos);
  CHECK(out.find("    \"allow\": [\"198.51.100.0/24\"],  // main.json:6:14\n") !=
        std::string::npos);
  CHECK(out.find("\"agent_check\": {\"listen\": \"[::]:9798\"},  // conf.d/50-db.json:1:39\n") !=
        std::string::npos);
  CHECK(out.find("\"interval\": \"90s\"") != std::string::npos);
  CHECK(out.find("\"timeout\": \"250ms\"") != std::string::npos);
  // A C1 control character is escaped, never printed as it is.
  CHECK(out.find("\\u0085") != std::string::npos);
  CHECK(out.find("\xc2\x85") == std::string::npos);
  CHECK(out.find("    \"drain\": \"5s\"  // main.json:10:21\n") != std::string::npos);
  const auto again = files({{"printed.json", out}});
  CHECK(ok(again) == c);
}

TEST_CASE("check-config --print of an empty config says every value is the default") {
  const auto r = files({{"rsagent.json", "{}"}});
  const std::string out = render(ok(r));
  CAPTURE(out);
  CHECK(out.find("\"vips\": [],  // default: none") != std::string::npos);
  CHECK(out.find("\"listen\": [\"0.0.0.0:9799\"],  // default") != std::string::npos);
  CHECK(out.find("\"allow\": [],  // default (empty: every source)") != std::string::npos);
  CHECK(out.find("// \"agent_check\" is off (default)") != std::string::npos);
  CHECK(ok(files({{"printed.json", out}})) == ok(r));
}

TEST_CASE("a tcp_gate port that collides with a listener from another file is refused there") {
  const auto r =
      files({{"main.json", kMain},
             {"conf.d/gate.json", R"({"health": {"tcp_gate": {"listen": ["0.0.0.0:9799"]}}})"}});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].str().rfind("conf.d/gate.json:1:36: tcp_gate.listen 0.0.0.0:9799 collides with "
                                "health.listen 127.0.0.1:9799 (set at main.json:5:15)",
                                0) == 0);
  const auto ok_gate =
      files({{"main.json", kMain},
             {"conf.d/gate.json", R"({"health": {"tcp_gate": {"listen": "[::]:9797"}}})"}});
  const Config& c = ok(ok_gate);
  REQUIRE(c.health.tcp_gate.size() == 1);
  CHECK(c.health.listen[0].str() == "127.0.0.1:9799");  // kept from main.json
  const std::string out = render(c);
  CAPTURE(out);
  CHECK(out.find("\"tcp_gate\": {\"listen\": [\"[::]:9797\"]},  // conf.d/gate.json:1:36") !=
        std::string::npos);
  CHECK(ok(files({{"printed.json", out}})) == c);
}
