#!/usr/bin/env bash
# Builds the .deb from a copy of the source tree with packaging/debian put in
# place as debian/, so the working tree stays clean.
# Usage: packaging/build-deb.sh [OUTDIR]   (default: build-deb/)
# Then: lintian OUTDIR/rsagent_*.deb
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$src/build-deb}" && cd "${1:-$src/build-deb}" && pwd)"
work="$(mktemp -d /tmp/rsagent-deb.XXXXXX)"
trap 'rm -rf "$work"' EXIT
tree="$work/rsagent"
mkdir -p "$tree"
# Only what git tracks: no build trees or local files in the package source.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$src" ls-files -z --cached --others --exclude-standard | (cd "$src" && xargs -0 cp --parents -t "$tree")
else
  tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi
cp -a "$src/packaging/debian" "$tree/debian"
(cd "$tree" && dpkg-buildpackage -us -uc -b)
rm -f "$out"/rsagent_*.deb "$out"/rsagent-dbgsym_*.deb "$out"/rsagent_*.changes "$out"/rsagent_*.buildinfo
cp "$work"/rsagent_*.deb "$work"/rsagent_*.changes "$work"/rsagent_*.buildinfo "$out"/
cp "$work"/rsagent-dbgsym_*.deb "$out"/ 2>/dev/null || true
ls "$out"/rsagent_*.deb
