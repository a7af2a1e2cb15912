#!/usr/bin/env bash
# Benchmark: the ARP guard's memory under a flood from its segment.
# A real server (one VIP, probing every second) and a peer on one veth pair
# (no bridge: it would learn every made-up MAC too); the peer sends FRAMES
# (default 1,000,000) ARP frames, each from a new random MAC, of each kind
# in turn: requests about other addresses (nothing to do with a VIP),
# requests for the VIP (the ARP guard learns the asker), and "VIP is-at"
# replies (spoofed answers, during probe windows). The sender waits while
# the daemon's packet socket has more than 64 KiB queued, so the daemon sees
# (nearly) every frame. Prints, after each flood, the daemon's VmRSS and its
# growth since before the first, the ARP guard's MAC table and the answers
# it dropped past the per-probe cap. Not a test: nothing is asserted.
# Usage: tests/bench/arp_guard_flood_bench.sh [BUILD_DIR]   (FRAMES=1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin="$(bench_binary "${1:-}")"
frames="${FRAMES:-1000000}"
vip=198.51.100.100
work="$(mktemp -d /dev/shm/rsagent-agflood-XXXXXX)"
rs="rsaagf$$-rs"
peer="rsaagf$$-peer"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true  # ours: `ip netns exec` execs the daemon
  fi
  drop_netns "$rs"
  drop_netns "$peer"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

g++ -O2 -std=c++20 -o "$work/arp_flood" tests/bench/arp_flood.cpp
ip netns add "$rs"
ip netns add "$peer"
ip -n "$rs" link set lo up
ip -n "$rs" link add eth0 type veth peer name eth0 netns "$peer"
ip -n "$rs" addr add 203.0.113.11/24 dev eth0
ip -n "$peer" addr add 203.0.113.10/24 dev eth0
ip -n "$rs" link set eth0 up
ip -n "$peer" link set eth0 up
cat >"$work/rsagent.json" <<JSON
{"vips": ["$vip"], "health": {"listen": ["127.0.0.1:9799"]},
 "arp_guard": {"interval": "1s", "window": "500ms", "probes_per_second": 20}}
JSON
ip netns exec "$rs" "$bin" --log-level warning --config "$work/rsagent.json" --state-dir "$work/state" run \
  >"$work/rsagent.log" 2>&1 &
for _ in $(seq 1 200); do
  [ -s "$work/state/rsagent.pid" ] && break
  sleep 0.05
done
pid="$(cat "$work/state/rsagent.pid")"
sleep 5  # started, a few probes and reports: the steady state
rss() { awk '/^VmRSS:/ { print $2 }' /proc/"$pid"/status; }
cpu_ms() { cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s / 1e6 }'; }
guard() { ip netns exec "$rs" curl -s http://127.0.0.1:9799/status | jq -c '.arp_guard'; }
base=$(rss)
echo "$frames frames per flood, each from a new random MAC; daemon VmRSS before: $base KiB" >&2
printf '%-30s %9s %9s %9s %8s %8s %9s %9s %8s\n' flood sent "RSS KiB" "growth" "CPU ms" entries evicted dropped "log max" >&2
for kind in ask-other ask-vip spoof; do
  c0=$(cpu_ms)
  sent=$(ip netns exec "$peer" "$work/arp_flood" eth0 "$kind" "$frames" "$vip" "$pid")
  sleep 2  # the last window closes and the report is published
  c1=$(cpu_ms)
  g=$(guard)
  now=$(rss)
  printf '%-30s %9s %9s %9s %8s %8s %9s %9s %8s\n' "$kind" "$sent" "$now" "+$((now - base))" "$((c1 - c0))" \
    "$(jq .mac_table.entries <<<"$g")" "$(jq .mac_table.evicted <<<"$g")" "$(jq .responders_dropped <<<"$g")" \
    "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$work/rsagent.log")" >&2
done
seg=$(guard | jq -c --arg v "$vip" '.segments[] | select(.vip == $v) | {responders: (.responders | length), responders_more}')
echo "last probe of $vip: $seg" >&2
echo "RSS growth over the three floods: $(( $(rss) - base )) KiB"
