// Telling systemd's restart from its stop: the unit from /proc/self/cgroup
// and the job type from `systemctl list-jobs`.
#include "rsagent/util/sd_jobs.hpp"

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
