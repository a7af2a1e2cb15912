#!/usr/bin/env bash
# Installs everything rsagent needs to build and test, from Debian's packages.
# Safe to run again; needs root (apt-get). The test peers (haproxy, nginx,
# keepalived for genhash) are only run by the tests, inside namespaces:
# their packages must not start services on this host while installing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get installs packages)" >&2
  exit 4
fi
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# rsagent install-deps: do not start services while installing\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
trap '[ "$added_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -q
# libclang-rt-dev: libFuzzer and the sanitizer runtimes for tests/fuzz; clang
# only recommends it, and recommends are not installed here.
apt-get install -y -q --no-install-recommends \
  build-essential cmake pkg-config clang libclang-rt-dev \
  libnl-3-dev libnl-route-3-dev libnftables-dev nlohmann-json3-dev doctest-dev libcpp-httplib-dev libssl-dev \
  iproute2 arping tcpdump nftables curl util-linux procps ca-certificates jq libcap2-bin \
  haproxy keepalived nginx-light wrk mmdebstrap systemd-container \
  debhelper lintian rpm rpmlint \
  etcd-server etcd-client openssl
# etcd-server enables etcd.service: the tests run etcd themselves, inside a
# namespace, and this host must not start one at its next boot.
if [ -e /lib/systemd/system/etcd.service ]; then
  systemctl --root=/ disable etcd.service >/dev/null 2>&1 || true
fi
