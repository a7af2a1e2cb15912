#!/usr/bin/env bash
# ctest "package: ... .deb": builds the .deb from this source tree with
# dpkg-buildpackage and requires lintian to report no error and no warning.
# Usage: deb.sh OUTDIR
set -uo pipefail
out="${1:?output folder}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$out"
for tool in dpkg-buildpackage dh lintian; do
  command -v "$tool" >/dev/null || { echo "package: $tool is missing; run tests/install-deps.sh"; exit 1; }
done
if ! bash "$src/packaging/build-deb.sh" "$out" >"$out.build.log" 2>&1; then
  tail -40 "$out.build.log"
  echo "FAILED: dpkg-buildpackage (full log: $out.build.log)"
  exit 1
fi
deb="$(ls "$out"/rsagent_*.deb)"
echo "built $deb"
dpkg-deb -c "$deb" | awk '{print $1, $6}'
# lintian refuses to run as root without this; it only reads the files.
report="$(lintian --allow-root --fail-on none "$deb" "$out"/rsagent_*.changes 2>&1)"
echo "lintian: ${report:-no tags}"
if printf '%s\n' "$report" | grep -q '^[EW]: '; then
  echo "FAILED: lintian reports errors or warnings"
  exit 1
fi
echo "ok: the .deb builds and lintian reports no error and no warning"
