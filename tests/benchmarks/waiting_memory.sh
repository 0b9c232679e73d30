#!/usr/bin/env bash
# Heap per call waiting for a refresh, split into gRPC's call arena and
# everything else, from massif allocation trees taken before and while the
# calls wait (storm_benchmark --waiting_only under valgrind). gRPC sizes each
# new call's arena from what the channel's earlier calls used, so totals from
# mallinfo2() move by several KB between channels and runs; the split does
# not. "floor" is a minimal interceptor that only holds each call in pending
# call credentials (gRPC's asynchronous plugin API), as authrefresh does.
# Usage: tests/benchmarks/waiting_memory.sh [calls]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls="${1:-2000}"
bazel build -c opt //tests/benchmarks:storm_benchmark >/dev/null 2>&1
out="$(mktemp -d)"
cp bazel-bin/tests/benchmarks/storm_benchmark "$out/"
valgrind --tool=massif --vgdb=yes --max-threads=5000 --threshold=0.1 \
  --massif-out-file="$out/massif.out" "$out/storm_benchmark" --waiting_only \
  --waiting="$calls" --massif_prefix="$out/ms" >"$out/run.log" 2>"$out/valgrind.log" ||
  { tail -20 "$out/valgrind.log"; exit 1; }
# A snapshot's heap total, and the bytes under grpc_core::Arena::CreateWithAlloc.
measure() {
  awk '/^mem_heap_B=/ { split($0, a, "="); heap = a[2] }
       /Arena::CreateWithAlloc/ { if ($2 + 0 > arena) arena = $2 + 0 }
       END { printf "%d %d\n", heap, arena }' "$1"
}
printf "%-8s %16s %16s %16s\n" variant "arena B/call" "other B/call" "other - floor"
floor_other=""
for v in floor authrefresh; do
  read -r hb ab < <(measure "$out/ms.$v.before")
  read -r hd ad < <(measure "$out/ms.$v.during")
  arena=$(( (ad - ab) / calls ))
  other=$(( ((hd - ad) - (hb - ab)) / calls ))
  [[ -z "$floor_other" ]] && floor_other=$other
  printf "%-8s %16d %16d %16d\n" "$v" "$arena" "$other" "$(( other - floor_other ))"
done
