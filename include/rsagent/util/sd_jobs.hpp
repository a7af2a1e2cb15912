// Asking systemd whether the unit we run in is being restarted, so that
// `systemctl restart` (and the RPM upgrade's try-restart) can hand the
// journal over instead of reverting: systemd sends the same SIGTERM for a
// stop and for a restart, but its job list tells them apart ("restart" vs
// "stop"). No libsystemd: the unit comes from /proc/self/cgroup and the job
// list from `systemctl list-jobs`, run with a deadline. Errors: none thrown;
// anything that cannot be told counts as "not a restart", the safe answer
// (a full revert).
#pragma once

#include <chrono>
#include <string>

namespace rsagent::sd {

// "rsagent.service" when systemd started us ($INVOCATION_ID set and a
// *.service cgroup); empty otherwise.
[[nodiscard]] std::string own_unit();
// The unit's name from the text of /proc/self/cgroup; empty if none.
[[nodiscard]] std::string unit_from_cgroup(const std::string& cgroup_text);
// Whether `systemctl list-jobs --no-legend` output has a restart job for unit.
[[nodiscard]] bool has_restart_job(const std::string& list_jobs, const std::string& unit);
// Runs systemctl list-jobs for unit, waiting at most timeout.
[[nodiscard]] bool restart_job_pending(const std::string& unit, std::chrono::milliseconds timeout);

}  // namespace rsagent::sd
