#!/bin/bash
# The benchmark binary still runs: a few iterations of every benchmark, no
# errors, and the ratio table at the end. Not a timing assertion.
set -euo pipefail
out=$("$1" --benchmark_min_time=0.002 --benchmark_color=false 2>&1)
echo "$out" | tail -12
if grep -q "ERROR OCCURRED" <<<"$out"; then exit 1; fi
n=$(grep -c "^BM_" <<<"$out")
# 8 variants x 2 sizes x (sync, callback) + 8 throughput runs.
[[ $n -ge 40 ]] || { echo "expected 40 benchmarks, saw $n"; exit 1; }
grep -q "^Medians; ratios to A" <<<"$out" || { echo "no ratio table"; exit 1; }
echo "1 passed, 0 failed"
