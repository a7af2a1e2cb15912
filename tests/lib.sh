# Shared by the demos and the benchmarks (sourced, from the source root).
# build_release DIR: a Release build of the rsagent binary in DIR; the
# compiler's output goes to DIR/build.log and is shown only when it fails.
build_release() {
  local dir=$1
  mkdir -p "$dir"
  if ! { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DRSAGENT_BUILD_TESTS=OFF &&
         cmake --build "$dir" -j"$(nproc)" --target rsagent; } >"$dir/build.log" 2>&1; then
    cat "$dir/build.log" >&2
    return 1
  fi
}
# bench_binary [BUILD_DIR]: the rsagent binary of BUILD_DIR, or of a
# Release build made in build-bench when none is given (for the benchmarks).
bench_binary() {
  local dir=${1:-}
  if [ -z "$dir" ]; then
    dir="$(pwd)/build-bench"
    build_release "$dir" >&2 || return 1
  fi
  echo "$dir/rsagent"
}
# drop_netns NS: kill whatever runs in the namespace, then delete it.
drop_netns() {
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$1" 2>/dev/null || true
}
