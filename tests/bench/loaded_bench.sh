#!/usr/bin/env bash
# Benchmark: /healthz latency on a loaded web node. Both cores are kept busy
# by CPU-bound processes at nice 0 (what a busy web node looks like to the
# scheduler) while a checker asks /healthz every 20 ms with Connection:
# close, as directors do; nginx (one worker) answering a fixed 200 is
# measured the same way in the same run. rsagent runs at nice 0 and at the
# unit's Nice= (units/rsagent.service), to show what that setting buys.
# Prints p50/p99/max in ms and the p99 ratios. Target: rsagent's p99 at the
# unit's setting at or under 20 ms. The checker (tests/bench/probe_client.cpp,
# one process, timing connect to EOF) runs at nice -19: on a real cluster it
# is on the director, another machine, and must not measure its own wait for
# a CPU here.
# Usage: tests/bench/loaded_bench.sh [BUILD_DIR]   (REQUESTS=500, HOGS=2 per core)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin="$(bench_binary "${1:-}")"
requests="${REQUESTS:-500}"
hogs_per_core="${HOGS:-2}"
unit_nice="$(awk -F= '/^Nice=/ {print $2}' units/rsagent.service)"
unit_nice="${unit_nice:-0}"
work="$(mktemp -d /dev/shm/rsagent-lbench-XXXXXX)"
ns="rsalbench$$"
hogs=()
cleanup() {
  for p in "${hogs[@]}"; do kill "$p" 2>/dev/null || true; done
  drop_netns "$ns"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

client="$work/probe_client"
g++ -O2 -std=c++20 -o "$client" tests/bench/probe_client.cpp
ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }

cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:8081; location / { return 200 "ready\n"; } } }
NGINX
in_ns nginx -c "$work/nginx.conf" -p "$work" >/dev/null 2>&1 &

start_rsagent() {  # nice -> pid
  cat >"$work/rsagent.json" <<JSON
{"vips": ["198.51.100.100"], "health": {"listen": ["127.0.0.1:9799"],
 "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8081", "interval": "1s"}]}}
JSON
  in_ns nice -n "$1" "$bin" --log-level warning --config "$work/rsagent.json" --state-dir "$work/state" run \
    >"$work/rsagent.log" 2>&1 &
  for _ in $(seq 1 200); do
    [ "$(in_ns curl -s http://127.0.0.1:9799/healthz)" = "ready" ] && break
    sleep 0.05
  done
  [ "$(in_ns curl -s http://127.0.0.1:9799/healthz)" = "ready" ] || { echo "rsagent did not become ready" >&2; exit 1; }
  cat "$work/state/rsagent.pid"
}

# REQUESTS requests 20 ms apart from the checker; "p50 p99 max failed" in ms.
probe() { in_ns nice -n -19 "$client" 127.0.0.1 "$1" /healthz "$requests" 20; }

for ((c = 0; c < $(nproc) * hogs_per_core; c++)); do
  (while :; do :; done) &
  hogs+=($!)
done
sleep 1
echo "$(nproc) cores, $((${#hogs[@]})) busy processes at nice 0; $requests requests 20 ms apart, Connection: close"
printf '%-28s %8s %8s %8s %12s\n' server "p50 ms" "p99 ms" "max ms" "p99/nginx"
read -r n50 n99 nmax _ <<<"$(probe 8081)"
printf '%-28s %8s %8s %8s %12s\n' "nginx (1 worker, nice 0)" "$n50" "$n99" "$nmax" "1.00x"
for nice in 0 "$unit_nice"; do
  pid=$(start_rsagent "$nice")
  read -r r50 r99 rmax _ <<<"$(probe 9799)"
  printf '%-28s %8s %8s %8s %12s\n' "rsagent (nice $nice)" "$r50" "$r99" "$rmax" \
    "$(awk -v a="$r99" -v b="$n99" 'BEGIN { printf "%.2fx", a / b }')"
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  [ "$nice" = "$unit_nice" ] && break
done
