# Shared by the DR lab's tests (sourced): the root preamble, check() and the
# final count. A test calls need_root NAME first and ends with finish.
passed=0
failed=0

need_root() {  # a test name; skips (77) without root, fails under CI
  if [ "$(id -u)" -ne 0 ]; then
    [ -n "${CI:-}" ] && { echo "$1: needs root, and CI must run it"; exit 1; }
    echo "$1: skipped, needs root"; exit 77
  fi
}

check() {  # description, then a command that must succeed
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $what"
  else
    failed=$((failed + 1))
    echo "FAILED: $what"
  fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
