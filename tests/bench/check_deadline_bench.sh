#!/usr/bin/env bash
# Benchmark: an http check (timeout 1 s) against a local server that
# trickles its headers a byte every 0.5 s (20 s in all), in a namespace.
# Prints how long each probe took until the check had its verdict (the
# probe's own latency in /status), and how long `rsagent reload` (with a
# changed check, so the running probes are replaced) and `rsagent stop`
# take while such a probe runs: with timeout 1 s, and with timeout 30 s,
# where only the cancel can end the probe early.
# Usage: tests/bench/check_deadline_bench.sh [BUILD_DIR] (default: build-bench, built here)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
bin="$(bench_binary "${1:-}")"
work="$(mktemp -d /dev/shm/rsagent-bench-XXXXXX)"
ns="rsadl$$"
cleanup() {
  drop_netns "$ns"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$ns"
ip -n "$ns" link set lo up

cat >"$work/trickle.py" <<'PY'
import socket, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8080)); s.listen(64)
def serve(c):
    try:
        c.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(40):
            time.sleep(0.5); c.sendall(b"a")
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
ip netns exec "$ns" python3 "$work/trickle.py" & disown
for _ in $(seq 100); do
  [ -n "$(ip netns exec "$ns" ss -Htln '( sport = :8080 )')" ] && break
  sleep 0.05
done

config() {  # TIMEOUT INTERVAL
  cat >"$work/rsagent.json" <<J
{"vips": [], "health": {"checks": [{"name": "slow", "type": "http", "url": "http://127.0.0.1:8080/",
  "timeout": "$1", "interval": "$2", "rise": 1, "fall": 1}]}}
J
}
rsa() { ip netns exec "$ns" "$bin" --config "$work/rsagent.json" --state-dir "$work/state" "$@"; }
status() { ip netns exec "$ns" curl -s --max-time 5 http://127.0.0.1:9799/status; }
probing() { [ -n "$(ip netns exec "$ns" ss -Htn state established '( sport = :8080 )')" ]; }
wait_probing() { for _ in $(seq 200); do probing && return 0; sleep 0.05; done; return 1; }
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

check() {  # FIELD of the check's last probe, or its state
  status | python3 -c 'import json,sys
c=json.load(sys.stdin)["checks"][0]
print(c["state"] if sys.argv[1]=="state" else c.get("last",{}).get(sys.argv[1],""))' "$1"
}

run_case() {  # TIMEOUT INTERVAL NEXT_INTERVAL
  local timeout=$1 t0
  config "$timeout" "$2"
  rsa start >/dev/null
  if [ "$timeout" = 1s ]; then
    for _ in $(seq 100); do
      # Down with a result: before its first result a check is down too.
      [ "$(check state)" = down ] && [ -n "$(check latency_ms)" ] && break
      sleep 0.05
    done
    printf '%-40s %s ms (%s)\n' "probe start to down, timeout 1s" "$(check latency_ms)" "$(check output)"
  fi
  config "$timeout" "$3"  # a changed check: the reload replaces the running probe
  wait_probing
  local rc=0
  t0=$(date +%s%N); rsa reload >/dev/null 2>&1 || rc=$?
  printf '%-40s %s ms (exit %s)\n' "reload during a probe, timeout $timeout" "$(ms "$t0")" "$rc"
  wait_probing || true
  rc=0
  t0=$(date +%s%N); rsa stop >/dev/null 2>&1 || rc=$?
  printf '%-40s %s ms (exit %s)\n' "stop during a probe, timeout $timeout" "$(ms "$t0")" "$rc"
  # Whatever is left (a daemon that did not stop) goes before the next case.
  for p in $(ip netns pids "$ns"); do
    grep -q "^rsagent" "/proc/$p/comm" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
  done
  sleep 0.2
  rsa stop >/dev/null 2>&1 || true
}
run_case 1s 2s 3s
run_case 30s 60s 50s
