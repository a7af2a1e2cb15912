#!/usr/bin/env bash
# Installs what is needed, builds with -Werror (g++, and clang for warnings),
# and runs every test with ctest. This is what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
export CI="${CI:-}"
jobs="$(nproc)"

echo "==> build (g++, -Werror)"
cmake -S . -B build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRSAGENT_WERROR=ON >/dev/null
cmake --build build-ci -j"$jobs"

echo "==> build (clang++, -Werror: warnings only, its binaries are not run)"
CXX=clang++ cmake -S . -B build-ci-clang -DCMAKE_BUILD_TYPE=Debug -DRSAGENT_WERROR=ON >/dev/null
cmake --build build-ci-clang -j"$jobs"

echo "==> tests"
cd build-ci
ctest --output-on-failure --timeout 300 -j"$jobs"
