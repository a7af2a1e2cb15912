#!/usr/bin/env bash
# ctest "package: ... .rpm": builds the RPM with rpmbuild, requires rpmlint to
# report no error, and compares its file list with the .deb's.
# Usage: rpm.sh OUTDIR DEBDIR
set -uo pipefail
out="${1:?output folder}"
debdir="${2:?folder of the built .deb}"
src="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$out"
. "$src/tests/package/common.sh"
need_tools rpmbuild rpmlint
build_package "$src/packaging/build-rpm.sh" "$out" rpmbuild
rpm="$(ls "$out"/rsagent-*.rpm)"
echo "built $rpm"
# rpmlint exits non-zero on any error (and on a failure of its own).
rpmlint -c "$src/packaging/rpm/rpmlint.toml" "$rpm"
status=$?
failed=0
if [ "$status" -ne 0 ]; then
  echo "FAILED: rpmlint exited $status: errors above"
  failed=1
fi
# The same files in both packages. Normalised: Debian 12 keeps units in
# /lib (merged /usr makes it /usr/lib). Left out as each format's own
# bookkeeping: the docs and licence (Debian: /usr/share/doc/rsagent/
# copyright and changelog; RPM: %license), RPM's .build-id links and its
# systemd preset (Debian enables through deb-systemd-helper instead).
norm() { sed -e 's|^\./|/|' -e 's|^/lib/|/usr/lib/|' -e 's|/$||' |
  grep -v -e '^/usr/share/doc' -e '^/usr/share/licenses' -e '^/usr/lib/\.build-id' \
          -e '^/usr/lib/systemd/system-preset/' | sort; }
deb="$(ls "$debdir"/rsagent_*.deb)"
# Files, plus the directories each package owns outright.
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ || $6 ~ /rsagent\/(conf\.d\/)?$/ {print $6}' | norm >"$out.deb-files"
rpm -qlp "$rpm" 2>/dev/null | grep -v -e '^/usr/lib/\.build-id' | norm >"$out.rpm-files"
if diff -u "$out.deb-files" "$out.rpm-files"; then
  echo "ok: the file lists match:"
  sed 's/^/  /' "$out.rpm-files"
else
  echo "FAILED: the .deb and the .rpm install different files (above: - .deb, + .rpm)"
  failed=1
fi
[ "$failed" -eq 0 ] && echo "ok: the .rpm builds and rpmlint reports no error"
exit "$failed"
