// The CLI's command table: the usage it renders lists every command once
// with its options, and the options it parses are exactly the listed ones.
#include "rsagent/cli/table.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

using namespace rsagent;

namespace {

int count(const std::string& hay, const std::string& needle) {
  int n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the usage lists every command of the table once, with each of its options") {
  const std::string u = cli::usage();
  for (const auto& c : cli::commands()) {
    CHECK_MESSAGE(count(u, "\n  " + std::string(c.name) + " ") == 1, c.name);
    for (const auto& o : c.options) CHECK_MESSAGE(u.find("\n    " + std::string(o.name)) != std::string::npos, o.name);
  }
  std::istringstream lines(u);
  std::string line;
  while (std::getline(lines, line)) CHECK_MESSAGE(line.size() <= 79, line);
}

TEST_CASE("a command takes exactly the options the table lists, and a refusal names what it takes") {
  const auto* drain = cli::find_command("drain");
  REQUIRE(drain != nullptr);
  cli::CommandOptions o;
  CHECK_FALSE(cli::parse_options(*drain, std::vector<std::string>{"--reason", "deploy 42"}, o));
  CHECK(o.reason == "deploy 42");
  CHECK_FALSE(cli::parse_options(*drain, std::vector<std::string>{"--reason=kernel"}, o));
  CHECK(o.reason == "kernel");
  auto err = cli::parse_options(*drain, std::vector<std::string>{"--reason"}, o);
  REQUIRE(err);
  CHECK(*err == "--reason needs a value: --reason TEXT");
  err = cli::parse_options(*drain, std::vector<std::string>{"--now"}, o);
  REQUIRE(err);
  CHECK(*err == "`drain` does not take --now (it takes --reason, --wait, --timeout, --quiet, --connections, --force)");
  const auto* plan = cli::find_command("plan");
  REQUIRE(plan != nullptr);
  err = cli::parse_options(*plan, std::vector<std::string>{"--json"}, o);
  REQUIRE(err);
  CHECK(err->find("it takes no options") != std::string::npos);
  CHECK(cli::find_command("frobnicate") == nullptr);
}
