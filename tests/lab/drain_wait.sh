#!/usr/bin/env bash
# `rsagent drain --wait` in the DR lab with two directors (ctest label e2e):
# each sends clients to rs1 and rs2 through its own HAProxy and forwarding.
# With both checking rsagent, drain --wait on rs1 returns 0 once both saw
# the drain and new connections went to rs2, for the IPv4 VIP, an address
# of the route-mode range and the IPv6 VIP. With the second director's
# checker on the service port (it never sees a drain), drain --wait times
# out naming it as still sending, rs1 counts a drain violation and its log
# names it; once its checker is fixed, drain --wait returns 0. A graceful
# stop with stop.drain waits for the same confirmation.
# Usage: drain_wait.sh RSAGENT_BIN. Needs root; builds and removes its own lab.
set -uo pipefail
bin="${1:?rsagent binary}"
here="$(cd "$(dirname "$0")" && pwd)"
labsh="$here/lab.sh"
lab="rsadw$$"
dir="/run/$lab"
d2=203.0.113.2
pids=()
. "$here/checks.sh"
need_root drain_wait
lab_preamble
metric() {  # the value of one series of rs1's /metrics, or nothing
  in_ns rs1 curl -s --max-time 2 http://127.0.0.1:9799/metrics | awk -v s="$1" '$1 == s {print $2}'
}
wait_for() {  # seconds, then a command that must come true
  local s=$1
  shift
  for _ in $(seq 1 $((s * 10))); do "$@" && return 0; sleep 0.1; done
  return 1
}
# state_is FORWARDING-FILE SERVER STATE
state_is() { grep -q "$2=$3" "$dir/$1" 2>/dev/null; }
both_up() {
  for f in forwarding forwarding-director2; do
    state_is "$f" rs1 UP && state_is "$f" rs2 UP || return 1
  done
}
answers() {  # CLIENT N URL -> the servers that answered, sorted, unique
  for _ in $(seq 1 "$2"); do in_ns "$1" curl -s --max-time 2 "$3" || echo FAILED; done | sort -u | tr '\n' ' '
}
# Clients through both directors, one new connection each per 100 ms, to
# URL, until stopped.
traffic_start() {
  local url=$1
  for c in client client2; do
    (while true; do in_ns "$c" curl -s --max-time 1 -o /dev/null "$url"; sleep 0.1; done) &
    pids+=($!)
  done
  traffic=("${pids[@]: -2}")
}
traffic_stop() { kill "${traffic[@]}" 2>/dev/null; wait "${traffic[@]}" 2>/dev/null; }
has_line() { grep -q -- "$2" <<<"$1"; }  # OUTPUT PATTERN
# director2's row in rs1's /status: its current drain violation's count.
violation_count() {
  in_ns rs1 curl -s --max-time 2 http://127.0.0.1:9799/status |
    jq -r --arg a "$d2" '[.directors[] | select(.address == $a) | .violation.count // 0] | add // 0'
}
ready_again() {
  agent rs1 ready >/dev/null
  wait_for 10 both_up
}

bash "$labsh" up "$lab" "$bin" >/dev/null || exit 1
bash "$labsh" director2-add "$lab" || exit 1
# rs1 drains 20 s at most on a graceful stop, and runs in the foreground so
# that its log is a file here (the lab has no syslog).
jq '. + {stop: {drain: "20s"}}' "$dir/rs1/rsagent.json" >"$dir/rs1/rsagent.json.new" &&
  mv "$dir/rs1/rsagent.json.new" "$dir/rs1/rsagent.json"
# Not through in_ns: $! must be the daemon itself (ip netns exec and
# `rsagent run` exec in place), not a subshell. Ready is asked over the
# control socket: a GET of /healthz from here would be one more poller.
start_rs1() {
  ip netns exec "$lab-rs1" "$bin" --config "$dir/rs1/rsagent.json" --state-dir "$dir/rs1/state" run \
    >>"$dir/rs1.log" 2>&1 &
  rs1_pid=$!
  wait_for 20 sh -c "ip netns exec $lab-rs1 $bin --config $dir/rs1/rsagent.json --state-dir $dir/rs1/state status >/dev/null"
}
start_rs1 || exit 1
agent rs2 start >/dev/null || exit 1
for d in director director2; do
  bash "$labsh" sync "$lab" "$d" &
  pids+=($!)
done
wait_for 20 both_up || { echo "the directors never saw both servers up"; exit 1; }

# 1. Both directors check rsagent: drain --wait returns once both saw it.
for url in http://198.51.100.100/ http://198.51.100.115/ 'http://[2001:db8::100]/'; do
  traffic_start "$url"
  sleep 1
  out="$(agent rs1 drain --wait --timeout 60s 2>&1)"
  rc=$?
  echo "$out" | sed 's/^/  | /'
  check "drain --wait returns 0 with both directors healthy ($url)" test "$rc" = 0
  check "it names director 203.0.113.1 as having seen the drain ($url)" has_line "$out" '^203.0.113.1 (.*) saw the drain at'
  check "it names director2 as having seen the drain ($url)" has_line "$out" "^$d2 (.*) saw the drain at"
  traffic_stop
  check "afterwards new connections through either director go to rs2 only ($url)" \
    test "$(answers client 8 "$url")$(answers client2 8 "$url")" = "rs2 rs2 "
  ready_again || echo "  rs1 did not come back in both directors"
done

# 2. The second director checks the service port: it never sees a drain.
bash "$labsh" checker "$lab" director2 service
for url in http://198.51.100.100/ http://198.51.100.115/ 'http://[2001:db8::100]/'; do
  before="$(metric "rsagent_drain_violations_total{director=\"$d2\"}")"
  traffic_start "$url"
  sleep 1
  out="$(agent rs1 drain --wait --timeout 20s 2>&1)"
  rc=$?
  echo "$out" | sed 's/^/  | /'
  check "drain --wait --timeout 20s exits 1 while director2 ignores the drain ($url)" test "$rc" = 1
  check "it names director2 as still sending ($url)" has_line "$out" "^  $d2 (.*) still sends"
  check "rs1's /status shows director2 violating the drain ($url)" test "$(violation_count)" -gt 0
  after="$(metric "rsagent_drain_violations_total{director=\"$d2\"}")"
  check "rs1's drain violation counter for director2 rises ($url: ${before:-none} -> ${after:-none})" \
    test "${after:-0}" -gt "${before:-0}"
  traffic_stop
  ready_again || echo "  rs1 did not come back in both directors"
done
check "rs1's log names director2 as violating the drain" grep -q "$d2" "$dir/rs1.log"
grep "$d2" "$dir/rs1.log" | head -3 | sed 's/^/  log: /'

# 3. Fixed: drain --wait returns 0 again.
bash "$labsh" checker "$lab" director2 agent
wait_for 10 both_up
traffic_start http://198.51.100.100/
sleep 1
out="$(agent rs1 drain --wait --timeout 60s 2>&1)"
rc=$?
echo "$out" | sed 's/^/  | /'
traffic_stop
check "after director2's checker is fixed, drain --wait returns 0" test "$rc" = 0
check "and names director2 as having seen the drain" has_line "$out" "^$d2 (.*) saw the drain at"
ready_again

# 4. A graceful stop (stop.drain 20 s) waits for the same confirmation: it
# returns only after both directors took rs1 out, and with director2
# ignoring the drain it waits until stop.drain runs out.
watch_drain() {  # records when each director's forwarding shows rs1 drained
  rm -f "$dir/drained-director" "$dir/drained-director2"
  (while true; do
    state_is forwarding rs1 DRAIN && touch "$dir/drained-director"
    state_is forwarding-director2 rs1 DRAIN && touch "$dir/drained-director2"
    sleep 0.05
  done) &
  watcher=$!
}
traffic_start http://198.51.100.100/
watch_drain
sleep 1
kill -TERM "$rs1_pid"
wait "$rs1_pid"
both_saw=no
[ -e "$dir/drained-director" ] && [ -e "$dir/drained-director2" ] && both_saw=yes
kill "$watcher"
traffic_stop
check "a graceful stop returns only after both directors took rs1 out" test "$both_saw" = yes
check "and its log says both saw the drain" \
  sh -c "grep -q 'drain: 203.0.113.1 (.*) saw the drain' '$dir/rs1.log' && grep -q 'drain: $d2 (.*) saw the drain' '$dir/rs1.log'"

start_rs1 || exit 1
wait_for 10 both_up
bash "$labsh" checker "$lab" director2 service
wait_for 10 both_up
traffic_start http://198.51.100.100/
sleep 1
t0=$(date +%s)
kill -TERM "$rs1_pid"
wait "$rs1_pid"
took=$(($(date +%s) - t0))
traffic_stop
echo "  the stop took ${took} s with director2 ignoring the drain (stop.drain 20 s)"
check "with director2 ignoring the drain a graceful stop waits until stop.drain runs out" test "$took" -ge 19
check "and its log names what was not done" grep -q "drain: time is up; not confirmed: .*$d2 (.*) still sends" "$dir/rs1.log"

agent rs2 stop >/dev/null
finish
