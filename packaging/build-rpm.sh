#!/usr/bin/env bash
# Builds the binary RPM with rpmbuild from packaging/rpm/rsagent.spec.
# Usage: packaging/build-rpm.sh [OUTDIR]   (default: build-rpm/)
# Then: rpmlint OUTDIR/rsagent-*.rpm
# On a Debian machine the Fedora macro packages are missing: their macros
# come from packaging/rpm/macros.debian-host, and the BuildRequires are met
# by Debian's -dev packages (tests/install-deps.sh), which rpm's database
# does not know, hence --nodeps there.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$src/build-rpm}" && cd "${1:-$src/build-rpm}" && pwd)"
version="$(sed -n 's/^Version: *//p' "$src/packaging/rpm/rsagent.spec")"
top="$(mktemp -d /tmp/rsagent-rpm.XXXXXX)"
trap 'rm -rf "$top"' EXIT
mkdir -p "$top"/{SOURCES,SPECS,BUILD,RPMS,SRPMS,tar/rsagent-"$version"}
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$src" ls-files -z --cached --others --exclude-standard |
    (cd "$src" && xargs -0 cp --parents -t "$top/tar/rsagent-$version")
else
  tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$top/tar/rsagent-$version" -xf -
fi
tar -C "$top/tar" -czf "$top/SOURCES/rsagent-$version.tar.gz" "rsagent-$version"
cp "$src/packaging/rpm/50-rsagent.preset" "$top/SOURCES/"
args=(--define "_topdir $top" --define "packager rsagent developers <rsagent-dev@lists.example.org>")
if [ -z "$(rpm --eval '%{?systemd_post:yes}')" ]; then
  args+=(--load "$src/packaging/rpm/macros.debian-host" --nodeps)
fi
rpmbuild "${args[@]}" -bb "$src/packaging/rpm/rsagent.spec"
rm -f "$out"/rsagent-*.rpm
find "$top/RPMS" -name 'rsagent-*.rpm' -exec cp {} "$out"/ \;
ls "$out"/rsagent-*.rpm
