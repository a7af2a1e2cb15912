#!/usr/bin/env bash
# Benchmark: what the flow attribution costs the web traffic it watches.
# Two namespaces on a veth pair: "director" (routes the VIP to the real
# server, so every new connection arrives as in direct routing: the
# director's MAC as Ethernet source, the VIP as destination) runs wrk with
# `Connection: close` (one new connection per request, the worst case for a
# SYN counter); "rs" runs nginx (one worker, a fixed 200 on the VIP) and
# rsagent. The same daemon is switched between attribution.enabled false
# and true by reload, in alternating rounds within one run. Prints each
# round, the median requests/s of each mode and their ratio (target: on/off
# at least 0.97), and the daemon's CPU (all threads, from /proc/PID/stat)
# as a share of one core per 10,000 new connections a second.
# Usage: tests/bench/attribution_bench.sh [BUILD_DIR]
#        (ROUNDS=3 per mode, SECONDS_PER_ROUND=10, CONNECTIONS=32)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin="$(bench_binary "${1:-}")"
rounds="${ROUNDS:-3}"
secs="${SECONDS_PER_ROUND:-10}"
conns="${CONNECTIONS:-32}"
work="$(mktemp -d /dev/shm/rsagent-abench-XXXXXX)"
dns="rsaabench-d$$"
rns="rsaabench-r$$"
cleanup() {
  [ -f "$work/state/rsagent.pid" ] && ip netns exec "$rns" "$bin" --config "$work/rsagent.json" \
    --state-dir "$work/state" stop >/dev/null 2>&1 || true
  drop_netns "$dns"
  drop_netns "$rns"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$dns"
ip netns add "$rns"
ip -n "$dns" link set lo up
ip -n "$rns" link set lo up
ip -n "$dns" link add eth0 address 02:aa:00:00:00:01 type veth peer name eth0 netns "$rns"
ip -n "$dns" addr add 203.0.113.1/24 dev eth0
ip -n "$rns" addr add 203.0.113.11/24 dev eth0
ip -n "$dns" link set eth0 up
ip -n "$rns" link set eth0 up
ip -n "$dns" route add 198.51.100.100/32 via 203.0.113.11
in_d() { ip netns exec "$dns" "$@"; }
in_r() { ip netns exec "$rns" "$@"; }
# Many short connections from one client: reuse TIME_WAIT ports.
in_d sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10000 65000"

cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http { access_log off; server { listen 0.0.0.0:80 backlog=4096; location / { return 200 "ok\n"; } } }
NGINX
in_r nginx -c "$work/nginx.conf" -p "$work" >/dev/null 2>&1 &

config() {  # enabled: true|false
  cat >"$work/rsagent.json" <<JSON
{"vips": ["198.51.100.100"], "health": {"listen": ["127.0.0.1:9799"]}, "attribution": {"enabled": $1}}
JSON
}
config false
in_r "$bin" --log-level warning --config "$work/rsagent.json" --state-dir "$work/state" start >/dev/null
pid="$(cat "$work/state/rsagent.pid")"
for _ in $(seq 1 100); do
  in_d curl -s --max-time 1 -o /dev/null http://198.51.100.100/ && break
  sleep 0.1
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz="$(getconf CLK_TCK)"
set_mode() {
  config "$1"
  in_r "$bin" --config "$work/rsagent.json" --state-dir "$work/state" reload >/dev/null
  local want="$1"
  for _ in $(seq 1 100); do
    [ "$(in_r curl -s http://127.0.0.1:9799/status | python3 -c 'import json,sys; print(str(json.load(sys.stdin)["attribution"]["enabled"]).lower())')" = "$want" ] && break
    sleep 0.1
  done
  sleep 1
}

echo "$(nproc) cores; wrk -t1 -c$conns -d${secs}s -H 'Connection: close' through the VIP; $rounds rounds per mode"
printf '%-6s %-12s %12s %18s\n' round attribution "requests/s" "cpu %/10k conn/s"
declare -a rps_on rps_off cpu_on cpu_off
for ((r = 1; r <= rounds; r++)); do
  for mode in false true; do
    set_mode "$mode"
    t0="$(cpu_ticks)"
    rps="$(in_d wrk -t1 -c"$conns" -d"${secs}s" -H 'Connection: close' http://198.51.100.100/ |
      awk '/^Requests\/sec/ { print $2 }')"
    t1="$(cpu_ticks)"
    # The daemon's share of one core, per 10,000 new connections a second.
    cpu="$(awk -v d="$((t1 - t0))" -v hz="$hz" -v s="$secs" -v rps="$rps" \
      'BEGIN { printf "%.3f", (d / hz / s * 100) / (rps / 10000) }')"
    printf '%-6s %-12s %12s %18s\n' "$r" "$([ "$mode" = true ] && echo on || echo off)" "$rps" "$cpu"
    if [ "$mode" = true ]; then rps_on+=("$rps"); cpu_on+=("$cpu"); else rps_off+=("$rps"); cpu_off+=("$cpu"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
m_on="$(median "${rps_on[@]}")"
m_off="$(median "${rps_off[@]}")"
echo "median requests/s: off $m_off, on $m_on; ratio on/off $(awk -v a="$m_on" -v b="$m_off" 'BEGIN { printf "%.3f", a / b }')"
echo "median daemon CPU (% of one core per 10,000 new connections/s): off $(median "${cpu_off[@]}"), on $(median "${cpu_on[@]}")"
st="$(in_r curl -s http://127.0.0.1:9799/status)"
echo "counted by the attribution (the director's row): $(echo "$st" | python3 -c '
import json, sys
st = json.load(sys.stdin)
for d in st["directors"]:
    if d["sends"]: print(d["mac"], d["sends"]["syns_total"], "SYNs")')"
