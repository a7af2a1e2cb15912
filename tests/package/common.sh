# Shared by deb.sh and rpm.sh (sourced).
need_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "package: $tool is missing; run tests/install-deps.sh"; exit 1; }
  done
}
# build_package SCRIPT OUTDIR WHAT: runs a packaging/build-*.sh, keeps its log
# beside OUTDIR and shows its end when it fails.
build_package() {
  if ! bash "$1" "$2" >"$2.build.log" 2>&1; then
    tail -40 "$2.build.log"
    echo "FAILED: $3 (full log: $2.build.log)"
    exit 1
  fi
}
