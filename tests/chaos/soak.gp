# soak.gp - a soak's samples (tests/chaos/run.sh soak) as three panels over
# time: the server's resident memory, open fds and threads, with the
# connections the client held open. The shaded first half is warm-up; the
# dashed line is the least-squares fit over the second half, the one the
# verdict (soak.h) judges.
#
#   gnuplot -e "samples='build/soak/samples.tsv'; out='build/soak/soak.png'; \
#               verdict='rss 16.1 -> 16.9 MiB flat, ...'" tests/chaos/soak.gp
#
# samples: t_s rss_kb fds threads conns open mib_out, one line a second.

stats samples using 1 nooutput
tmax = STATS_max / 60.0
set fit quiet
set fit logfile '/dev/null'

set terminal pngcairo size 1000,900 font ",10"
set output out
set multiplot layout 3,1 title "step10 under churn (column 10-t2w2), sampled once a second; " . \
    "shaded: warm-up; dashed: the fit over the rest\n" . verdict
set grid
set xrange [0:tmax]
set yrange [0:*]
set offsets 0, 0, graph 0.25, 0
set key left top horizontal opaque
set object 1 rect from 0, graph 0 to tmax / 2, graph 1 behind fc rgb "#eeeeee" fs solid noborder

f(x) = a + b * x
fit [tmax / 2:tmax] f(x) samples using ($1/60):($2/1024) via a, b
set ylabel "MiB"
plot samples using ($1/60):($2/1024) with lines lw 1.5 title "resident memory (VmRSS)", \
     [tmax / 2:tmax] f(x) with lines lw 2 dt 2 lc rgb "black" title sprintf("%+.2f MiB/h", b * 60)

g(x) = c + d * x
fit [tmax / 2:tmax] g(x) samples using ($1/60):3 via c, d
set ylabel "count"
plot samples using ($1/60):3 with lines lw 1.5 title "open fds", \
     samples using ($1/60):6 with lines lw 1.5 dt 2 lc rgb "#2a9d8f" title "connections the client holds open", \
     [tmax / 2:tmax] g(x) with lines lw 2 dt 2 lc rgb "black" title sprintf("%+.1f fds/h", d * 60)

h(x) = e + k * x
fit [tmax / 2:tmax] h(x) samples using ($1/60):4 via e, k
set ylabel "threads"
set xlabel "minutes"
plot samples using ($1/60):4 with lines lw 1.5 title "threads", \
     [tmax / 2:tmax] h(x) with lines lw 2 dt 2 lc rgb "black" title sprintf("%+.2f threads/h", k * 60)
unset multiplot
