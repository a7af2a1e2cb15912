#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of tests/fuzz. ctest (label fuzz)
# calls it from the g++ build; it drives a clang build of its own.
#
#   run.sh build SOURCE_DIR FUZZ_BUILD_DIR
#       configure FUZZ_BUILD_DIR with clang and -DRSAGENT_FUZZ=ON, build the targets
#   run.sh run SOURCE_DIR FUZZ_BUILD_DIR TARGET
#       fuzz TARGET for RSAGENT_FUZZ_SECONDS (default 40) from a copy of its
#       seed corpus (tests/fuzz/corpus/TARGET). Any crash, leak, undefined
#       behaviour, timeout, out-of-memory or slow unit (one that is slow
#       again when replayed alone) fails, printing the reproducer;
#       the reproducer is also kept in FUZZ_BUILD_DIR/findings/TARGET/.
#
# Exit 77 (a skip for ctest) when clang's libFuzzer runtime is missing,
# except under CI (CI set), where a skip is a failure.
set -euo pipefail

mode="${1:?usage: run.sh build|run SOURCE_DIR FUZZ_BUILD_DIR [TARGET]}"
src="$(cd "${2:?source folder}" && pwd)"
out="${3:?fuzz build folder}"
cxx="${RSAGENT_FUZZ_CXX:-clang++}"

skip() {
  if [ -n "${CI:-}" ]; then
    echo "fuzz: $1; CI must run the fuzzers: failing instead of skipping" >&2
    exit 1
  fi
  echo "fuzz: skipped: $1" >&2
  exit 77
}

case "$mode" in
build)
  command -v "$cxx" >/dev/null || skip "$cxx not found (apt-get install clang)"
  probe="$(mktemp -d)"
  trap 'rm -rf "$probe"' EXIT
  printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n' >"$probe/p.cpp"
  "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>"$probe/err" ||
    { cat "$probe/err" >&2; skip "$cxx cannot link libFuzzer (apt-get install libclang-rt-14-dev)"; }
  cmake -S "$src" -B "$out" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DRSAGENT_FUZZ=ON -DRSAGENT_BUILD_TESTS=OFF -DRSAGENT_WERROR=ON >/dev/null
  cmake --build "$out" --target fuzz -j"${RSAGENT_FUZZ_JOBS:-2}"
  ;;
run)
  target="${4:?target name}"
  bin="$out/tests/fuzz/fuzz_$target"
  [ -x "$bin" ] || { echo "fuzz: $bin is missing: run \`run.sh build\` first" >&2; exit 1; }
  seconds="${RSAGENT_FUZZ_SECONDS:-40}"
  work="$(mktemp -d "${TMPDIR:-/tmp}/rsagent-fuzz-$target-XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
  cp "$src/tests/fuzz/corpus/$target/"* "$work/corpus/"
  # Inputs longer than what the code accepts only repeat its "too long"
  # answer: cap them a little above that (seeds longer are cut, and still
  # exercise it), and spend the time on the rest.
  case "$target" in
  http_request) opts=(-dict="$src/tests/fuzz/http.dict" -max_len=24576) ;;
  control) opts=(-dict="$src/tests/fuzz/json.dict" -max_len=8192) ;;
  frames) opts=(-max_len=2048) ;;  # the packet socket's snap length
  *) opts=(-dict="$src/tests/fuzz/json.dict" -max_len=131072) ;;
  esac
  # halt_on_error: UBSan stops at the first report (it is also compiled
  # with -fno-sanitize-recover=all); the targets' own temp files go to $work/tmp.
  set +e
  TMPDIR="$work/tmp" \
    ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" \
    "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "${opts[@]}" "$work/corpus" >"$work/log" 2>&1
  rc=$?
  set -e
  shopt -s nullglob
  found=("$work"/artifacts/*)
  # A slow unit (libFuzzer: one input over 10 s) is replayed on its own: on
  # a machine busy with other builds the fuzzer can be starved for seconds.
  # It fails only when it is slow again alone (over 2 s for 20 runs, with
  # the sanitizers): then the code, not the load, is slow.
  if [ "$rc" -eq 0 ] && [ "${#found[@]}" -gt 0 ]; then
    rest=()
    for f in "${found[@]}"; do
      case "$(basename "$f")" in
      slow-unit-*)
        start=$(date +%s%N)
        "$bin" -runs=20 "$f" >/dev/null 2>&1 || { rest+=("$f"); continue; }
        ms=$((($(date +%s%N) - start) / 1000000))
        if [ "$ms" -gt 2000 ]; then
          rest+=("$f")
        else
          echo "fuzz: $target: $(basename "$f") was reported slow under load; 20 runs alone took ${ms} ms: not a finding"
        fi
        ;;
      *) rest+=("$f") ;;
      esac
    done
    found=("${rest[@]}")
  fi
  if [ "$rc" -eq 0 ] && [ "${#found[@]}" -eq 0 ]; then
    tail -n 15 "$work/log"
    echo "fuzz: $target: no finding in ${seconds} s"
    exit 0
  fi
  tail -n 200 "$work/log" >&2
  echo "fuzz: $target: FINDING (exit $rc)" >&2
  mkdir -p "$out/findings/$target"
  for f in "${found[@]}"; do
    cp "$f" "$out/findings/$target/"
    kept="$out/findings/$target/$(basename "$f")"
    echo "--- reproducer $(basename "$f") ($(stat -c %s "$f") bytes), kept as $kept" >&2
    echo "--- reproduce: $bin $kept" >&2
    echo "--- first bytes:" >&2
    head -c 1024 "$f" | od -A x -t x1z -v >&2 || true
    echo "--- base64 (whole input):" >&2
    base64 -w0 <"$f" | head -c 16384 >&2
    echo >&2
  done
  exit 1
  ;;
*)
  echo "usage: run.sh build|run SOURCE_DIR FUZZ_BUILD_DIR [TARGET]" >&2
  exit 2
  ;;
esac
