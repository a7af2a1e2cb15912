#!/usr/bin/env bash
# End-to-end facts of the DR lab (ctest label e2e), asserted, not narrated.
# Usage: e2e.sh RSAGENT_BIN. Needs root; builds and removes its own lab.
set -uo pipefail
bin="${1:?rsagent binary}"
here="$(cd "$(dirname "$0")" && pwd)"
labsh="$here/lab.sh"
lab="rsae2e$$"
sync_pid=""
. "$here/checks.sh"
need_root e2e
cleanup() {
  [ -n "$sync_pid" ] && kill "$sync_pid" 2>/dev/null
  bash "$labsh" down "$lab" >/dev/null 2>&1
}
trap cleanup EXIT

in_ns() { local n=$1; shift; ip netns exec "$lab-$n" "$@"; }
mac() { ip -n "$lab-$1" -j link show dev eth0 | sed 's/.*"address":"\([^"]*\)".*/\1/'; }
arp_macs() { in_ns client arping -i eth0 -c 3 -W 0.2 -w 2 -r "${1:-198.51.100.100}" 2>/dev/null | sort -u | tr '\n' ' '; }
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' '; }
agent() { local n=$1; shift; in_ns "$n" "$bin" --config "/run/$lab/$n/rsagent.json" --state-dir "/run/$lab/$n/state" "$@"; }
wait_state() { for _ in $(seq 1 60); do grep -q "$1=$2" "/run/$lab/forwarding" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
answers() {  # n requests -> "rs1 rs2 FAILED ..." one word each
  for _ in $(seq 1 "$1"); do in_ns client curl -s --max-time 2 "${2:-http://198.51.100.100/}" || echo FAILED; done
}

bash "$labsh" up "$lab" "$bin" || exit 1
flux="$(sorted "$(mac director)" "$(mac rs1)" "$(mac rs2)")"
check "before rsagent, the real servers answer ARP for the VIP (flux)" test "$(arp_macs)" = "$flux"

bash "$labsh" agents-start "$lab" >/dev/null || exit 1
bash "$labsh" sync "$lab" &
sync_pid=$!
wait_state rs1 UP && wait_state rs2 UP
check "with the agents running, only the director answers ARP for the VIP" test "$(arp_macs)" = "$(mac director) "

# A real server that must resolve the client ARPs with its own address.
in_ns rs1 ip neigh flush dev eth0
in_ns rs2 ip neigh flush dev eth0
td=()
for n in rs1 rs2; do
  in_ns "$n" timeout 4 tcpdump -p -n -l -i eth0 'arp and arp[6:2] == 1' >"/run/$lab/arp-$n" 2>/dev/null &
  td+=($!)
done
sleep 0.5
answers 6 >/dev/null
wait "${td[@]}"
check "ARP requests from the real servers carry their own address, never the VIP" \
  sh -c "cat /run/$lab/arp-rs1 /run/$lab/arp-rs2 | grep -q 'tell 203.0.113.1[12]' && ! cat /run/$lab/arp-rs1 /run/$lab/arp-rs2 | grep -q 'tell 198.51.100.100'"

# Who answers, and along which path: the client sees responses from the
# real servers' MACs, never from the director's.
in_ns client timeout 5 tcpdump -p -n -e -l -i eth0 'src host 198.51.100.100 and src port 80' >"/run/$lab/resp" 2>/dev/null &
td=$!
sleep 0.5
out="$(answers 20 | sort -u | tr '\n' ' ')"
wait "$td"
check "requests are answered by both real servers" test "$out" = "rs1 rs2 "
check "responses come straight from the real servers, none through the director" \
  sh -c "grep -q '$(mac rs1)' /run/$lab/resp && grep -q '$(mac rs2)' /run/$lab/resp && ! grep -q '$(mac director) >' /run/$lab/resp"

bash "$labsh" web-stop "$lab" rs1 2>/dev/null
t0=$(date +%s%N)
wait_state rs1 DOWN
echo "  rs1 out of rotation $(( ($(date +%s%N) - t0) / 1000000 )) ms after its service died (bound: fall 2 x 200 ms + HAProxy 200 ms + sync 200 ms)"
out="$(answers 12 | sort -u | tr '\n' ' ')"
check "after rs1's service dies every new request is answered by rs2 and none fails" test "$out" = "rs2 "
bash "$labsh" web-start "$lab" rs1
wait_state rs1 UP
out="$(answers 20 | sort -u | tr '\n' ' ')"
check "after it returns both answer again" test "$out" = "rs1 rs2 "

# An open connection to rs2 survives its drain.
in_ns client bash -c '
  exec 3<>/dev/tcp/198.51.100.100/80
  first=""
  for i in $(seq 1 20); do
    printf "GET / HTTP/1.1\r\nHost: lab\r\n\r\n" >&3
    IFS= read -r -t 2 status <&3
    while IFS= read -r -t 2 line <&3 && [ "${line%$'"'"'\r'"'"'}" != "" ]; do :; done
    IFS= read -r -t 2 body <&3
    echo "$body"
    [ "$i" = 1 ] && touch '"/run/$lab/opened"' && sleep 1.5
  done
' >"/run/$lab/keepalive" 2>&1 &
ka=$!
for _ in $(seq 1 30); do [ -e "/run/$lab/opened" ] && break; sleep 0.1; done
server="$(head -1 "/run/$lab/keepalive")"
agent "$server" drain --reason e2e >/dev/null
wait_state "$server" DRAIN
wait "$ka"
other=rs1; [ "$server" = rs1 ] && other=rs2
check "a connection open to $server before its drain keeps being answered by it" \
  test "$(sort -u "/run/$lab/keepalive" | tr '\n' ' ')" = "$server "
out="$(answers 12 | sort -u | tr '\n' ' ')"
check "while $server is drained new requests go to $other" test "$out" = "$other "
agent "$server" ready >/dev/null
wait_state "$server" UP

# IPv6: the VIP6 through the director; no real server answers NS for it.
out="$(answers 20 'http://[2001:db8::100]/' | sort -u | tr '\n' ' ')"
check "the IPv6 VIP is reachable through the director and answered by both (got: $out)" test "$out" = "rs1 rs2 "
in_ns client ip -6 neigh flush dev eth0
in_ns client timeout 3 tcpdump -p -n -e -l -i eth0 'icmp6 and ip6[40] == 136' >"/run/$lab/na" 2>/dev/null &
td=$!
sleep 0.5
in_ns client curl -s --max-time 2 "http://[2001:db8::100]/" >/dev/null
wait "$td"
check "neighbour advertisements for the VIP6 come only from the director" \
  sh -c "grep -q '$(mac director) >' /run/$lab/na && ! grep -q '$(mac rs1) >' /run/$lab/na && ! grep -q '$(mac rs2) >' /run/$lab/na"

# The route-mode VIP range 198.51.100.112/28: one local route on each real
# server's lo serves every address in it.
range_ok=yes
for a in 198.51.100.113 198.51.100.120 198.51.100.126; do
  [ "$(arp_macs "$a")" = "$(mac director) " ] || range_ok=no
done
check "ARP for addresses of the route-mode range is answered only by the director" test "$range_ok" = yes
in_ns client timeout 6 tcpdump -p -n -e -l -i eth0 'src net 198.51.100.112/28 and src port 80' >"/run/$lab/range" 2>/dev/null &
td=$!
sleep 0.5
out=""
for a in 198.51.100.113 198.51.100.120 198.51.100.126; do
  got="$(answers 10 "http://$a/" | sort -u | tr '\n' ' ')"
  echo "  $a answered by: $got"
  out+="$got"
done
wait "$td"
check "several addresses of the range are reachable through the director and answered by both (got: $out)" \
  test "$(echo "$out" | tr ' ' '\n' | grep . | sort -u | tr '\n' ' ')" = "rs1 rs2 "
check "responses from the range come straight from the real servers, none through the director" \
  sh -c "grep -q '$(mac rs1)' /run/$lab/range && grep -q '$(mac rs2)' /run/$lab/range && ! grep -q '$(mac director) >' /run/$lab/range"
check "the range is a local route on the real servers' lo, not an address" \
  sh -c "ip -n $lab-rs1 route show table local | grep -q '^local 198.51.100.112/28 dev lo' && ! ip -n $lab-rs1 addr show dev lo | grep -q 198.51.100.11[2-9]"

kill "$sync_pid" 2>/dev/null
sync_pid=""
bash "$labsh" agents-stop "$lab" >/dev/null
check "after rsagent stop the real servers answer ARP for the VIP again" test "$(arp_macs)" = "$flux"
check "after rsagent stop the range is no longer local on the real servers" \
  sh -c "! ip -n $lab-rs1 route show table local | grep -q 198.51.100.112 && ! ip -n $lab-rs2 route show table local | grep -q 198.51.100.112"

finish
