#!/usr/bin/env bash
# Benchmark: the fleet against one real etcd (Debian's etcd-server) on this
# machine. etcd runs in a namespace of its own at 203.0.113.5, its data on
# disk under /tmp (DATA_BASE= to move it); a driver in a second namespace,
# linked by a veth pair, runs NODES fleet publishers (the daemon's own
# code, one HTTP connection each) and prints:
#  - from a verdict change (the record changes and the publisher is told)
#    to the record delivered by an etcd watch (a separate etcdctl process;
#    timestamps are taken when its output reaches the driver), p50 and p99
#    over CHANGES changes spread over the nodes, then every node at once
#    (BURSTS rounds);
#  - the reference in the same run: a record-sized put through the same
#    client over the fleet's own transport, its round trip and its
#    delivery by the same watch, and the ratio of the change's p50 and p99
#    to the latter;
#  - etcd requests per node per minute at rest over REST_SECONDS, counted
#    by the publishers' transports and by etcd's own gRPC counters.
# Usage: tests/bench/fleet_bench.sh BUILD_DIR
#   env: NODES=100 CHANGES=300 INTERVAL_MS=60 BURSTS=3 REST_SECONDS=60 TTL_SECONDS=10
# Builds the driver (target fleet_bench) in BUILD_DIR. Root; leaves no
# namespace, process or data behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
dir="${1:?usage: tests/bench/fleet_bench.sh BUILD_DIR}"
nodes="${NODES:-100}"
changes="${CHANGES:-300}"
interval="${INTERVAL_MS:-60}"
bursts="${BURSTS:-3}"
rest="${REST_SECONDS:-60}"
ttl="${TTL_SECONDS:-10}"
command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
  { echo "fleet_bench: needs etcd and etcdctl (apt-get install etcd-server etcd-client)" >&2; exit 77; }
cmake --build "$dir" --target fleet_bench >"$dir/fleet_bench.build.log" 2>&1 ||
  { cat "$dir/fleet_bench.build.log" >&2; exit 1; }
driver="$dir/tests/fleet_bench"

data="$(mktemp -d "${DATA_BASE:-/tmp}/rsagent-fleet-bench-XXXXXX")"
ens="rsafe$$"  # etcd
dns="rsafd$$"  # the driver and its publishers
cleanup() {
  drop_netns "$dns"
  drop_netns "$ens"
  rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ens"
ip netns add "$dns"
ip link add "fbe$$" type veth peer name "fbd$$"
ip link set "fbe$$" netns "$ens"
ip link set "fbd$$" netns "$dns"
ip -n "$ens" link set "fbe$$" name eth0
ip -n "$dns" link set "fbd$$" name eth0
for ns in "$ens" "$dns"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
ip -n "$ens" addr add 203.0.113.5/24 dev eth0
ip -n "$dns" addr add 203.0.113.6/24 dev eth0

url=http://203.0.113.5:2379
ip netns exec "$ens" etcd --name fleet-bench --data-dir "$data/etcd" \
  --listen-client-urls "$url" --advertise-client-urls "$url" \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster fleet-bench=http://127.0.0.1:2380 >"$data/etcd.log" 2>&1 &
disown
for _ in $(seq 150); do
  ip netns exec "$dns" curl -s --max-time 1 "$url/health" 2>/dev/null | grep -q true && break
  sleep 0.2
done
ip netns exec "$dns" curl -s --max-time 1 "$url/health" | grep -q true ||
  { echo "fleet_bench: etcd did not become healthy" >&2; tail -20 "$data/etcd.log" >&2; exit 1; }

echo "etcd $(etcd --version | awk 'NR==1{print $3}'), data on $(df --output=source "$data" | tail -1)" \
  "($(df --output=fstype "$data" | tail -1 | tr -d ' ')); $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
ip netns exec "$dns" "$driver" "$url" "$nodes" "$changes" "$rest" "$ttl" "$interval" "$bursts"
