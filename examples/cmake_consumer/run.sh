#!/usr/bin/env bash
# What a user of authrefresh's CMake build does, end to end, checked:
#
#   bash examples/cmake_consumer/run.sh [WORK_DIR]
#
#  1. configure, build and install authrefresh (Release, static) from this
#     source tree into WORK_DIR/prefix;
#  2. build this consumer against the installed package
#     (find_package(authrefresh 0.5 CONFIG), CMAKE_PREFIX_PATH) and run it;
#  3. build the same main.cc with pkg-config alone and run it;
#  4. build the consumer with authrefresh as a subdirectory
#     (add_subdirectory of the source tree) and run it.
#
# WORK_DIR defaults to a new directory under /tmp and is kept afterwards.
# Environment: JOBS (build jobs, 2), SHARED=ON (shared libraries instead),
# SKIP_SUBDIRECTORY=1 (skip step 4, which builds authrefresh a second time).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
work="${1:-$(mktemp -d /tmp/authrefresh-consumer.XXXXXX)}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
prefix="$work/prefix"
jobs="${JOBS:-2}"
shared="${SHARED:-OFF}"

step() { printf '\n== %s\n' "$*"; }
check() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; exit 1; }

step "1. authrefresh: configure, build (Release, BUILD_SHARED_LIBS=$shared), install into $prefix"
rm -rf "$prefix"
# The README's three commands, with this run's paths.
extra=()
if [[ "$shared" == "ON" ]]; then extra=(-DBUILD_SHARED_LIBS=ON); fi
cmake -S "$src" -B "$work/authrefresh-build" -DCMAKE_BUILD_TYPE=Release "${extra[@]}"
cmake --build "$work/authrefresh-build" -j "$jobs"
cmake --install "$work/authrefresh-build" --prefix "$prefix"

config="$(find "$prefix" -name authrefreshConfig.cmake -print -quit)"
pc="$(find "$prefix" -name authrefresh.pc -print -quit)"
[[ -n "$config" ]] || fail "no authrefreshConfig.cmake under $prefix"
[[ -n "$pc" ]] || fail "no authrefresh.pc under $prefix"
libdir="$(dirname "$(dirname "$pc")")"
for f in interceptor/authrefresh.h interceptor/http_token_refresher.h interceptor/version.h \
         interceptor/redis_backend.h interceptor/shared_token.h \
         interceptor/metrics.h interceptor/prometheus_metrics.h \
         protos/token_service.pb.h protos/token_service.grpc.pb.h protos/token_service.proto; do
  [[ -f "$prefix/include/$f" ]] || fail "$prefix/include/$f is not installed"
done
check "public headers, version.h and the token_service protos installed under $prefix/include"
[[ ! -e "$prefix/include/interceptor/internal" ]] || fail "interceptor/internal/ was installed"
check "interceptor/internal/ not installed"
ls "$libdir"/libauthrefresh* >/dev/null || fail "no libauthrefresh under $libdir"
check "libraries: $(cd "$libdir" && echo libauthrefresh*)"
if grep -rlF -e "$src" -e "$work/authrefresh-build" "$prefix"; then
  fail "the installed files above name the source or the build tree"
fi
check "no installed file names the source or the build tree"

step "2. consumer: find_package(authrefresh 0.5 CONFIG REQUIRED) with CMAKE_PREFIX_PATH=$prefix"
cmake -S "$here" -B "$work/consumer-build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$work/consumer-build" -j "$jobs"
"$work/consumer-build/authrefresh_consumer"
check "the CMake consumer of the installed package runs"

step "3. consumer: pkg-config with PKG_CONFIG_PATH=$libdir/pkgconfig"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --print-errors --exists authrefresh authrefresh_http_token_refresher \
  authrefresh_redis_backend authrefresh_prometheus_metrics
flags="$(pkg-config --cflags --libs authrefresh_http_token_refresher)"
rpath=()
if [[ "$shared" == "ON" ]]; then rpath=("-Wl,-rpath,$libdir"); fi
printf '%s\n' "c++ -std=c++17 -O2 main.cc -o authrefresh_consumer_pc ${rpath[*]} $flags"
# shellcheck disable=SC2086  # $flags is a list of flags
c++ -std=c++17 -O2 "$here/main.cc" -o "$work/authrefresh_consumer_pc" "${rpath[@]}" $flags
"$work/authrefresh_consumer_pc"
check "the pkg-config consumer runs"

if [[ "${SKIP_SUBDIRECTORY:-0}" == "1" ]]; then
  step "4. skipped (SKIP_SUBDIRECTORY=1)"
else
  step "4. consumer: add_subdirectory($src)"
  cmake -S "$here" -B "$work/consumer-subdir-build" -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS="$shared" \
    -DAUTHREFRESH_CONSUMER_MODE=subdirectory -DAUTHREFRESH_SOURCE_DIR="$src"
  cmake --build "$work/consumer-subdir-build" -j "$jobs"
  "$work/consumer-subdir-build/authrefresh_consumer"
  check "the add_subdirectory consumer runs"
fi

step "all consumer checks passed (work dir: $work)"
