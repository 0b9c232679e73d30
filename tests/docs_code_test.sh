#!/usr/bin/env bash
# The code the manual shows is the code CI compiles: in README.md and
# docs/*.md, a line `<!-- code: PATH -->` must be followed by a fenced code
# block whose lines are exactly the file PATH of the repository.
#
#   bash tests/docs_code_test.sh [ROOT]   (Bazel: the runfiles root)
set -euo pipefail
root="${1:-${TEST_SRCDIR:+$TEST_SRCDIR/authrefresh}}"
root="${root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cd "$root"

checked=0
failed=0
for page in README.md docs/*.md; do
  while IFS=: read -r line path; do
    block="$(awk -v start="$line" '
      NR <= start { next }
      !open && /^```/ { open = 1; next }
      open && /^```/ { exit }
      open { print }' "$page")"
    if [[ ! -f "$path" ]]; then
      echo "$page:$line: $path does not exist"; failed=1; continue
    fi
    if ! diff <(printf '%s\n' "$block") "$path" >/tmp/docs_code_diff.$$ 2>&1; then
      echo "$page:$line: the block differs from $path:"; cat /tmp/docs_code_diff.$$; failed=1
    fi
    checked=$((checked + 1))
  done < <(grep -n -o '<!-- code: [^ ]* -->' "$page" | sed -E 's/<!-- code: ([^ ]*) -->/\1/')
done
rm -f /tmp/docs_code_diff.$$
if ((checked == 0)); then echo "no <!-- code: ... --> block found"; exit 1; fi
((failed == 0)) || exit 1
echo "docs code ok ($checked blocks)"
