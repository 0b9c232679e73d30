# A storm over time (tests/benchmarks/storm_timeline.cc writes the TSV):
#   gnuplot -e "in='/tmp/storm.tsv'; out='docs/storm_timeline.png'" tests/benchmarks/storm_timeline.gp
# Columns: t_ms in_flight completed rejected waited replayed refreshing.
set terminal pngcairo size 900,520 font "sans,10"
set output out
set title "A revocation storm, as authrefresh's metrics show it (32 calls in a loop; at 100 ms tokens revoked, 512 calls more)"
set xlabel "time (ms)"
set ylabel "calls"
set y2label "calls completed per ms (5 ms average)"
set ytics nomirror
set y2tics
set key below maxrows 2
set grid ytics
set xrange [0:*]
set autoscale xfixmax
stats in using 2 name "F" nooutput
stats in using 6 name "R" nooutput
top = (F_max > R_max ? F_max : R_max) * 1.15
set yrange [0:top]
set y2range [0:*]
# Calls waiting now: call.waited since the refresh started, while it runs
# (every waiter is released when it ends).
waiting(refreshing, waited) = (refreshing > 0.5) ? waited - base : (base = waited, 0)
base = 0
# Completions per ms, averaged over the last 5 samples.
c0 = c1 = c2 = c3 = c4 = c5 = 0
rate(c) = (c5 = c4, c4 = c3, c3 = c2, c2 = c1, c1 = c0, c0 = c, (c0 - c5) / 5.0)
set style fill transparent solid 0.15 noborder
plot in using 1:($7 * top) with filledcurves y1=0 lc rgb "#cc6677" title "the one refresh in flight", \
     "" using 1:(rate($3)) axes x1y2 with lines lw 1 lc rgb "#bbbbbb" title "calls completed per ms (right axis)", \
     "" using 1:2 with lines lw 2 lc rgb "#222222" title "calls in flight", \
     "" using 1:4 with lines lw 2 lc rgb "#ee6677" title "call.rejected (cumulative)", \
     "" using 1:(waiting($7, $5)) with lines lw 2 lc rgb "#228833" title "calls waiting for the refresh (call.waited since it started)", \
     "" using 1:6 with lines lw 2 dt 2 lc rgb "#4477aa" title "call.replayed (cumulative)"
