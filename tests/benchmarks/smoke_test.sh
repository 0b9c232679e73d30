#!/bin/bash
# The benchmark binary still runs: a few iterations of every variant, no errors.
set -euo pipefail
out=$("$1" --benchmark_min_time=0.01 2>&1)
echo "$out" | tail -8
if grep -q "ERROR OCCURRED" <<<"$out"; then exit 1; fi
n=$(grep -c "^BM_SyncUnary" <<<"$out")
[[ $n -eq 6 ]] || { echo "expected 6 benchmarks, saw $n"; exit 1; }
echo "1 passed, 0 failed"
