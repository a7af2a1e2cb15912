// An http check's max_body: parsed, bounded, rendered, and checked against
// the length of "contains".
#include "rsagent/config/config.hpp"

#include <doctest/doctest.h>

using namespace rsagent::config;

namespace {

LoadResult one(const std::string& text) { return parse_sources({Source{"rsagent.json", text}}); }

bool has_error(const LoadResult& r, const std::string& prefix, const std::string& words) {
  for (const auto& d : r.errors) {
    const std::string l = d.str();
    if (l.rfind(prefix, 0) == 0 && l.find(words) != std::string::npos) return true;
  }
  return false;
}

std::string with_check(const std::string& extra) {
  return R"({"health": {"checks": [{"name": "web", "type": "http", "url": "http://127.0.0.1:80/")" +
         extra + "}]}}";
}

}  // namespace

TEST_CASE("an http check reads 64 KiB of body unless max_body says otherwise") {
  const auto plain = one(with_check(""));
  REQUIRE(plain.config);
  CHECK(plain.config->health.checks[0].max_body == 65536);
  CHECK(render(*plain.config).find("max_body") == std::string::npos);

  const auto set = one(with_check(R"(, "max_body": 1024)"));
  REQUIRE(set.config);
  CHECK(set.config->health.checks[0].max_body == 1024);
  CHECK(render(*set.config).find("\"max_body\": 1024") != std::string::npos);
  // What is printed reads back the same.
  const auto again = one(render(*set.config));
  REQUIRE(again.config);
  CHECK(again.config->health.checks[0] == set.config->health.checks[0]);
}

TEST_CASE(
    "max_body is a byte count up to 1 MiB, for http checks only, and no shorter than contains") {
  CHECK(has_error(one(with_check(R"(, "max_body": 0)")), "rsagent.json:1:", "max_body"));
  CHECK(has_error(one(with_check(R"(, "max_body": 2000000)")), "rsagent.json:1:", "max_body"));
  CHECK(has_error(one(with_check(R"(, "max_body": "64k")")), "rsagent.json:1:", "max_body"));
  CHECK(has_error(one(with_check(R"(, "max_body": 4, "contains": "longer")")),
                  "rsagent.json:1:", "longer than max_body (4)"));
  CHECK(has_error(
      one(R"({"health": {"checks": [{"name": "t", "type": "tcp", "address": "127.0.0.1:80", "max_body": 10}]}})"),
      "rsagent.json:1:", "\"max_body\" is for http checks"));
}
