#!/usr/bin/env bash
# Benchmark: the daemon's CPU while idle with the TCP gate open (ready)
# and closed (drained), DURATION seconds each (default 60), read from
# /proc/PID/stat (utime + stime). A closed gate's listeners are out of its
# poll set, so both should cost the same: the tick and the checks.
# Usage: tests/bench/gate_idle_bench.sh [BUILD_DIR]
# Only in a namespace of its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin="$(bench_binary "${1:-}")"
duration="${DURATION:-60}"
work="$(mktemp -d /dev/shm/rsagent-gate-XXXXXX)"
node="rsagnode$$"
cleanup() { drop_netns "$node"; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$node"; ip -n "$node" link set lo up
cat >"$work/rsagent.json" <<JSON
{"vips": ["198.51.100.100"],
 "health": {"listen": ["127.0.0.1:9799"], "tcp_gate": {"listen": ["0.0.0.0:9797", "[::]:9797"]}}}
JSON
rsagent() { ip netns exec "$node" "$bin" --config "$work/rsagent.json" --state-dir "$work/state" "$@"; }
rsagent start >/dev/null
pid=$(cat "$work/state/rsagent.pid")
hz=$(getconf CLK_TCK)
cpu_ms() { awk -v hz="$hz" '{print ($14 + $15) * 1000 / hz}' /proc/"$pid"/stat; }
gate() { ip netns exec "$node" curl -s http://127.0.0.1:9799/status | python3 -c 'import json,sys; print(json.load(sys.stdin)["tcp_gate"]["open"])'; }
measure() {
  local a b
  sleep 2  # let the change settle
  a=$(cpu_ms); sleep "$duration"; b=$(cpu_ms)
  echo "$a $b" | awk '{printf "%.0f", $2 - $1}'
}
open_ms=$(measure); open_state=$(gate)
rsagent drain --reason bench >/dev/null
closed_ms=$(measure); closed_state=$(gate)
rsagent stop >/dev/null
printf '%-26s %10s %12s %14s\n' "TCP gate, idle ${duration} s" "gate open" "CPU ms" "% of a core"
printf '%-26s %10s %12s %14s\n' "ready" "$open_state" "$open_ms" "$(awk -v m="$open_ms" -v d="$duration" 'BEGIN{printf "%.3f", m / (d * 10)}')"
printf '%-26s %10s %12s %14s\n' "drained (gate closed)" "$closed_state" "$closed_ms" "$(awk -v m="$closed_ms" -v d="$duration" 'BEGIN{printf "%.3f", m / (d * 10)}')"
awk -v o="$open_ms" -v c="$closed_ms" 'BEGIN{ if (o > 0) printf "closed / open: %.2fx\n", c / o; else print "closed / open: n/a (open used 0 ms)" }'
