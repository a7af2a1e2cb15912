#!/usr/bin/env bash
# The ARP guard in the DR lab (ctest label e2e), with real frames:
# a third real server without rsagent (rs3) joins the segment holding the
# VIP the way a forgotten init script leaves it, and rs1's ARP guard must name
# it; rs1 itself leaks a gratuitous ARP and must count it and, with
# on_leak "not-ready", be taken out by HAProxy. Asserts on /status,
# /metrics, /healthz, HAProxy's state and tcpdump, never on log text.
# Usage: arp_guard.sh RSAGENT_BIN. Needs root; builds and removes its own lab.
set -uo pipefail
bin="${1:?rsagent binary}"
here="$(cd "$(dirname "$0")" && pwd)"
labsh="$here/lab.sh"
lab="rsaag$$"
dir="/run/$lab"
vip=198.51.100.100
vip6=2001:db8::100
pids=()
. "$here/checks.sh"
need_root arp_guard
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  bash "$labsh" down "$lab" >/dev/null 2>&1
}
trap cleanup EXIT

in_ns() { local n=$1; shift; ip netns exec "$lab-$n" "$@"; }
mac() { ip -n "$lab-$1" -j link show dev eth0 | jq -r '.[0].address'; }
agent() { local n=$1; shift; in_ns "$n" "$bin" --config "$dir/$n/rsagent.json" --state-dir "$dir/$n/state" "$@"; }
status() { in_ns rs1 curl -s --max-time 2 http://127.0.0.1:9799/status; }
metric() {  # the value of one series of rs1's /metrics, or nothing
  in_ns rs1 curl -s --max-time 2 http://127.0.0.1:9799/metrics | awk -v s="$1" '$1 == s {print $2}'
}
# The MACs (sorted, space-separated) that answered rs1's last probe for VIP on eth0.
responders() {
  status | jq -r --arg v "$1" '.arp_guard.segments[] | select(.vip == $v and .interface == "eth0") |
    [.responders[].mac] | sort | join(" ")'
}
wait_for() {  # seconds, then a command that must come true
  local s=$1
  shift
  for _ in $(seq 1 $((s * 10))); do "$@" && return 0; sleep 0.1; done
  return 1
}
is() { [ "$(eval "$1")" = "$2" ]; }
state_is() { grep -q "$1=$2" "$dir/forwarding" 2>/dev/null; }
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }

# rs1 probes every second; rs2 keeps the defaults (it is not under test).
rs1_config() {  # on_leak [an extra VIP]
  jq --arg l "$1" --arg extra "${2:-}" '. + {arp_guard: {interval: "1s", window: "300ms", probes_per_second: 20,
    on_leak: $l}} | if $extra != "" then .vips += [$extra] else . end' \
    "$dir/rs1/rsagent.base.json" >"$dir/rs1/rsagent.json"
}

bash "$labsh" up "$lab" "$bin" >/dev/null || exit 1
cp "$dir/rs1/rsagent.json" "$dir/rs1/rsagent.base.json"
rs1_config warn
director="$(mac director)"
rs1mac="$(mac rs1)"

bash "$labsh" agents-start "$lab" >/dev/null || exit 1
# Every frame rs1 sends on the segment (its bridge port), from now until the
# leak test: the probes must never carry a VIP as sender.
in_ns switch tcpdump -p -n -e -l -i p2 "ether src $rs1mac and (arp or icmp6)" >"$dir/rs1-frames" 2>/dev/null &
pids+=($!)
bash "$labsh" sync "$lab" &
pids+=($!)
wait_for 30 state_is rs1 UP && wait_for 30 state_is rs2 UP

check "the ARP guard is on, watching eth0, probing" \
  is "status | jq -r '[.arp_guard.enabled, .arp_guard.probing, (.arp_guard.interfaces | join(\",\"))] | join(\" \")'" "true true eth0"
check "with a healthy segment, only the director answers for the VIP" wait_for 20 is "responders $vip" "$director"
check "and for the IPv6 VIP" wait_for 20 is "responders $vip6" "$director"
check "rsagent_arp_responders is 1" is "metric 'rsagent_arp_responders{vip=\"$vip\",interface=\"eth0\"}'" 1

# rs3: a real server set up by the copied init script without its ARP lines.
bash "$labsh" host-add "$lab" rs3 203.0.113.13 2001:db8:1::13
in_ns rs3 ip addr add "$vip/32" dev lo label lo:0
rs3mac="$(mac rs3)"
# One exchange with rs1, so that rs1 can learn rs3's address from its ARP.
in_ns rs3 curl -s -o /dev/null --max-time 2 http://203.0.113.11:9799/healthz
check "rs3 with the VIP on lo and arp_ignore=0: two responders, the director and rs3" \
  wait_for 20 is "responders $vip" "$(sorted "$director" "$rs3mac")"
check "rsagent_arp_responders is 2" is "metric 'rsagent_arp_responders{vip=\"$vip\",interface=\"eth0\"}'" 2
# rs3's own ARP came before it answered a probe, so its address comes from
# rs1's neighbour table, read at most every 10 s.
check "/status names rs3's address and a first and last seen for it" \
  wait_for 25 is "status | jq -r --arg m $rs3mac '.arp_guard.segments[] | select(.vip == \"$vip\") | .responders[] |
      select(.mac == \$m) | [.ip, (.first_seen > 0 and .last_seen >= .first_seen)] | map(tostring) | join(\" \")'" \
  "203.0.113.13 true"
check "flux is not rs1's fault: rs1 stays ready" is "in_ns rs1 curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9799/healthz" 200
in_ns rs3 sysctl -q -w net.ipv4.conf.all.arp_ignore=1
check "rs3 fixed (arp_ignore=1): one responder again" wait_for 20 is "responders $vip" "$director"
check "rsagent_arp_responders is 1 again" is "metric 'rsagent_arp_responders{vip=\"$vip\",interface=\"eth0\"}'" 1

in_ns rs3 ip addr add "$vip6/128" dev eth0 nodad
check "rs3 with the IPv6 VIP on its NIC: two responders, the director and rs3" \
  wait_for 20 is "responders $vip6" "$(sorted "$director" "$rs3mac")"
check "rsagent_arp_responders is 2 for the IPv6 VIP" \
  is "metric 'rsagent_arp_responders{vip=\"$vip6\",interface=\"eth0\"}'" 2
in_ns rs3 ip addr del "$vip6/128" dev eth0
in_ns rs3 ip addr add "$vip6/128" dev lo nodad
check "rs3 fixed (the IPv6 VIP on lo): one responder again" wait_for 20 is "responders $vip6" "$director"

kill "${pids[0]}" 2>/dev/null
wait "${pids[0]}" 2>/dev/null
check "rs1's probes went out: ARP who-has the VIP from rs1's own address" \
  grep -q "Request who-has $vip tell 203.0.113.11" "$dir/rs1-frames"
check "and neighbour solicitations for the IPv6 VIP" grep -q "neighbor solicitation, who has $vip6" "$dir/rs1-frames"
check "no frame rs1 sent carried a VIP as sender address (ARP) or source (IPv6)" \
  sh -c "! grep -E 'tell $vip|Reply $vip is-at|: $vip6 > ' '$dir/rs1-frames'"
check "no leak was counted while rsagent ran normally" is "status | jq '.arp_guard.leaks | length'" 0

# rs1 itself announces the VIP: the leak the self-watch exists for.
in_ns rs1 arping -q -U -S "$vip" -i eth0 -c 1 "$vip" >/dev/null 2>&1
check "arping -U -S VIP on rs1: a leak is counted on eth0" \
  wait_for 10 is "metric 'rsagent_arp_leaks_total{vip=\"$vip\",interface=\"eth0\"}'" 1
check "/status shows it as a gratuitous ARP" \
  is "status | jq -r '.arp_guard.leaks[0] | [.vip, .interface, .kind] | join(\",\")'" "$vip,eth0,gratuitous ARP"
check "with on_leak warn, rs1 stays ready" is "in_ns rs1 curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9799/healthz" 200

rs1_config not-ready 198.51.100.101
agent rs1 reload >/dev/null
check "after a reload on_leak is not-ready" is "status | jq -r .arp_guard.on_leak" not-ready
check "and the VIP the reload added is probed: nobody holds it, no responder" \
  wait_for 10 is "metric 'rsagent_arp_responders{vip=\"198.51.100.101\",interface=\"eth0\"}'" 0
in_ns rs1 arping -q -U -S "$vip" -i eth0 -c 1 "$vip" >/dev/null 2>&1
check "with on_leak not-ready, the leak makes /healthz 503" \
  wait_for 10 is "in_ns rs1 curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9799/healthz" 503
check "the leaks counter went on" is "metric 'rsagent_arp_leaks_total{vip=\"$vip\",interface=\"eth0\"}'" 2
check "HAProxy takes rs1 out" wait_for 10 state_is rs1 DOWN
check "60 s after the last leak rs1 is ready again (arp_guard::kLeakHold), and HAProxy puts it back" \
  wait_for 90 state_is rs1 UP

# Without CAP_NET_RAW the ARP guard is off, says why, and the rest works.
in_ns rs2 "$bin" --config "$dir/rs2/rsagent.json" --state-dir "$dir/rs2/state" stop >/dev/null
in_ns rs2 capsh --drop=cap_net_raw -- -c "exec '$bin' --config '$dir/rs2/rsagent.json' --state-dir '$dir/rs2/state' start" >/dev/null
check "rs2 without CAP_NET_RAW: the ARP guard is off and /status says the unit needs CAP_NET_RAW" \
  is "in_ns rs2 curl -s http://127.0.0.1:9799/status | jq -r '[.arp_guard.enabled, (.arp_guard.off_reason | test(\"CAP_NET_RAW\"))] | map(tostring) | join(\" \")'" \
  "false true"
check "and HAProxy has rs2 UP" wait_for 20 state_is rs2 UP

finish
