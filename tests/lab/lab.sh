#!/usr/bin/env bash
# The DR lab: a whole LVS direct-routing cluster in network namespaces.
#
#   client 203.0.113.10 ─┐
#   director 203.0.113.1 ├─ bridge (its own namespace)
#   rs1 203.0.113.11    ─┤   VIP 198.51.100.100 and 2001:db8::100
#   rs2 203.0.113.12    ─┘
#
# The director holds the VIPs on its NIC and forwards VIP:80 at layer 2 with
# the IP header unchanged, as IPVS DR does: nftables netdev ingress, `fwd ip
# to RIP`, keyed by a flow hash over the servers that are up; a flow keeps
# its server (a dynamic set per server) while that server is up or drained.
# HAProxy checks each real server's rsagent (/healthz and agent-check) and
# `lab.sh sync` turns its server states into that forwarding map. Each real
# server runs nginx answering its own name, and rsagent (its ARP flux
# ARP guard probing every 2 s, so that the lab shows a change at once).
#
# Usage: lab.sh up NAME RSAGENT_BIN | agents-start NAME | agents-stop NAME |
#        sync NAME [DIRECTOR] | host-add NAME HOST IPV4 IPV6 |
#        director2-add NAME | checker NAME DIRECTOR agent|service |
#        etcd-add NAME [BUDGET] | down NAME
# host-add puts one more host without rsagent on the bridge (e.g. a third
# real server set up by hand, for the ARP flux tests); down removes it too.
# director2-add adds a second director, 203.0.113.2 (the same forwarding,
# its own HAProxy), and client2, 203.0.113.20, whose route to the VIPs goes
# through it: two directors send to the same real servers, as with two LVS
# pairs or a backup that kept forwarding. `checker` points a director's
# HAProxy at rsagent (agent: /healthz and agent-check, as the first one)
# or at the service port alone (service: it never sees a drain);
# `sync NAME director2` runs its forwarding map.
# etcd-add starts etcd (Debian's etcd-server) at 203.0.113.5 on the bridge
# and gives rs1 and rs2 a fleet section in conf.d/fleet.json, with a drain
# budget of BUDGET (default 1); `rsagent reload` (or agents-start) takes it.
# NAME keeps two labs apart; everything lives under /run/NAME and in
# namespaces NAME-*. Documentation addresses only; nothing on the host.
set -euo pipefail

cmd="${1:?usage: lab.sh up|agents-start|agents-stop|sync|down NAME}"
name="${2:?lab name}"
dir="/run/$name"
vip=198.51.100.100
vip6=2001:db8::100
# A route-mode VIP range: each real server makes every address in it local
# with one local route on lo; the director answers ARP for it (a local route
# on its NIC, arp_ignore 0) and forwards it like the VIP.
vrange=198.51.100.112/28
nodes=(client director rs1 rs2)
declare -A ip4=([client]=203.0.113.10 [director]=203.0.113.1 [rs1]=203.0.113.11 [rs2]=203.0.113.12
  [director2]=203.0.113.2 [client2]=203.0.113.20)
declare -A ip6=([client]=2001:db8:1::10 [director]=2001:db8:1::1 [rs1]=2001:db8:1::11 [rs2]=2001:db8:1::12
  [director2]=2001:db8:1::2 [client2]=2001:db8:1::20)

ns() { echo "$name-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }

up() {
  local bin="${3:?rsagent binary}"
  mkdir -p "$dir"
  echo "$bin" >"$dir/rsagent-bin"
  ip netns add "$(ns switch)"
  ip -n "$(ns switch)" link add br0 type bridge
  ip -n "$(ns switch)" link set br0 up
  local i=0
  for n in "${nodes[@]}"; do
    add_node "$n" "p$i" "${ip4[$n]}" "${ip6[$n]}"
    i=$((i + 1))
  done
  # The client reaches the VIPs on its segment: it ARPs for them directly.
  ip -n "$(ns client)" route add 198.51.100.0/24 dev eth0
  ip -n "$(ns client)" -6 route add 2001:db8::/64 dev eth0
  # The director owns the VIPs on its NIC.
  ip -n "$(ns director)" addr add "$vip/32" dev eth0
  ip -n "$(ns director)" addr add "$vip6/128" dev eth0 nodad
  ip -n "$(ns director)" route add local "$vrange" dev eth0 table local
  # What the copied init script leaves on a real server, minus the ARP
  # tuning: the VIPs on lo. rsagent adopts them (and never removes them).
  for n in rs1 rs2; do
    ip -n "$(ns "$n")" addr add "$vip/32" dev lo label lo:0
    ip -n "$(ns "$n")" addr add "$vip6/128" dev lo nodad
    start_web "$n"
    write_agent_config "$n"
  done
  write_director director agent
  in_ns director nft -f "$dir/dr.nft"
  start_haproxy director
}

# Where a director's files live: the first one's at the top, as before.
ddir() { if [ "$1" = director ]; then echo "$dir"; else echo "$dir/$1"; fi; }

start_haproxy() {
  local d
  d="$(ddir "$1")"
  in_ns "$1" haproxy -f "$d/haproxy.cfg" -D -p "$d/haproxy.pid"
}

# A second director and a client that reaches the VIPs through it. It does
# not hold the VIPs (the first one answers ARP for them): client2 routes
# them to its address, and its ingress forwards them like the first one's.
director2_add() {
  for n in director2 client2; do
    echo "$n" >>"$dir/extra-hosts"
    add_node "$n" "p-$n" "${ip4[$n]}" "${ip6[$n]}"
  done
  ip -n "$(ns client2)" route add 198.51.100.0/24 via "${ip4[director2]}"
  ip -n "$(ns client2)" -6 route add 2001:db8::/64 via "${ip6[director2]}"
  mkdir -p "$dir/director2"
  write_director director2 agent
  in_ns director2 nft -f "$dir/director2/dr.nft"
  start_haproxy director2
}

# checker DIRECTOR agent|service: rewrite its HAProxy's checks and restart it.
checker() {
  local d="${3:?director}" how="${4:?agent or service}" d_dir
  d_dir="$(ddir "$d")"
  write_director "$d" "$how"
  if [ -f "$d_dir/haproxy.pid" ]; then
    kill "$(cat "$d_dir/haproxy.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$(cat "$d_dir/haproxy.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  start_haproxy "$d"
}

start_web() {
  local n=$1
  mkdir -p "$dir/$n"
  cat >"$dir/$n/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/$n/nginx.pid;
error_log $dir/$n/nginx.err;
events { worker_connections 256; }
http {
  access_log off;
  keepalive_timeout 60s;
  server {
    listen 0.0.0.0:80;
    listen [::]:80;
    location / { return 200 "$n\n"; }
  }
}
NGINX
  in_ns "$n" nginx -c "$dir/$n/nginx.conf" -p "$dir/$n"
}

stop_web() { in_ns "$1" nginx -c "$dir/$1/nginx.conf" -p "$dir/$1" -s stop; }

write_agent_config() {
  local n=$1
  cat >"$dir/$n/rsagent.json" <<JSON
{
  "vips": ["$vip", "$vip6", {"address": "$vrange", "mode": "route"}],
  "health": {
    "listen": ["0.0.0.0:9799"],
    "allow": ["203.0.113.0/24", "127.0.0.0/8"],
    "checks": [{"name": "web", "type": "http", "url": "http://127.0.0.1:80/", "contains": "$n",
                "interval": "200ms", "timeout": "150ms", "rise": 2, "fall": 2}],
    "agent_check": {"listen": "0.0.0.0:9798"}
  },
  "arp_guard": {"interval": "2s", "window": "500ms"}
}
JSON
}

# write_director DIRECTOR CHECKER: its haproxy.cfg and dr.nft (applied by the caller).
write_director() {
  local d_dir servers
  d_dir="$(ddir "$1")"
  if [ "$2" = agent ]; then
    servers="  option httpchk GET /healthz
  # Health passes while ready or drained; the agent carries drain and maint.
  http-check expect hdr name X-Rsagent-State value -m reg ^(ready|drain)\$
  server rs1 ${ip4[rs1]}:80 check port 9799 inter 200ms fall 1 rise 1 agent-check agent-port 9798 agent-inter 200ms
  server rs2 ${ip4[rs2]}:80 check port 9799 inter 200ms fall 1 rise 1 agent-check agent-port 9798 agent-inter 200ms"
  else
    # The misconfiguration: the service port itself, which a drain leaves up.
    servers="  option httpchk GET /
  server rs1 ${ip4[rs1]}:80 check inter 200ms fall 1 rise 1
  server rs2 ${ip4[rs2]}:80 check inter 200ms fall 1 rise 1"
  fi
  cat >"$d_dir/haproxy.cfg" <<CFG
global
  log stderr local0 warning
defaults
  mode http
  log global
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend stats
  bind 127.0.0.1:8404
  stats enable
  stats uri /stats
backend realservers
$servers
CFG
  # The forwarding plane. Sets remember which server a flow went to, so a
  # drained server keeps its open connections; `pick` is rewritten by sync.
  cat >"$d_dir/dr.nft" <<NFT
table netdev dr {
  set f_rs1 { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 10m; }
  set f_rs2 { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 10m; }
  set f6_rs1 { type ipv6_addr . inet_service; flags dynamic,timeout; timeout 10m; }
  set f6_rs2 { type ipv6_addr . inet_service; flags dynamic,timeout; timeout 10m; }
  chain to_rs1 { update @f_rs1 { ip saddr . tcp sport } counter fwd ip to ${ip4[rs1]} device "eth0"; }
  chain to_rs2 { update @f_rs2 { ip saddr . tcp sport } counter fwd ip to ${ip4[rs2]} device "eth0"; }
  chain to6_rs1 { update @f6_rs1 { ip6 saddr . tcp sport } counter fwd ip6 to ${ip6[rs1]} device "eth0"; }
  chain to6_rs2 { update @f6_rs2 { ip6 saddr . tcp sport } counter fwd ip6 to ${ip6[rs2]} device "eth0"; }
  chain pick { drop; }
  chain pick6 { drop; }
  chain ingress {
    type filter hook ingress device "eth0" priority 0;
    ip daddr { $vip, $vrange } tcp dport 80 ip saddr . tcp sport @f_rs1 jump to_rs1
    ip daddr { $vip, $vrange } tcp dport 80 ip saddr . tcp sport @f_rs2 jump to_rs2
    ip daddr { $vip, $vrange } tcp dport 80 jump pick
    ip6 daddr $vip6 tcp dport 80 ip6 saddr . tcp sport @f6_rs1 jump to6_rs1
    ip6 daddr $vip6 tcp dport 80 ip6 saddr . tcp sport @f6_rs2 jump to6_rs2
    ip6 daddr $vip6 tcp dport 80 jump pick6
  }
}
NFT
}

agents() {
  local verb=$1 bin
  bin="$(cat "$dir/rsagent-bin")"
  for n in rs1 rs2; do
    in_ns "$n" "$bin" --config "$dir/$n/rsagent.json" --state-dir "$dir/$n/state" "$verb"
  done
}

# HAProxy's view -> the forwarding map, every 200 ms, until killed. The
# states go to $dir/forwarding (the first director) or forwarding-DIRECTOR.
sync() {
  local d="${3:-director}" last="" states up down fwd="$dir/forwarding" d_dir
  [ "$d" = director ] || fwd="$dir/forwarding-$d"
  d_dir="$(ddir "$d")"
  while true; do
    states="$(in_ns "$d" curl -s --max-time 1 'http://127.0.0.1:8404/stats;csv' |
      awk -F, '$1=="realservers" && ($2=="rs1" || $2=="rs2") {s=$18; gsub(/ /, "_", s); print $2 "=" s}' |
      tr '\n' ' ' || true)"
    if [ -n "$states" ] && [ "$states" != "$last" ]; then
      up=()
      down=()
      for s in $states; do
        case "${s#*=}" in
          UP) up+=("${s%%=*}") ;;
          DRAIN*) ;;  # no new flows; its open flows stay pinned
          *) down+=("${s%%=*}") ;;
        esac
      done
      {
        echo "flush chain netdev dr pick"
        echo "flush chain netdev dr pick6"
        if [ "${#up[@]}" -eq 0 ]; then
          echo "add rule netdev dr pick drop"
          echo "add rule netdev dr pick6 drop"
        else
          local m4="" m6="" i=0
          for s in "${up[@]}"; do
            m4+="${m4:+, }$i : jump to_$s"
            m6+="${m6:+, }$i : jump to6_$s"
            i=$((i + 1))
          done
          echo "add rule netdev dr pick jhash ip saddr . tcp sport mod ${#up[@]} vmap { $m4 }"
          echo "add rule netdev dr pick6 jhash ip6 saddr . tcp sport mod ${#up[@]} vmap { $m6 }"
        fi
        # A server that is down loses its flows: they re-hash to one that is up.
        for s in "${down[@]}"; do
          echo "flush set netdev dr f_$s"
          echo "flush set netdev dr f6_$s"
        done
      } >"$d_dir/sync.nft"
      in_ns "$d" nft -f "$d_dir/sync.nft"
      echo "$states" >"$fwd"
      last="$states"
    fi
    sleep 0.2
  done
}

# A node: its namespace, eth0 on the bridge (bridge port PORT), the addresses.
add_node() {
  local n=$1 port=$2 a4=$3 a6=$4
  ip netns add "$(ns "$n")"
  ip -n "$(ns "$n")" link set lo up
  ip -n "$(ns switch)" link add "$port" type veth peer name eth0 netns "$(ns "$n")"
  ip -n "$(ns switch)" link set "$port" master br0 up
  ip -n "$(ns "$n")" addr add "$a4/24" dev eth0
  ip -n "$(ns "$n")" addr add "$a6/64" dev eth0 nodad
  ip -n "$(ns "$n")" link set eth0 up
}

# A plain host on the segment (bridge port p-HOST), the addresses given;
# nothing else (no VIP, no rsagent, kernel defaults).
host_add() {
  local n="${3:?host name}"
  echo "$n" >>"$dir/extra-hosts"
  add_node "$n" "p-$n" "${4:?IPv4 address}" "${5:?IPv6 address}"
}

etcd_add() {
  local budget="${3:-1}" url=http://203.0.113.5:2379
  host_add "$1" "$2" etcd 203.0.113.5 2001:db8:1::5 >/dev/null
  in_ns etcd sh -c "etcd --name lab --data-dir $dir/etcd --listen-client-urls $url --advertise-client-urls $url \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster lab=http://127.0.0.1:2380 >$dir/etcd.log 2>&1 &"
  for _ in $(seq 1 100); do
    in_ns etcd curl -s --max-time 1 "$url/health" | grep -q true && break
    sleep 0.2
  done
  for n in rs1 rs2; do
    mkdir -p "$dir/$n/conf.d"
    cat >"$dir/$n/conf.d/fleet.json" <<JSON
{"fleet": {"etcd": {"endpoints": ["$url"]}, "name": "$n", "ttl": "5s", "drain_budget": $budget}}
JSON
  done
}

down() {
  local extra=()
  [ -f "$dir/extra-hosts" ] && mapfile -t extra <"$dir/extra-hosts"
  for n in "${nodes[@]}" "${extra[@]}" switch; do
    local nsn
    nsn="$(ns "$n")"
    if ip netns list | grep -qw "$nsn"; then
      for p in $(ip netns pids "$nsn"); do kill -9 "$p" 2>/dev/null || true; done
      ip netns del "$nsn" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

case "$cmd" in
  up) up "$@" ;;
  agents-start) agents start ;;
  agents-stop) agents stop ;;
  web-stop) stop_web "${3:?server}" ;;
  web-start) start_web "${3:?server}" ;;
  sync) sync "$@" ;;
  host-add) host_add "$@" ;;
  director2-add) director2_add ;;
  etcd-add) etcd_add "$@" ;;
  checker) checker "$@" ;;
  down) down ;;
  *) echo "lab.sh: unknown command $cmd" >&2; exit 2 ;;
esac
