#!/usr/bin/env bash
# The demo: a whole LVS direct-routing cluster in network namespaces (never
# the host's network) - a client, a director (nftables forwarding at layer 2,
# HAProxy checking rsagent) and two real servers running rsagent - narrated
# with the evidence under each line. Installs what is needed and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
. tests/lib.sh
bash tests/install-deps.sh >/dev/null
echo "==> building rsagent"
build_release build-demo
bin="$root/build-demo/rsagent"
lab="rsademo$$"
labsh="$root/tests/lab/lab.sh"
sync_pid=""
cleanup() {
  [ -n "$sync_pid" ] && kill "$sync_pid" 2>/dev/null || true
  bash "$labsh" down "$lab" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() { sed 's/^/    /'; }
in_ns() { local n=$1; shift; ip netns exec "$lab-$n" "$@"; }
mac() { ip -n "$lab-$1" -j link show dev eth0 | sed 's/.*"address":"\([^"]*\)".*/\1/'; }
who_answers_arp() {
  local m out=""
  for m in $(in_ns client arping -i eth0 -c 3 -W 0.2 -w 2 -r 198.51.100.100 2>/dev/null | sort -u); do
    for n in director rs1 rs2; do [ "$m" = "$(mac "$n")" ] && out+="$n ($m)  "; done
  done
  echo "${out:-nobody}"
}
requests() {  # n requests from the client; prints who answered, counted
  for _ in $(seq 1 "$1"); do in_ns client curl -s --max-time 2 "$2" || echo "FAILED"; done | sort | uniq -c
}
agent() { local n=$1; shift; in_ns "$n" "$bin" --config "/run/$lab/$n/rsagent.json" --state-dir "/run/$lab/$n/state" "$@"; }
wait_state() {  # server, state prefix: until HAProxy (and so the forwarding map) agrees
  for _ in $(seq 1 50); do grep -q "$1=$2" "/run/$lab/forwarding" 2>/dev/null && return 0; sleep 0.1; done
}

start=$(date +%s)
say "1. A DR cluster in namespaces: client 203.0.113.10, director 203.0.113.1, real servers rs1 .11 and rs2 .12 on one bridge; VIP 198.51.100.100 (and 2001:db8::100)."
bash "$labsh" up "$lab" "$bin"
echo "    Each real server holds the VIP on lo, as the copied init script leaves it:" 
ip -n "$lab-rs1" addr show dev lo | grep 198.51 | show

say "2. Before rsagent: who answers ARP for the VIP? (ARP flux: the real servers steal the director's traffic)"
echo "    $(who_answers_arp)"

say "3. rsagent start on both real servers (it adopts the VIPs, adds host routes, sets arp_ignore/arp_announce)"
bash "$labsh" agents-start "$lab" | show
bash "$labsh" sync "$lab" &
sync_pid=$!
echo "    (HAProxy on the director checks each rsagent; a loop turns its server states into the nftables forwarding map)"
echo "    rs1 after start:"
{ ip -n "$lab-rs1" route show table main | grep 198.51; in_ns rs1 sh -c 'grep -H . /proc/sys/net/ipv4/conf/{all,lo}/arp_ignore /proc/sys/net/ipv4/conf/{all,lo}/arp_announce 2>/dev/null || for f in all lo; do echo "$f: $(cat /proc/sys/net/ipv4/conf/$f/arp_ignore) $(cat /proc/sys/net/ipv4/conf/$f/arp_announce)"; done'; } | sed 's/proto 244/proto 244 (rsagent)/' | show
wait_state rs1 UP; wait_state rs2 UP
echo "    Now ARP for the VIP is answered by: $(who_answers_arp)"

say "4. The client's requests to the VIP are spread over both real servers"
requests 12 http://198.51.100.100/ | show
echo "    and over IPv6:"
requests 6 "http://[2001:db8::100]/" | show

say "5. Responses go straight from the real server to the client: the source MACs of the VIP's responses, as the client sees them:"
in_ns client timeout 3 tcpdump -p -n -e -l -i eth0 'src host 198.51.100.100 and src port 80' 2>/dev/null >"/run/$lab/td" &
td=$!
sleep 0.5
requests 6 http://198.51.100.100/ >/dev/null
wait "$td" || true
for n in rs1 rs2 director; do
  echo "    from $n ($(mac "$n")): $(grep -c "^[^ ]* $(mac "$n") >" "/run/$lab/td") packets"
done

say "6. Someone plugs in a third real server, rs3, set up by hand: the VIP on lo, but no arp_ignore (ARP flux). rs1's rsagent probes the segment and names it:"
bash "$labsh" host-add "$lab" rs3 203.0.113.13 2001:db8:1::13
in_ns rs3 ip addr add 198.51.100.100/32 dev lo label lo:0
in_ns rs3 curl -s -o /dev/null --max-time 2 http://203.0.113.11:9799/healthz || true  # rs1 learns rs3's address from its ARP
responders() {  # rs1's view of who answers for the VIP on eth0, as /status has it
  in_ns rs1 curl -s http://127.0.0.1:9799/status | jq -r '.arp_guard.segments[] |
    select(.vip == "198.51.100.100" and .interface == "eth0") | .responders[] | "\(.mac) \(.ip // "?")"'
}
name_of() { for n in director rs1 rs2 rs3; do [ "$1" = "$(mac "$n")" ] && echo "$n"; done; }
show_responders() {
  local m ip
  while read -r m ip; do echo "    $m ($ip) = $(name_of "$m")"; done < <(responders)
  in_ns rs1 curl -s http://127.0.0.1:9799/metrics | grep '^rsagent_arp_responders{vip="198.51.100.100"' | show
}
for _ in $(seq 1 100); do [ "$(responders | wc -l)" -ge 2 ] && break; sleep 0.1; done
show_responders
echo "    (rs1 also logs a warning naming the VIP, eth0 and both MACs; rs1 itself stays ready: the fault is rs3's)"
echo "    The operator fixes rs3 (arp_ignore=1), and rs1 sees one responder again:"
in_ns rs3 sysctl -q -w net.ipv4.conf.all.arp_ignore=1
for _ in $(seq 1 100); do [ "$(responders | wc -l)" -eq 1 ] && break; sleep 0.1; done
show_responders

say "7. rs1's web service dies: rsagent's check fails, HAProxy marks rs1 DOWN, the director stops sending to it"
bash "$labsh" web-stop "$lab" rs1 2>/dev/null
wait_state rs1 DOWN
in_ns rs1 curl -s -i http://127.0.0.1:9799/healthz | grep -E "^HTTP|X-Rsagent" | show
requests 8 http://198.51.100.100/ | show
bash "$labsh" web-start "$lab" rs1
wait_state rs1 UP
echo "    service back: rs1 is UP again"
requests 8 http://198.51.100.100/ | show

say "8. rsagent drain on rs2 (before maintenance): HAProxy shows DRAIN, new requests go to rs1"
agent rs2 drain --reason "kernel upgrade" | show
wait_state rs2 DRAIN
requests 8 http://198.51.100.100/ | show
agent rs2 ready | show
wait_state rs2 UP

say "9. rsagent stop: the VIPs it adopted stay, the ARP sysctls go back - and the ARP flux is back (what rsagent fixed)"
kill "$sync_pid" 2>/dev/null || true
sync_pid=""
bash "$labsh" agents-stop "$lab" | show
echo "    ARP for the VIP is answered by: $(who_answers_arp)"
say "Done in $(( $(date +%s) - start )) s; every namespace is removed on exit."
