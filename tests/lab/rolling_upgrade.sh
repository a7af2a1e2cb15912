#!/usr/bin/env bash
# A rolling upgrade of the DR lab's two real servers under a drain budget of
# 1 (ctest label e2e): etcd on the lab's bridge, both servers told to
# upgrade at the same moment, each by `drain --wait`, a restart of its
# nginx, then `ready`. The budget lets one out at a time: the second waits
# in line, saying who holds the slot, and goes once the first is back and
# healthy (a server down on its own counts too). Asserted: HAProxy never
# sees both servers out at once, a client's requests through the director
# never fail, both upgrades finish. Prints what the operator sees
# (`rsagent fleet` and both drains' output) for the README.
# Usage: rolling_upgrade.sh RSAGENT_BIN. Needs root; builds and removes its own lab.
set -uo pipefail
bin="${1:?rsagent binary}"
here="$(cd "$(dirname "$0")" && pwd)"
labsh="$here/lab.sh"
lab="rsaru$$"
dir="/run/$lab"
pids=()
. "$here/checks.sh"
need_root rolling_upgrade
need_tool rolling_upgrade etcd etcd-server
lab_preamble
wait_for() {  # seconds, then a command that must come true
  local s=$1
  shift
  for _ in $(seq 1 $((s * 10))); do "$@" && return 0; sleep 0.1; done
  return 1
}
nodes_published() { [ "$(agent rs1 fleet --json | jq '.nodes | length')" = 2 ]; }
slot_held() { [ "$(agent rs1 fleet --json | jq '.budget.holders | length')" = 1 ]; }
declare -A rip=([rs1]=203.0.113.11 [rs2]=203.0.113.12)
# The service's own check, asked from the director (already a poller).
healthy() { [ "$(in_ns director curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://${rip[$1]}:9799/health/web")" = 200 ]; }

# One server's upgrade, as a script would run it on each at once.
upgrade() {
  local n=$1
  agent "$n" drain --wait --quiet 1s --timeout 2m --reason "upgrade to 2.4" || return 1
  bash "$labsh" web-stop "$lab" "$n"  # the package's upgrade: the service goes away...
  sleep 1
  bash "$labsh" web-start "$lab" "$n"  # ...and comes back
  wait_for 20 healthy "$n" || return 1
  agent "$n" ready
}

bash "$labsh" up "$lab" "$bin" >/dev/null || exit 1
bash "$labsh" etcd-add "$lab" 1 || exit 1
bash "$labsh" agents-start "$lab" >/dev/null || exit 1
bash "$labsh" sync "$lab" &
pids+=($!)
check "both servers publish their records to etcd" wait_for 20 nodes_published
check "HAProxy sees both servers up" wait_for 20 grep -qs "rs1=UP rs2=UP" "$dir/forwarding"

# HAProxy's view every 100 ms, and a client's request every 100 ms.
(while true; do cat "$dir/forwarding" 2>/dev/null; echo; sleep 0.1; done) >"$dir/states" &
pids+=($!)
(while true; do in_ns client curl -s --max-time 2 http://198.51.100.100/ || echo FAILED; sleep 0.1; done) >"$dir/answers" &
pids+=($!)

upgrade rs1 >"$dir/rs1.out" 2>&1 &
u1=$!
upgrade rs2 >"$dir/rs2.out" 2>&1 &
u2=$!
wait_for 30 slot_held
echo "--- rsagent fleet, while one server is out and the other waits in line:"
agent rs1 fleet
wait "$u1"
r1=$?
wait "$u2"
r2=$?
echo "--- rs1:"
cat "$dir/rs1.out"
echo "--- rs2:"
cat "$dir/rs2.out"
check "rs1's upgrade finished" [ "$r1" -eq 0 ]
check "rs2's upgrade finished" [ "$r2" -eq 0 ]
check "one of them waited in line for the other's slot" grep -q "waiting in line" "$dir/rs1.out" "$dir/rs2.out"
never_out_together() { ! grep -E "rs1=" "$dir/states" | grep -v "rs1=UP" | grep -qv "rs2=UP"; }
no_failure() { ! grep -q FAILED "$dir/answers"; }
check "HAProxy never saw both servers out at once" never_out_together
check "HAProxy saw each server out at some point" sh -c "grep -q 'rs1=DRAIN' '$dir/states' && grep -q 'rs2=DRAIN' '$dir/states'"
check "no client request failed during the upgrade" no_failure
check "both servers served during the upgrade" sh -c "grep -q rs1 '$dir/answers' && grep -q rs2 '$dir/answers'"
check "the slot is free again" wait_for 10 sh -c "[ \"\$(ip netns exec $lab-rs1 $bin --config $dir/rs1/rsagent.json fleet --json | jq '.budget.holders | length')\" = 0 ]"
echo "--- rsagent fleet, after:"
agent rs1 fleet
finish
