#!/usr/bin/env bash
# Instructions per call by variant, counted by callgrind (stable on a shared
# machine, unlike wall-clock time), whole process. The in-process client and
# server share gRPC's pollers, so which thread runs what varies from run to
# run and so do the counts, by about 1% (more over TLS): the variants run in
# interleaved rounds, and the table shows each variant's mean and the range
# of its ratio to A over the rounds.
# Usage: tests/benchmarks/instructions.sh [calls] [tsv] [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
calls="${1:-2000}"
tsv="${2:-}"  # optional: also write "<n>\t<variant>\t<instructions per call>" for plot.gp
rounds="${3:-2}"
bazel build -c opt //tests/benchmarks:instructions >/dev/null 2>&1
out="$(mktemp -d)"
valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" \
  bazel-bin/tests/benchmarks/instructions "$calls" "$rounds" >/dev/null 2>"$out/valgrind.log" ||
  { tail -20 "$out/valgrind.log"; exit 1; }
# Each dump: "desc: Trigger: Client Request: <variant> #<round>" and "summary: <Ir>".
for f in "$out"/cg.*.*; do
  awk -v calls="$calls" '
    /^desc: Trigger: Client Request: / { sub(/^desc: Trigger: Client Request: /, ""); name=$0 }
    /^summary: / { print name "\t" $2 / calls }' "$f"
done | sort >"$out/per_call.tsv"
awk -F'\t' '
  { split($1, p, " #"); v=p[1]; r=p[2]; sum[v]+=$2; n[v]++; per[v, r]=$2; if (r + 1 > rounds) rounds = r + 1 }
  END {
    a=sum["A plain"]/n["A plain"]; b=sum["B trivial interceptor"]/n["B trivial interceptor"];
    at=sum["A plain /tls"]/n["A plain /tls"];
    printf "%-34s %14s %8s %8s %16s\n", "variant", "instr/call", "vs A", "vs B", "vs A by round";
    order="A plain|B trivial interceptor|H hijack-and-forward|P per-call plugin floor|C authrefresh|S authrefresh, shared refresher|M authrefresh, Prometheus metrics|A plain /tls|C authrefresh /tls|D call credentials /tls|E authrefresh DPoP ES256 /tls|F authrefresh DPoP EdDSA /tls|G authrefresh + fixed dpop /tls";
    k=split(order, names, "|");
    for (i=1; i<=k; i++) { v=names[i]; x=sum[v]/n[v]; base=(v ~ /tls/) ? "A plain /tls" : "A plain";
      lo=9; hi=0;
      for (j=0; j<rounds; j++) { q=per[v, j]/per[base, j]; if (q<lo) lo=q; if (q>hi) hi=q }
      printf "%-34s %14.0f %8.3f %8s %7.3f-%.3f\n", v, x, x/((v ~ /tls/) ? at : a),
             (v ~ /tls/) ? "-" : sprintf("%.3f", x/b), lo, hi
      if (tsv != "") printf "%d\t%s\t%.0f\n", i, v, x > tsv }
  }' tsv="$tsv" "$out/per_call.tsv"
# DPoP: what E and F add to C over TLS, against one signature of their
# algorithm and the claims alone (the "Z" rows, per operation); G - C is
# what sending and receiving the header alone costs (no signing), so E - G
# is the proof's own work on the client.
awk -F'\t' '
  { split($1, p, " #"); v=p[1]; sum[v]+=$2; n[v]++; per[v, p[2]]=$2; if (p[2] + 1 > rounds) rounds = p[2] + 1 }
  function mean(v) { return sum[v]/n[v] }
  END {
    c="C authrefresh /tls"; g="G authrefresh + fixed dpop /tls";
    printf "%-34s %14.0f\n", "Z claims (jti, JSON, base64url)", mean("Z claims");
    printf "%-34s %14.0f\n", "  G - C (the header, sent and read)", mean(g) - mean(c);
    split("E authrefresh DPoP ES256 /tls|Z signature ES256|F authrefresh DPoP EdDSA /tls|Z signature EdDSA", d, "|");
    for (i=1; i<=3; i+=2) { x=mean(d[i]); s=mean(d[i+1]); l=substr(d[i], 1, 1);
      printf "%-34s %14.0f\n", d[i+1], s;
      lo=99; hi=0; glo=99; ghi=0;
      for (j=0; j<rounds; j++) { q=(per[d[i], j]-per[c, j])/per[d[i+1], j]; if (q<lo) lo=q; if (q>hi) hi=q;
                                 q=(per[d[i], j]-per[g, j])/per[d[i+1], j]; if (q<glo) glo=q; if (q>ghi) ghi=q }
      printf "%-34s %14.0f   = %.3f x its signature (rounds %.3f-%.3f)\n", "  " l " - C (DPoP per call)", x - mean(c), (x - mean(c)) / s, lo, hi;
      printf "%-34s %14.0f   = %.3f x its signature (rounds %.3f-%.3f)\n", "  " l " - G (the proof, made)", x - mean(g), (x - mean(g)) / s, glo, ghi }
  }' "$out/per_call.tsv"
echo "(mean of $rounds interleaved rounds x $calls calls; whole process, client + in-process server)"
rm -rf "$out"
