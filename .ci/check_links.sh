#!/usr/bin/env bash
# Checks the relative links of the manual: every Markdown link `](path)` or
# `](path#anchor)` in README.md and docs/*.md must point to a file that
# exists (relative to the page; a leading / means the repository root), and
# an anchor into another .md file must name one of its headings (GitHub's
# slug: lowercase, spaces to '-', punctuation other than '-' and '_' dropped,
# "-1", "-2", ... for repeated headings).
#
# Not checked: http(s):// and mailto: links, and pure #anchors within a page.
# Links inside fenced code blocks and `code spans` are not links and are
# skipped.
#
#   bash .ci/check_links.sh
#
# Prints each broken link as page:line: target (why) and exits 1 if there is
# any; otherwise prints "links ok (N checked)".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C

# The GitHub-style anchors of the headings of the Markdown file $1, one a line.
anchors_of() {
  awk '
    /^[ \t]*(```|~~~)/ { fence = !fence; next }
    fence { next }
    /^#+[ \t]/ && match($0, /^#+/) && RLENGTH <= 6 {
      h = $0
      sub(/^#+[ \t]+/, "", h)
      sub(/[ \t]+#+[ \t]*$/, "", h)
      h = tolower(h)
      slug = ""
      for (i = 1; i <= length(h); i++) {
        c = substr(h, i, 1)
        if (c ~ /[a-z0-9_-]/) slug = slug c
        else if (c == " ") slug = slug "-"
        else if (c > "\177") slug = slug c  # non-ASCII: kept as GitHub keeps letters
      }
      n = seen[slug]++
      if (n > 0) slug = slug "-" n
      print slug
    }' "$1"
}

# "line<TAB>target" for every link of the Markdown file $1.
links_of() {
  awk '
    /^[ \t]*(```|~~~)/ { fence = !fence; next }
    fence { next }
    {
      line = $0
      gsub(/`[^`]*`/, "", line)
      while (match(line, /\]\([^)]*\)/)) {
        print NR "\t" substr(line, RSTART + 2, RLENGTH - 3)
        line = substr(line, RSTART + RLENGTH)
      }
    }' "$1"
}

pages=(README.md)
shopt -s nullglob
pages+=(docs/*.md)
shopt -u nullglob

checked=0
broken=0
for page in "${pages[@]}"; do
  dir="$(dirname "$page")"
  while IFS=$'\t' read -r line target; do
    # Trim, drop <...> around the target and a "title" after it.
    target="${target#"${target%%[![:space:]]*}"}"
    target="${target%%[[:space:]]*}"
    target="${target#<}"
    target="${target%>}"
    case "$target" in
      "" | \#* | http://* | https://* | mailto:*) continue ;;
    esac
    checked=$((checked + 1))
    path="${target%%#*}"
    anchor=""
    [[ "$target" == *#* ]] && anchor="${target#*#}"
    if [[ "$path" == /* ]]; then
      file=".${path}"
    else
      file="${dir}/${path}"
    fi
    if [[ ! -e "$file" ]]; then
      echo "$page:$line: $target (no such file: $file)"
      broken=$((broken + 1))
      continue
    fi
    if [[ -n "$anchor" && "$file" == *.md && -f "$file" ]]; then
      if ! anchors_of "$file" | grep -qxF -- "$anchor"; then
        echo "$page:$line: $target (no heading with anchor #$anchor in $file)"
        broken=$((broken + 1))
      fi
    fi
  done < <(links_of "$page")
done

if ((broken > 0)); then
  echo "$broken broken link(s) of $checked checked"
  exit 1
fi
echo "links ok ($checked checked)"
