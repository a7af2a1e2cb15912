#!/usr/bin/env bash
# ctest "package: ... .deb": builds the .deb from this source tree with
# dpkg-buildpackage and requires lintian to report no error and no warning.
# Usage: deb.sh OUTDIR
set -uo pipefail
out="${1:?output folder}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$out"
. "$src/tests/package/common.sh"
need_tools dpkg-buildpackage dh lintian
# The unit tests already ran from build-ci; the package's own build of them
# is for builds elsewhere (the trixie root runs them: deb-in-chroot.sh).
# Both cores: the .deb is built while the Debian 13 root is made, mostly
# waiting for the mirror.
export DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
build_package "$src/packaging/build-deb.sh" "$out" dpkg-buildpackage
deb="$(ls "$out"/rsagent_*.deb)"
echo "built $deb"
dpkg-deb -c "$deb" | awk '{print $1, $6}'
# As root lintian warns that it should not be; it only reads the files.
# Its own exit status decides (an error of lintian itself fails too).
report="$(lintian --allow-root --fail-on error,warning "$deb" "$out"/rsagent_*.changes 2>&1)"
status=$?
echo "lintian: ${report:-no tags}"
if [ "$status" -ne 0 ]; then
  echo "FAILED: lintian exited $status: errors or warnings above"
  exit 1
fi
echo "ok: the .deb builds and lintian reports no error and no warning"
