#!/usr/bin/env bash
# The single-node demo: rsagent on the shipped example config, inside a
# throwaway network namespace (never the host's network). Installs what is
# needed, builds, shows the state before, during and after, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
. tests/lib.sh
bash tests/install-deps.sh >/dev/null
echo "==> building rsagent"
build_release build-demo
bin="$root/build-demo/rsagent"
cfg="$root/packaging/examples/rsagent.json"

ns="rsademo$$"
state="$(mktemp -d /tmp/rsagent-demo-XXXXXX)"
cleanup() {
  drop_netns "$ns"
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { ip netns exec "$ns" "$@"; }
rsagent() { in_ns "$bin" --config "$cfg" --state-dir "$state" "$@"; }
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() {
  echo "-- addresses on lo:"
  ip -n "$ns" -br addr show dev lo | sed 's/^/   /'
  ip -n "$ns" addr show dev lo | awk '/inet .*lo:/{print "   label:", $NF, $2}'
  echo "-- host routes in the main table:"
  # 244 is rsagent's route protocol; the package's rt_protos.d entry makes
  # ip(8) print "proto rsagent" (not installed on this host by the demo).
  { ip -n "$ns" -4 route show table main; ip -n "$ns" -6 route show table main; } |
    grep -v fe80:: | sed 's/^/   /; s/proto 244/proto 244 (rsagent)/'
  echo "-- ARP sysctls:"
  in_ns bash -c 'for f in /proc/sys/net/ipv4/conf/{all,lo,eth0}/arp_{ignore,announce}; do
                 printf "   %s = %s\n" "${f#/proc/sys/}" "$(cat "$f")"; done'
}
snapshot() {
  ip -n "$ns" -j addr; ip -n "$ns" -j route show table all; ip -n "$ns" -j -6 route show table all
  in_ns sh -c 'grep -H . /proc/sys/net/ipv4/conf/*/arp_*'
}

step "a throwaway network namespace '$ns' with lo and an eth0, like a web node"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add eth0 type veth peer name uplink
ip -n "$ns" addr add 203.0.113.11/24 dev eth0
ip -n "$ns" link set eth0 up
ip -n "$ns" link set uplink up
# An admin's unusual original, to show that stop restores it exactly.
in_ns sh -c 'echo 2 > /proc/sys/net/ipv4/conf/all/arp_ignore'

step "the configuration ($cfg)"
sed 's/^/   /' "$cfg"

step "before: the namespace as the admin left it"
show
before="$(snapshot)"

step "rsagent plan (dry run: prints what start would do, changes nothing)"
rsagent plan

step "rsagent start (returns once everything is applied)"
rsagent start
show

step "rsagent status"
rsagent status

step "rsagent stop (reverts exactly what rsagent changed)"
rsagent stop
show
if [ "$(snapshot)" = "$before" ]; then
  step "after stop the namespace is byte-identical to before start (all.arp_ignore back to 2, not 0)"
else
  echo "!! the namespace differs from before start" >&2
  diff <(echo "$before") <(snapshot) >&2 || true
  exit 1
fi
