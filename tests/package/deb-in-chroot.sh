#!/usr/bin/env bash
# ctest "trixie: ...": builds rsagent on another Debian release, inside a
# root made with mmdebstrap: one dpkg-buildpackage compiles the whole tree
# (the tests too) with that release's compiler and -Werror, runs the unit
# tests from that same build (dh_auto_test: ctest -L unit), and makes the
# .deb; then that release's lintian must report no error and no warning.
# The .deb (and the build log) go to OUTDIR for the systemd test.
#
# Usage: deb-in-chroot.sh SUITE ROOT [OUTDIR]
#   SUITE   a Debian suite mmdebstrap knows (trixie)
#   ROOT    where the build root is kept; reused while ROOT.stamp matches
#           the package list below, so a second run skips mmdebstrap
#   OUTDIR  without it, only ROOT is made: ctest does that first, as a test
#           of its own, so the download overlaps other tests
#
# Needs root (mmdebstrap, chroot, mounts). Everything runs in a private
# mount, pid and network namespace (unshare): /proc and /dev/shm mounted in
# the root vanish with the namespace whatever happens, no process outlives
# the script, and the build reaches no network (nothing is downloaded
# after mmdebstrap).
set -euo pipefail

if [ "${1:-}" = --inside ]; then
  # Second stage, pid 1 of the new namespaces. unshare made the mounts
  # private: nothing mounted here is seen outside.
  root="$2"
  trap 'umount "$root/dev/shm" "$root/proc" 2>/dev/null || true' EXIT
  mount -t proc proc "$root/proc"
  mount -t tmpfs -o mode=1777,size=256m tmpfs "$root/dev/shm"
  ip link set lo up  # this namespace's own loopback, for the unit tests
  in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
  }
  # -Werror on top of Debian's flags (hardening=+all); make and ctest in
  # parallel, terse (compiler messages, not command lines); the whole log
  # is kept.
  if ! in_root DEB_BUILD_OPTIONS="parallel=$JOBS terse" DEB_CXXFLAGS_APPEND=-Werror \
      bash -c 'cd /build/src && bash packaging/build-deb.sh /build/out' >"$root/build/build.log" 2>&1; then
    grep -vE '^\[ *[0-9]+%\] (Building|Linking)|^make\[[0-9]+\]: (Entering|Leaving)' "$root/build/build.log" | tail -60
    echo "FAILED: the build, its unit tests or the .deb (whole log: $3)"
    exit 1
  fi
  grep -E '^(The following tests FAILED|[0-9]+% tests passed)' "$root/build/build.log" || true
  in_root sh -c 'g++ --version | head -1; dpkg-query -W libcpp-httplib-dev debhelper lintian' || true
  # As root lintian warns that it should not be; it only reads the files.
  # Its own exit status decides (an error of lintian itself fails too).
  status=0
  report="$(in_root bash -c 'lintian --allow-root --fail-on error,warning /build/out/rsagent_*.deb /build/out/rsagent_*.changes' 2>&1)" ||
    status=$?
  echo "lintian: ${report:-no tags}"
  if [ "$status" -ne 0 ]; then
    echo "FAILED: lintian exited $status: errors or warnings above"
    exit 1
  fi
  exit 0
fi

suite="${1:?suite}"
root="${2:?root folder}"
out="${3:-}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
. "$src/tests/package/common.sh"
if [ "$(id -u)" -ne 0 ]; then
  echo "$suite build root: needs root (mmdebstrap, chroot, mounts)"
  # A plain user is told and skipped; CI must run it.
  [ -n "${CI:-}" ] && exit 1
  exit 77
fi
need_tools mmdebstrap unshare chroot git
mkdir -p "$(dirname "$root")"

# What the build needs: packaging/debian/control's Build-Depends (dpkg-
# buildpackage checks them, so a missing one fails loudly), the compiler,
# and lintian.
packages="build-essential,debhelper,cmake,pkg-config,libnl-3-dev,libnl-route-3-dev,libnftables-dev,nlohmann-json3-dev,doctest-dev,libcpp-httplib-dev,libssl-dev,lintian"
stamp="mmdebstrap --variant=minbase --include=$packages $suite"

# Refuses to delete a folder something is mounted under (a bind mount of
# /dev would take the host's devices with it).
remove_root() {
  if findmnt -rno TARGET | grep -q "^$1\(/\|$\)"; then
    echo "FAILED: something is mounted under $1; not deleting it"
    exit 1
  fi
  rm -rf "$1"
}

if [ -d "$root" ] && [ "$(cat "$root.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "reusing the $suite build root $root"
else
  echo "making the $suite build root $root ($stamp)"
  rm -f "$root.stamp"
  remove_root "$root"
  remove_root "$root.new"
  started=$SECONDS
  if ! $stamp "$root.new" >"$root.mmdebstrap.log" 2>&1; then
    tail -30 "$root.mmdebstrap.log"
    remove_root "$root.new"
    echo "FAILED: mmdebstrap $suite; the Debian package mirror must be reachable (apt's sources)"
    exit 1
  fi
  mv "$root.new" "$root"
  echo "$stamp" >"$root.stamp"
  echo "made in $((SECONDS - started)) s"
fi
if [ -z "$out" ]; then
  echo "ok: the $suite build root is ready"
  exit 0
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# A fresh copy of what git tracks (and untracked files not ignored, as
# packaging/build-deb.sh takes), without build trees.
remove_root "$root/build"
rm -rf "$root"/tmp/rsagent-deb.*  # left by a build that was killed
mkdir -p "$root/build/src" "$root/build/out"
git -C "$src" ls-files -z --cached --others --exclude-standard |
  (cd "$src" && xargs -0 cp --parents -t "$root/build/src")

started=$SECONDS
status=0
JOBS="$(nproc)" unshare --mount --pid --net --fork --kill-child -- bash "$0" --inside "$root" "$out/build.log" ||
  status=$?
cp "$root/build/build.log" "$out/build.log" 2>/dev/null || true
echo "build, unit tests, .deb and lintian: $((SECONDS - started)) s"
[ "$status" -eq 0 ] || exit 1
rm -f "$out"/rsagent_*.deb "$out"/rsagent-dbgsym_*.deb "$out"/rsagent_*.changes "$out"/rsagent_*.buildinfo
cp "$root"/build/out/rsagent* "$out"/
dpkg-deb -c "$out"/rsagent_*.deb | awk '{print $1, $6}'
dpkg-deb -f "$out"/rsagent_*.deb Depends
echo "ok: $suite: the tree builds with -Werror, the unit tests pass, the .deb builds and lintian reports no error and no warning"
