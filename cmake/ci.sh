#!/usr/bin/env bash
# The CMake build's test run: configure this source tree with the tests,
# build it, run every test with ctest.
#
#   bash cmake/ci.sh [BUILD_DIR] [-- extra cmake configure arguments]
#
# BUILD_DIR defaults to build/cmake-ci in the source tree. Environment:
# JOBS (build and test jobs, default 2), CMAKE_BUILD_TYPE (default Debug,
# unoptimized like Bazel's default), CTEST_ARGS (more ctest arguments, e.g.
# "-L small" or "-R replay").
# Needs what bazel/setup.sh installs, and cmake. The installed package is
# checked by examples/cmake_consumer/run.sh.
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$src/build/cmake-ci"
if [[ $# -gt 0 && "$1" != "--" ]]; then
  build="$1"
  shift
fi
[[ "${1:-}" == "--" ]] && shift
jobs="${JOBS:-2}"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

echo "== configure ($build)"
t0="$(now)"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Debug}" \
  -DAUTHREFRESH_BUILD_TESTS=ON -DAUTHREFRESH_BUILD_EXAMPLES=ON "$@"
configure_time="$(since "$t0")"

echo "== build (-j$jobs)"
t1="$(now)"
cmake --build "$build" -j "$jobs"
build_time="$(since "$t1")"

echo "== ctest"
t2="$(now)"
# shellcheck disable=SC2086  # CTEST_ARGS is a list of arguments
(cd "$build" && ctest --output-on-failure -j "$jobs" ${CTEST_ARGS:-})
ctest_time="$(since "$t2")"

echo "== times: configure $configure_time, build $build_time, ctest $ctest_time"
