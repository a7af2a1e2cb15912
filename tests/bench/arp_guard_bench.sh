#!/usr/bin/env bash
# Benchmark: the idle cost of the ARP guard. A real server with 100
# VIPs on a segment with a director (a namespace answering ARP and NS for
# every VIP, as a director does) runs rsagent for SECONDS (default 60) three
# times: ARP guard off (no CAP_NET_RAW: capsh drops it), self-watch only
# ("probe": false) and the default (probing, 60 s interval with jitter, 5
# probes a second: 100 VIPs swept in 20 s). Prints the daemon's CPU time
# for each (the sum over its threads of /proc/PID/task/*/schedstat, in ns:
# /proc/PID/stat counts 10 ms ticks, too coarse for an idle daemon) and the
# ratios to "off". Not a test: nothing is asserted on the timings.
# Usage: tests/bench/arp_guard_bench.sh [BUILD_DIR]   (SECONDS_EACH=60, VIPS=100)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin="$(bench_binary "${1:-}")"
seconds="${SECONDS_EACH:-60}"
nvips="${VIPS:-100}"
work="$(mktemp -d /dev/shm/rsagent-agbench-XXXXXX)"
rs="rsaagb$$-rs"
dr="rsaagb$$-dr"
cleanup() {
  drop_netns "$rs"
  drop_netns "$dr"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$rs"
ip netns add "$dr"
ip -n "$rs" link set lo up
ip -n "$dr" link set lo up
ip -n "$rs" link add eth0 type veth peer name eth0 netns "$dr"
ip -n "$rs" addr add 203.0.113.11/24 dev eth0
ip -n "$dr" addr add 203.0.113.1/24 dev eth0
ip -n "$rs" link set eth0 up
ip -n "$dr" link set eth0 up
# The director holds the VIPs (198.18.0.0/15, the benchmarking range):
# IPv4 as a local route (AnyIP), so it answers ARP for each.
ip -n "$dr" route add local 198.18.0.0/24 dev lo table local
vips=""
for i in $(seq 1 "$nvips"); do
  vips+="${vips:+, }\"198.18.0.$((i % 250 + 1))\""
done
[ "$nvips" -le 250 ] || { echo "VIPS must be at most 250" >&2; exit 2; }

run() {  # label, arp_guard JSON, capsh drop (or "")
  local label=$1 guard=$2 drop=$3
  cat >"$work/rsagent.json" <<JSON
{"vips": [$vips], "health": {"listen": ["127.0.0.1:9799"]}, "arp_guard": $guard}
JSON
  rm -rf "$work/state"
  if [ -n "$drop" ]; then
    ip netns exec "$rs" capsh "--drop=$drop" -- -c "exec '$bin' --log-level warning --config '$work/rsagent.json' --state-dir '$work/state' run" \
      >"$work/rsagent.log" 2>&1 &
  else
    ip netns exec "$rs" "$bin" --log-level warning --config "$work/rsagent.json" --state-dir "$work/state" run \
      >"$work/rsagent.log" 2>&1 &
  fi
  for _ in $(seq 1 200); do
    [ -s "$work/state/rsagent.pid" ] && break
    sleep 0.05
  done
  local pid
  pid="$(cat "$work/state/rsagent.pid")"
  sleep 2  # past the start-up
  local t0 t1 enabled
  t0=$(cpu_ns "$pid")
  sleep "$seconds"
  t1=$(cpu_ns "$pid")
  enabled=$(ip netns exec "$rs" curl -s http://127.0.0.1:9799/status |
    jq -r '.arp_guard | "enabled=\(.enabled) probes_sent=\(.probes_sent) sweeps=\(.sweeps)"')
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  local ms
  ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
  printf '%-34s %10s %s\n' "$label" "$ms" "$enabled" >&2
  echo "$ms"
}
# CPU time (ns) of every thread of a process, from the scheduler's own count.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }

echo "$nvips VIPs, ${seconds} s each, CPU time of the daemon's threads" >&2
printf '%-34s %10s %s\n' "run" "CPU ms" "ARP guard" >&2
off=$(run "ARP guard off (no CAP_NET_RAW)" '{}' cap_net_raw)
watch=$(run "self-watch only (probe: false)" '{"probe": false}' "")
full=$(run "self-watch + probe (defaults)" '{}' "")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
per_s() { awk -v a="$1" -v s="$seconds" 'BEGIN { printf "%.2f ms/s", a / s }'; }
echo "self-watch/off: $(ratio "$watch" "$off")   probe/off: $(ratio "$full" "$off")   (off $(per_s "$off"), probe $(per_s "$full") of one core)"
