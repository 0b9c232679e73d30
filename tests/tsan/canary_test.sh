#!/bin/bash
# Passes only if ThreadSanitizer catches the canary's deliberate race.
set -u
out=$("$1" 2>&1)
code=$?
if [[ $code -ne 0 ]] && grep -q "WARNING: ThreadSanitizer: data race" <<<"$out"; then
  echo "TSan caught the deliberate race (exit $code): it is watching"
  exit 0
fi
echo "TSan did NOT report the deliberate race (exit $code); is --config=tsan set?"
echo "$out" | tail -20
exit 1
