# soak.gp - a soak's samples (tests/chaos/run.sh soak) as three panels over
# time: the server's resident memory, open fds and threads, with the
# connections the client had open. The shaded first half is warm-up; the
# verdict (soak.h) looks at the second half only.
#
#   gnuplot -e "samples='build/soak/samples.tsv'; out='build/soak/soak.png'; \
#               verdict='rss: flat fds: flat threads: flat'" tests/chaos/soak.gp
#
# samples: t_s rss_kb fds threads conns open mib_out, one line a second.

stats samples using 1 nooutput
tmax = STATS_max / 60.0

set terminal pngcairo size 1000,900 font ",10"
set output out
set multiplot layout 3,1 title "step10 under churn (column 10-t2w2), sampled once a second; " . \
    "shaded: warm-up, the verdict looks at the rest\n" . verdict
set grid
set xrange [0:tmax]
set key left top
set object 1 rect from 0, graph 0 to tmax / 2, graph 1 behind fc rgb "#eeeeee" fs solid noborder

set ylabel "MiB"
set yrange [0:*]
plot samples using ($1/60):($2/1024) with lines lw 1.5 title "resident memory (VmRSS)"

set ylabel "count"
plot samples using ($1/60):3 with lines lw 1.5 title "open fds", \
     samples using ($1/60):6 with lines lw 1 dt 2 title "connections the client holds open"

set ylabel "threads"
set xlabel "minutes"
set yrange [0:*]
plot samples using ($1/60):4 with lines lw 1.5 title "threads"
unset multiplot
