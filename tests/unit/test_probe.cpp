// The exec check through the real prober and the Monitor: its deadline is
// on the process, its output is cleaned where it enters, and a stop does not
// wait for a hanging command.
#include "rsagent/checks/monitor.hpp"
#include "rsagent/checks/prober.hpp"
#include "rsagent/util/text.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

#include <thread>

using namespace rsagent;
using namespace rsagent::verdict;
using namespace rsagent::checks;
using namespace std::chrono_literals;

namespace {

config::Check exec_check(const std::string& script, std::chrono::milliseconds timeout) {
  config::Check c;
  c.name = "cmd";
  c.type = config::Check::Type::kExec;
  c.command = {"/bin/sh", "-c", script};
  c.timeout = timeout;
  c.interval = std::max<std::chrono::milliseconds>(timeout, 100ms);
  c.rise = 1;
  c.fall = 1;
  return c;
}

}  // namespace

TEST_CASE("an exec probe passes on exit 0 and fails with the exit code and its output") {
  auto p = make_prober(nullptr);
  const auto ok = p->probe(exec_check("echo fine", 5s));
  CHECK(ok.ok);
  CHECK(ok.detail == "fine");
  const auto bad = p->probe(exec_check("echo 'disk full'; exit 3", 5s));
  CHECK_FALSE(bad.ok);
  CHECK(bad.detail == "exit 3: disk full");
  config::Check missing = exec_check("", 5s);
  missing.command = {"/nonexistent/check"};
  const auto gone = p->probe(missing);
  CHECK_FALSE(gone.ok);
  CHECK(gone.detail == "run /nonexistent/check: No such file or directory");
}

TEST_CASE("an exec probe whose command closes its output and hangs fails at its timeout") {
  auto p = make_prober(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = p->probe(exec_check("echo going; exec >/dev/null 2>&1; sleep 30", 300ms));
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK_FALSE(r.ok);
  CHECK(r.detail == "timed out after 300ms (process group killed): going");
}

TEST_CASE("exec output becomes one printable line of valid UTF-8, cut at a character") {
  auto p = make_prober(nullptr);
  const auto r = p->probe(exec_check(R"(printf 'bad \377 byte\nline two\033[0m\n'; exit 1)", 5s));
  CHECK(r.detail == "exit 1: bad \\xff byte line two\\x1b[0m");
  // 300 two-byte characters: the cut may not split one.
  const auto longer =
      p->probe(exec_check(R"(i=0; while [ $i -lt 300 ]; do printf 'é'; i=$((i+1)); done)", 5s));
  CHECK(text::valid_utf8(longer.detail));
  CHECK(longer.detail.size() <= kMaxOutput + 3);
  CHECK(longer.detail.substr(longer.detail.size() - 3) == "...");
  CHECK(short_output("a\xff\r\n") == "a\\xff");
}

TEST_CASE("Monitor::stop kills a hanging exec probe instead of waiting for its deadline") {
  Board board({exec_check("exec >/dev/null 2>&1; sleep 37", 20s)}, "/nonexistent");
  Monitor m({exec_check("exec >/dev/null 2>&1; sleep 37", 20s)}, board, make_prober(nullptr));
  m.start();
  // The probe is running once its command is.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::system("pgrep -f 'sleep 3[7]' >/dev/null") != 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  const auto t0 = std::chrono::steady_clock::now();
  m.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  // A probe cut short by the stop is no verdict on the check.
  CHECK(board.snapshot()->checks[0].probes == 0);
}
