#!/usr/bin/env bash
# Installs everything rsagent needs to build and test, from Debian's packages.
# Safe to run again; needs root (apt-get).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get installs packages)" >&2
  exit 4
fi
apt-get update -q
apt-get install -y -q --no-install-recommends \
  build-essential cmake pkg-config clang \
  libnl-3-dev libnl-route-3-dev nlohmann-json3-dev doctest-dev libcpp-httplib-dev \
  iproute2 arping tcpdump nftables curl util-linux procps ca-certificates
