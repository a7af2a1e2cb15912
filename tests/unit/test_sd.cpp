// Telling systemd's restart from its stop: the unit from /proc/self/cgroup
// and the job type from `systemctl list-jobs`; the STATUS= text.
#include "rsagent/endpoint/report.hpp"
#include "rsagent/util/sd_jobs.hpp"
#include "rsagent/util/text.hpp"

#include <doctest/doctest.h>

using rsagent::sd::has_restart_job;
using rsagent::sd::unit_from_cgroup;

TEST_CASE("the unit comes from the unified or the name=systemd cgroup line") {
  CHECK(unit_from_cgroup("0::/system.slice/rsagent.service\n") == "rsagent.service");
  CHECK(unit_from_cgroup("9:name=systemd:/system.slice/rsagent.service\n8:pids:/\n0::/system.slice/rsagent.service\n") ==
        "rsagent.service");
  CHECK(unit_from_cgroup("0::/user.slice/user-0.slice/session-3.scope\n").empty());
  CHECK(unit_from_cgroup("4:memory:/system.slice/other.service\n0::/\n").empty());
  CHECK(unit_from_cgroup("").empty());
}

TEST_CASE("only a restart job of our own unit counts as a restart") {
  CHECK(has_restart_job("134 rsagent.service restart running\n", "rsagent.service"));
  CHECK(has_restart_job("7 other.service start waiting\n134 rsagent.service restart running\n", "rsagent.service"));
  CHECK_FALSE(has_restart_job("284 rsagent.service stop running\n", "rsagent.service"));
  CHECK_FALSE(has_restart_job("134 other.service restart running\n", "rsagent.service"));
  CHECK_FALSE(has_restart_job("", "rsagent.service"));
  CHECK_FALSE(has_restart_job("No jobs running.\n", "rsagent.service"));
}

TEST_CASE("systemd's STATUS= text is the verdict and its reason on one printable line") {
  using rsagent::verdict::Mode;
  using rsagent::endpoint::sd_status;
  using rsagent::verdict::Verdict;
  CHECK(sd_status(Verdict{Mode::kReady, ""}, 2) == "ready; 2 VIP(s) in place");
  CHECK(sd_status(Verdict{Mode::kDrain, "operator drained this node: db migration"}, 1) ==
        "drain: operator drained this node: db migration; 1 VIP(s) in place");
  // A newline would start another assignment (READY=1, MAINPID=...).
  const auto injected = sd_status(Verdict{Mode::kDown, "check x is down: exit 1: a\nMAINPID=1"}, 0);
  CHECK(injected.find('\n') == std::string::npos);
  CHECK(injected == "down: check x is down: exit 1: a\\x0aMAINPID=1; 0 VIP(s) in place");
  std::string long_reason;
  for (int i = 0; i < 1000; ++i) long_reason += "\xc3\xa9";  // é
  const auto cut = sd_status(Verdict{Mode::kDown, long_reason}, 3);
  CHECK(cut.size() <= rsagent::endpoint::kMaxSdStatus);
  CHECK(rsagent::text::valid_utf8(cut));
  CHECK(cut.find("...; 3 VIP(s) in place") != std::string::npos);
}
