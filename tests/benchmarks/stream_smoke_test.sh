#!/bin/bash
# The stream benchmark still runs, on a small stream: every stream complete
# and in order, no refresh, no replay. Not a timing assertion.
set -euo pipefail
out=$("$1" --messages=20000 --work_us=0 --reps=1 2>&1)
echo "$out"
grep -q "^all streams complete" <<<"$out" || { echo "a stream was incomplete"; exit 1; }
[[ $(grep -c "yes, in order" <<<"$out") -eq 3 ]] || { echo "expected 3 memory rows"; exit 1; }
echo "1 passed, 0 failed"
