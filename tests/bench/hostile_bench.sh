#!/usr/bin/env bash
# Benchmark: the health endpoint under a hostile peer. From one address,
# 2,000 drip-fed connections (a byte every 2 s), 2,000 idle connections and
# 64 connections pipelining requests as fast as they can; from another
# address a director polls /healthz ten times a second. Prints, side by
# side, the director's answers and latency (p50, p99, max) without and
# with the hostile load, the daemon's peak RSS, and whether the log says
# "Too many open files". The hostile peer reconnects what the daemon
# closes (per-source cap, deadlines) on each 2 s tick.
# Then, in the same run, the other hostile measures of the daemon: its idle
# CPU with the TCP gate open and closed (gate_idle_bench.sh), an ARP flood
# of 1,000,000 frames from random MACs (arp_guard_flood_bench.sh), and an
# http check against a server that trickles (check_deadline_bench.sh);
# ENDPOINT_ONLY=1 skips them.
# Usage: tests/bench/hostile_bench.sh [BUILD_DIR]   (DURATION=30 seconds per phase)
# Only in namespaces of its own: node, director (203.0.113.1) and hostile
# peer (198.51.100.66), each linked to the node by a veth pair.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin="$(bench_binary "${1:-}")"
duration="${DURATION:-30}"
work="$(mktemp -d /dev/shm/rsagent-hostile-XXXXXX)"
node="rsahnode$$"; dir="rsahdir$$"; bad="rsahbad$$"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; fi
  drop_netns "$bad"; drop_netns "$dir"; drop_netns "$node"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "$node" "$dir" "$bad"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add hd0 netns "$node" type veth peer name eth0 netns "$dir"
ip link add hb0 netns "$node" type veth peer name eth0 netns "$bad"
ip -n "$node" addr add 203.0.113.11/24 dev hd0; ip -n "$node" link set hd0 up
ip -n "$node" addr add 198.51.100.11/24 dev hb0; ip -n "$node" link set hb0 up
ip -n "$dir" addr add 203.0.113.1/24 dev eth0; ip -n "$dir" link set eth0 up
ip -n "$bad" addr add 198.51.100.66/24 dev eth0; ip -n "$bad" link set eth0 up

cat >"$work/rsagent.json" <<JSON
{"vips": ["198.51.100.100"],
 "health": {"listen": ["0.0.0.0:9799"],
            "checks": [{"name": "self", "type": "tcp", "address": "127.0.0.1:9799", "interval": "1s"}]}}
JSON
ip netns exec "$node" "$bin" --log-level info --config "$work/rsagent.json" --state-dir "$work/state" run \
  >"$work/rsagent.log" 2>&1 &
for _ in $(seq 1 200); do
  [ "$(ip netns exec "$dir" curl -s http://203.0.113.11:9799/healthz)" = "ready" ] && break
  sleep 0.05
done
[ "$(ip netns exec "$dir" curl -s http://203.0.113.11:9799/healthz)" = "ready" ] ||
  { echo "rsagent did not become ready" >&2; cat "$work/rsagent.log" >&2; exit 1; }
pid=$(cat "$work/state/rsagent.pid")

# The director: GET /healthz (HTTP/1.0, read to EOF) ten times a second;
# prints "answered total p50_ms p99_ms max_ms".
cat >"$work/director.py" <<'PY'
import socket, sys, time
end = time.monotonic() + float(sys.argv[1])
lat, ok, total = [], 0, 0
while time.monotonic() < end:
    t0 = time.monotonic(); total += 1
    try:
        s = socket.create_connection(("203.0.113.11", 9799), timeout=2)
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b: break
            data += b
        s.close()
        if data.startswith(b"HTTP/1.1 200"):
            ok += 1
            lat.append((time.monotonic() - t0) * 1000)
    except OSError:
        pass
    time.sleep(max(0, 0.1 - (time.monotonic() - t0)))
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
print(f"{ok} {total} {pick(0.5):.2f} {pick(0.99):.2f} {lat[-1] if lat else float('nan'):.2f}")
PY

# The hostile peer: drip, idle and pipelining connections, reconnected on
# each 2 s tick when the daemon closed them.
cat >"$work/hostile.py" <<'PY'
import errno, resource, selectors, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
end = time.monotonic() + float(sys.argv[1])
DRIP, IDLE, PIPE = 2000, 2000, 64
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 32
sel = selectors.DefaultSelector()
conns = {}  # kind, index -> socket
def open_one(kind, i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(("198.51.100.11", 9799))
    except BlockingIOError:
        pass
    except OSError:
        s.close(); return
    conns[(kind, i)] = s
    if kind == "pipe":
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, (kind, i))
def drop(key):
    s = conns.pop(key, None)
    if s is None: return
    try: sel.unregister(s)
    except (KeyError, ValueError): pass
    s.close()
def tick():
    for i in range(DRIP):
        key = ("drip", i)
        if key not in conns: open_one("drip", i)
        s = conns.get(key)
        if s is None: continue
        try: s.send(b"G")
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ENOTCONN): drop(key)
    for i in range(IDLE):
        if ("idle", i) not in conns: open_one("idle", i)
        else:
            s = conns[("idle", i)]
            try:
                if s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"": drop(("idle", i))
            except BlockingIOError: pass
            except OSError: drop(("idle", i))
    for i in range(PIPE):
        if ("pipe", i) not in conns: open_one("pipe", i)
answers = 0
next_tick = 0
while time.monotonic() < end:
    if time.monotonic() >= next_tick:
        tick(); next_tick = time.monotonic() + 2
    for key, ev in sel.select(timeout=0.05):
        k = key.data
        s = conns.get(k)
        if s is None: continue
        try:
            if ev & selectors.EVENT_WRITE: s.send(req)
            if ev & selectors.EVENT_READ:
                b = s.recv(65536)
                if not b: drop(k); continue
                answers += b.count(b"HTTP/1.1 ")
        except BlockingIOError: pass
        except OSError: drop(k)
print(answers)
PY

rss_peak() { awk '/VmHWM/ {print $2}' /proc/"$pid"/status; }
probes() { ip netns exec "$dir" curl -s http://203.0.113.11:9799/metrics | awk '$1 ~ /^rsagent_check_probes_total/ {print $2}'; }
quiet=$(ip netns exec "$dir" python3 "$work/director.py" "$duration")
ip netns exec "$bad" python3 "$work/hostile.py" "$((duration + 5))" >"$work/hostile.out" &
hostile=$!
sleep 3
probes_before=$(probes)
loaded=$(ip netns exec "$dir" python3 "$work/director.py" "$duration")
probes_after=$(probes)
wait "$hostile" || true
emfile=$(grep -c -i "too many open files" "$work/rsagent.log" || true)
metrics=$(ip netns exec "$dir" curl -s http://203.0.113.11:9799/metrics)
metric() { echo "$metrics" | awk -v n="$1" '$1 == n {print $2}'; }

printf '%-22s %10s %10s %10s %10s\n' "director /healthz" "answered" "p50 ms" "p99 ms" "max ms"
read -r ok total p50 p99 max <<<"$quiet"
printf '%-22s %10s %10s %10s %10s\n' "no hostile load" "$ok/$total" "$p50" "$p99" "$max"
read -r ok total p50 p99 max <<<"$loaded"
printf '%-22s %10s %10s %10s %10s\n' "hostile load" "$ok/$total" "$p50" "$p99" "$max"
echo "hostile pipelined answers: $(cat "$work/hostile.out")"
echo "closed at accept (source full): $(metric rsagent_http_source_full_total); by a deadline: $(metric rsagent_http_timeouts_total)"
echo "daemon peak RSS: $(( $(rss_peak) / 1024 )) MiB; 'too many open files' in the log: $emfile line(s)"
echo "the 1 s check during the hostile phase: $((probes_after - probes_before)) probes in ${duration} s"

if [ -z "${ENDPOINT_ONLY:-}" ]; then
  for part in gate_idle_bench.sh arp_guard_flood_bench.sh check_deadline_bench.sh; do
    echo
    bash "tests/bench/$part" "$(dirname "$bin")"
  done
fi
