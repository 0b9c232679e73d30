# A bar chart by variant from a TSV whose rows are "<key>\t<variant>\t<value>":
#   gnuplot -e "in='t.tsv'; out='docs/x.png'; what='instructions per call'" tests/benchmarks/plot.gp
# instructions.sh writes such a TSV with --tsv=FILE (instructions per call).
set terminal png size 900,420 font ",10"
set output out
set datafile separator "\t"
set title what
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set yrange [0:*]
set xtics rotate by -25 left
set key off
plot in using 3:xtic(2) lc rgb "#4477aa", "" using 0:3:(sprintf("%.0f", $3)) with labels offset 0,0.7
