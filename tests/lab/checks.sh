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

need_tool() {  # a test name, a command, the package: skips (77) without it, fails under CI
  command -v "$2" >/dev/null && return 0
  [ -n "${CI:-}" ] && { echo "$1: needs $2 ($3, tests/install-deps.sh), and CI must run it"; exit 1; }
  echo "$1: skipped, $2 is not installed ($3, tests/install-deps.sh)"; exit 77
}

# The lab's cleanup (kill what the test started, take the lab down) and its
# two ways into it; the test sets pids=(), lab, labsh, bin and dir first.
lab_preamble() {
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; bash "$labsh" down "$lab" >/dev/null 2>&1' EXIT
}
in_ns() { local n=$1; shift; ip netns exec "$lab-$n" "$@"; }
agent() { local n=$1; shift; in_ns "$n" "$bin" --config "$dir/$n/rsagent.json" --state-dir "$dir/$n/state" "$@"; }

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
