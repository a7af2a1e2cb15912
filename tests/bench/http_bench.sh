#!/usr/bin/env bash
# Benchmark: rsagent's /healthz against nginx (one worker) returning a fixed
# 200, on the same machine, in one run, with wrk: keep-alive and
# "Connection: close" (how directors check), 64 connections. Prints
# requests/s, p99 latency and the ratios, and rsagent's peak RSS under load.
# Usage: tests/bench/http_bench.sh [BUILD_DIR]   (DURATION=10s by default)
# The load generator gets a CPU of its own: wrk runs on CPU 0 and both
# servers on CPU 1 (taskset), the closest one machine gets to a separate load
# machine. Unpinned (PIN=0), wrk's threads and the server share the cores
# and the p99 mostly measures waiting for a CPU (nginx's rises with it).
# Even pinned, the p99 includes the time wrk's own loop takes to get to each
# of its 64 connections: nginx's p99 in the same run shows that floor.
# PIN (default 1 on 2 or more cores), WRK_THREADS (default 1 pinned, else 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin="$(bench_binary "${1:-}")"
duration="${DURATION:-10s}"
conns="${CONNS:-64}"
pin="${PIN:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}"
wrk_threads="${WRK_THREADS:-$([ "$pin" = 1 ] && echo 1 || echo 2)}"
work="$(mktemp -d /dev/shm/rsagent-hbench-XXXXXX)"
ns="rsahbench$$"
cleanup() {
  drop_netns "$ns"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
in_ns() { ip netns exec "$ns" "$@"; }
server_cpu=(); load_cpu=()
if [ "$pin" = 1 ]; then server_cpu=(taskset -c 1); load_cpu=(taskset -c 0); fi

cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:8081 backlog=1024;
    location / { return 200 "ready\n"; }
  }
}
NGINX
in_ns "${server_cpu[@]}" nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!

cat >"$work/rsagent.json" <<JSON
{"vips": ["198.51.100.100"],
 "health": {"listen": ["127.0.0.1:9799"],
            "checks": [{"name": "web", "type": "tcp", "address": "127.0.0.1:8081", "interval": "1s"}]}}
JSON
in_ns "${server_cpu[@]}" "$bin" --log-level warning --config "$work/rsagent.json" --state-dir "$work/state" run &
for _ in $(seq 1 200); do
  [ "$(in_ns curl -s http://127.0.0.1:9799/healthz)" = "ready" ] && break
  sleep 0.05
done
[ "$(in_ns curl -s http://127.0.0.1:9799/healthz)" = "ready" ] || { echo "rsagent did not become ready" >&2; exit 1; }
pid=$(cat "$work/state/rsagent.pid")

run_wrk() {  # url, extra args -> "rps p99_ms"
  local out
  out=$(in_ns "${load_cpu[@]}" wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency "$@" 2>&1)
  local rps p99
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  local errs
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps $(to_ms "$p99") ${errs:-}"
}
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

echo "wrk -t$wrk_threads -c$conns -d$duration, $(nproc) cores$([ "$pin" = 1 ] && echo ", wrk pinned to CPU 0 and the servers to CPU 1"); nginx 1 worker vs rsagent /healthz"
printf '%-22s %12s %10s %12s %10s %10s %10s\n' mode "nginx rps" "p99 ms" "rsagent rps" "p99 ms" "rps ratio" "p99 ratio"
for mode in keep-alive close; do
  if [ "$mode" = close ]; then hdr=(-H "Connection: close"); else hdr=(); fi
  read -r n_rps n_p99 n_err <<<"$(run_wrk "${hdr[@]}" http://127.0.0.1:8081/healthz)"
  read -r r_rps r_p99 r_err <<<"$(run_wrk "${hdr[@]}" http://127.0.0.1:9799/healthz)"
  printf '%-22s %12s %10s %12s %10s %10s %10s\n' "$mode" "$n_rps" "$n_p99" "$r_rps" "$r_p99" \
    "$(awk -v a="$r_rps" -v b="$n_rps" 'BEGIN{printf "%.2fx", a/b}')" \
    "$(awk -v a="$r_p99" -v b="$n_p99" 'BEGIN{printf "%.2fx", a/b}')"
  [ -n "${r_err// /}" ] && echo "  rsagent: $r_err"
  [ -n "${n_err// /}" ] && echo "  nginx: $n_err"
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "rsagent peak RSS under load (VmHWM): $((hwm / 1024)).$(((hwm % 1024) * 10 / 1024)) MiB"
kill -TERM "$pid"
kill -TERM "$nginx_pid" 2>/dev/null || true
wait || true
