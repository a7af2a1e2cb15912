#!/usr/bin/env bash
# The tunnel lab (ctest labels e2e and lab): LVS-TUN, Katran or GLB style, in
# network namespaces, asserted, not narrated.
#
#   client 203.0.113.10 ─┐ front                 back ┌─ rs1 198.51.100.11
#   director 203.0.113.1 ├─ br0 ── router ── br1 ─────┤
#                        ┘  203.0.113.254  198.51.100.1 └─ rs2 198.51.100.12
#
# The client routes the VIP 198.51.100.100 to the director, which routes it
# into a TUN device; `ipip_tun encap` wraps each packet in IPIP towards a
# real server (a flow hash picks rs1 or rs2) through the router. Each real
# server's tunl0 is a TUN device driven by `ipip_tun decap` (this kernel has
# no ipip module): the inner packet arrives on tunl0 with the client's
# source, which the real server routes out of eth0, so strict rp_filter
# drops it. Responses go from the VIP on lo straight to the client through
# the router, never through the director. Every link has a 1500-byte MTU,
# so an inner packet of 1500 bytes does not fit the tunnel: the director
# drops it (DF) and no ICMP reaches the client, the black hole that only an
# MSS clamp on the real server avoids.
#
# Usage: tunnel.sh RSAGENT_BIN IPIP_TUN_BIN. Needs root; builds and removes
# its own namespaces (rsatunPID-*); documentation addresses only.
set -uo pipefail
bin="${1:?rsagent binary}"
tun="${2:?ipip_tun binary}"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/checks.sh"
need_root "tunnel lab"
lab="rsatun$$"
dir="/run/$lab"
vip=198.51.100.100
declare -A addr=([client]=203.0.113.10 [director]=203.0.113.1 [rs1]=198.51.100.11 [rs2]=198.51.100.12)
nodes=(switch client director router rs1 rs2)

ns() { echo "$lab-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
sysctl_in() { in_ns "$1" sysctl -qw "$2" >/dev/null; }

cleanup() {
  for n in "${nodes[@]}"; do
    if ip netns list | grep -qw "$(ns "$n")"; then
      for p in $(ip netns pids "$(ns "$n")"); do kill -9 "$p" 2>/dev/null || true; done
      ip netns del "$(ns "$n")" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir"

# A node on a bridge of the switch namespace: eth0, its address, up.
attach() {
  local n=$1 br=$2 port=$3 cidr=$4 dev=${5:-eth0}
  ip -n "$(ns switch)" link add "$port" type veth peer name "$dev" netns "$(ns "$n")"
  ip -n "$(ns switch)" link set "$port" master "$br" up
  ip -n "$(ns "$n")" addr add "$cidr" dev "$dev"
  ip -n "$(ns "$n")" link set "$dev" up
}

# A process in a namespace, in the background, its output in $dir/NAME.log.
spawn() {
  local n=$1 log=$2
  shift 2
  in_ns "$n" "$@" >"$dir/$log.log" 2>&1 &
}

wait_for() {  # tries (0.1 s each), then a command that must succeed
  local tries=$1
  shift
  for _ in $(seq 1 "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

for n in "${nodes[@]}"; do
  ip netns add "$(ns "$n")"
  ip -n "$(ns "$n")" link set lo up
done
for n in client director router; do
  # A new namespace inherits the host's IPv4 defaults: say what this lab needs.
  sysctl_in "$n" net.ipv4.conf.all.rp_filter=0
  sysctl_in "$n" net.ipv4.conf.default.rp_filter=0
done
for n in rs1 rs2; do
  # Debian's default: strict reverse-path filtering through all.
  sysctl_in "$n" net.ipv4.conf.all.rp_filter=1
  sysctl_in "$n" net.ipv4.conf.default.rp_filter=1
done
ip -n "$(ns switch)" link add br0 type bridge
ip -n "$(ns switch)" link add br1 type bridge
ip -n "$(ns switch)" link set br0 up
ip -n "$(ns switch)" link set br1 up
attach client br0 p-client "${addr[client]}/24"
attach director br0 p-director "${addr[director]}/24"
attach router br0 p-router0 203.0.113.254/24 eth0
attach router br1 p-router1 198.51.100.1/26 eth1
attach rs1 br1 p-rs1 "${addr[rs1]}/26"
attach rs2 br1 p-rs2 "${addr[rs2]}/26"
sysctl_in router net.ipv4.ip_forward=1
sysctl_in director net.ipv4.ip_forward=1
ip -n "$(ns client)" route add "$vip/32" via "${addr[director]}"
ip -n "$(ns director)" route add default via 203.0.113.254
for n in rs1 rs2; do ip -n "$(ns "$n")" route add default via 198.51.100.1; done

# The director: the VIP routed into its encapsulator's TUN device.
spawn director encap "$tun" encap ipipenc "${addr[rs1]}" "${addr[rs2]}"
wait_for 50 ip -n "$(ns director)" link show dev ipipenc || { echo "the encapsulator did not start"; cat "$dir/encap.log"; exit 1; }
ip -n "$(ns director)" link set ipipenc up
ip -n "$(ns director)" route add "$vip/32" dev ipipenc

# The real servers: tunl0 up (the operator's half of the recipe: the module
# loaded, the device up), the VIP on lo as a copied init script leaves it,
# the service answering its own name; rsagent not running.
for n in rs1 rs2; do
  spawn "$n" "decap-$n" "$tun" decap tunl0
  wait_for 50 ip -n "$(ns "$n")" link show dev tunl0 || { echo "$n: the decapsulator did not start"; exit 1; }
  ip -n "$(ns "$n")" link set tunl0 up
  ip -n "$(ns "$n")" addr add "$vip/32" dev lo
  spawn "$n" "web-$n" "$tun" serve 80 "$n"
  mkdir -p "$dir/$n"
  cat >"$dir/$n/rsagent.json" <<JSON
{
  "vips": ["$vip"],
  "tunnel": {"device": "tunl0", "mss": 1440},
  "health": {
    "listen": ["0.0.0.0:9799"],
    "allow": ["203.0.113.0/24", "127.0.0.0/8"],
    "checks": [{"name": "web", "type": "http", "url": "http://127.0.0.1:80/", "contains": "$n",
                "interval": "1s", "timeout": "900ms", "rise": 1, "fall": 2}]
  }
}
JSON
  sed 's/, "mss": 1440//' "$dir/$n/rsagent.json" >"$dir/$n/rsagent-noclamp.json"
done
for n in rs1 rs2; do
  wait_for 50 in_ns "$n" sh -c "ss -Hltn 'sport = :80' | grep -q 80" || { echo "$n: no web server"; exit 1; }
done

agent() { local n=$1; shift; in_ns "$n" "$bin" --config "$dir/$n/rsagent.json" --state-dir "$dir/$n/state" "$@"; }
answers() {  # COUNT -> one word per request: the server's name, or FAILED
  for _ in $(seq 1 "$1"); do in_ns client curl -s --max-time "${2:-5}" "http://$vip/" | cut -d' ' -f1 || echo FAILED; done
}
rp_drops() {  # the namespace's TcpExtIPReversePathFilter
  in_ns "$1" awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) k[i] = $i; h = 1 }
    else for (i = 1; i <= NF; i++) if (k[i] == "IPReversePathFilter") print $i }' /proc/net/netstat
}
# Everything rsagent may touch on a real server, less each link's qdisc
# (the kernel attaches a default one the first time a device goes up).
snapshot() {
  echo "== sysctl"
  in_ns "$1" sysctl -a 2>/dev/null | grep -E '^net\.ipv(4|6)\.conf\.'
  echo "== link"
  in_ns "$1" ip -d link | sed 's/ qdisc [a-z_]*//'
  echo "== addr"
  in_ns "$1" ip -d addr | sed 's/ qdisc [a-z_]*//'
  echo "== routes"
  in_ns "$1" ip route show table all
  in_ns "$1" ip -6 route show table all
  echo "== nft"
  in_ns "$1" nft list ruleset
}
settled() { ! in_ns "$1" ip addr | grep -q tentative; }
upload() {  # SECONDS -> the answer to a 1 MB POST, or FAILED
  in_ns client curl -s --max-time "$1" -H 'Expect:' --data-binary "@$dir/upload.bin" "http://$vip/" || echo FAILED
}
head -c 1048576 /dev/zero >"$dir/upload.bin"

# (a) rsagent stopped, rp_filter strict: the decapsulated packets are dropped.
drops0=$(( $(rp_drops rs1) + $(rp_drops rs2) ))
out="$(answers 4 3 | sort -u | tr '\n' ' ')"
check "with rsagent stopped and rp_filter=1, every request through the tunnel fails" test "$out" = "FAILED "
drops1=$(( $(rp_drops rs1) + $(rp_drops rs2) ))
echo "  TcpExtIPReversePathFilter on rs1+rs2: $drops0 -> $drops1"
check "and the real servers count them as reverse-path drops (TcpExtIPReversePathFilter)" test "$drops1" -gt "$drops0"

# (d, before) the real servers as they are without rsagent.
for n in rs1 rs2; do
  wait_for 100 settled "$n"
  snapshot "$n" >"$dir/$n/before"
done

# (b) rsagent running: both servers answer, and not through the director.
for n in rs1 rs2; do
  check "$n: rsagent starts in tunnel mode, adopting the TUN device tunl0" agent "$n" start
done
[ "$failed" -eq 0 ] || { finish; exit 1; }
for n in rs1 rs2; do
  check "$n: rsagent answers ready in tunnel mode" \
    wait_for 150 in_ns "$n" sh -c "curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:9799/healthz | grep -q 200"
  check "$n: tunl0 rp_filter is loose and tunl0 has 127.0.0.42/32" \
    sh -c "[ \"\$(ip netns exec $(ns "$n") sysctl -n net.ipv4.conf.tunl0.rp_filter)\" = 2 ] && ip -n $(ns "$n") -4 addr show dev tunl0 | grep -q '127.0.0.42/32'"
done
in_ns director timeout 8 tcpdump -p -n -l -i eth0 "host $vip" >"$dir/resp-director" 2>/dev/null &
td1=$!
in_ns client timeout 8 tcpdump -p -n -e -l -i eth0 "src host $vip" >"$dir/resp-client" 2>/dev/null &
td2=$!
sleep 1
out="$(answers 20 | sort -u | tr '\n' ' ')"
wait "$td1" "$td2"
router_mac="$(ip -n "$(ns router)" -j link show dev eth0 | sed 's/.*"address":"\([^"]*\)".*/\1/')"
check "with rsagent running, requests through the tunnel are answered by both real servers" test "$out" = "rs1 rs2 "
check "responses reach the client from the router (straight from the real servers)" grep -q "$router_mac >" "$dir/resp-client"
check "the director sees the requests and never a response" \
  sh -c "grep -q '> $vip.80' '$dir/resp-director' && ! grep -q 'IP $vip' '$dir/resp-director'"
echo "  packets from the VIP seen: by the client $(grep -c "$vip.80 >" "$dir/resp-client"), by the director $(grep -c "IP $vip" "$dir/resp-director") (and $(grep -c "> $vip.80" "$dir/resp-director") to it)"

# Attribution: the SYNs came in IPIP through the router, so their sender is
# the outer source address (the director), not the router's MAC.
tunnelled_sender() {  # the real server's directors row for the director, as "ADDRESS TUNNELLED SYNS"
  agent "$1" status --json 2>/dev/null | sed -n '/^{/,$p' |
    jq -r '.directors[] | select(.address == "203.0.113.1") | "\(.address) \(.sends.tunnelled) \(.sends.syns_total)"'
}
for n in rs1 rs2; do
  row="$(tunnelled_sender "$n")"
  echo "  $n: directors row: $row"
  check "$n: status names the director's outer address as the sender of new connections in IPIP" \
    sh -c "echo '$row' | grep -Eq '^203\.0\.113\.1 true [1-9]'"
done
check "rsagent status prints the tunnelled director" \
  sh -c "ip netns exec $(ns rs1) '$bin' --config '$dir/rs1/rsagent.json' --state-dir '$dir/rs1/state' status | grep -q 'in IPIP, from this address'"

# A deleted clamp table is put back (on nftables' own event; the periodic
# check is the fallback, every 5 s).
in_ns rs1 nft delete table inet rsagent_tunnel
t0=$(date +%s%N)
check "rs1: a deleted MSS clamp table is put back" wait_for 200 in_ns rs1 nft list table inet rsagent_tunnel
echo "  put back $(( ($(date +%s%N) - t0) / 1000000 )) ms after its deletion (polled every 100 ms)"

# (c) a 1 MB upload: through with the clamp, stalled without it.
out="$(upload 60)"
check "a 1 MB upload with DF passes with the MSS clamp (answer: $out)" sh -c "echo '$out' | grep -Eq '^rs[12] 1048576$'"
for n in rs1 rs2; do
  cp "$dir/$n/rsagent-noclamp.json" "$dir/$n/rsagent.json.tmp"
  mv "$dir/$n/rsagent.json" "$dir/$n/rsagent-clamp.json"
  mv "$dir/$n/rsagent.json.tmp" "$dir/$n/rsagent.json"
  agent "$n" reload >/dev/null 2>&1 || echo "$n: reload without the clamp failed"
done
check "reloaded without mss, the clamp table is gone" \
  sh -c "! ip netns exec $(ns rs1) nft list table inet rsagent_tunnel >/dev/null 2>&1 && ! ip netns exec $(ns rs2) nft list table inet rsagent_tunnel >/dev/null 2>&1"
before_drops=$(grep -c oversized "$dir/encap.log")
out="$(upload 20)"
check "without the clamp the same upload stalls (curl gives up: $out)" test "$out" = FAILED
echo "  the director dropped $(( $(grep -c oversized "$dir/encap.log") - before_drops )) packets too big for the tunnel"
check "because the director drops its full-size segments that do not fit the tunnel" \
  test "$(grep -c oversized "$dir/encap.log")" -gt "$before_drops"
for n in rs1 rs2; do
  mv "$dir/$n/rsagent-clamp.json" "$dir/$n/rsagent.json"
  agent "$n" reload >/dev/null 2>&1 || echo "$n: reload with the clamp failed"
done
out="$(upload 60)"
check "with the clamp back, the upload passes again (answer: $out)" sh -c "echo '$out' | grep -Eq '^rs[12] 1048576$'"

# (d) stop restores every sysctl, address, route and rule byte for byte.
for n in rs1 rs2; do
  agent "$n" stop >/dev/null 2>&1
  snapshot "$n" >"$dir/$n/after"
  if ! diff "$dir/$n/before" "$dir/$n/after" >"$dir/$n/diff"; then cat "$dir/$n/diff"; fi
  echo "  $n: $(wc -l <"$dir/$n/before") lines compared"
  check "$n: rsagent stop leaves sysctls, links, addresses, routes and nftables as before start" \
    cmp -s "$dir/$n/before" "$dir/$n/after"
done
out="$(answers 2 3 | sort -u | tr '\n' ' ')"
check "after stop, requests through the tunnel fail again (rp_filter strict)" test "$out" = "FAILED "

finish
