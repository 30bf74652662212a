# plot.gp - throughput per stage, one panel per workload, with the reference
# peers (each in the stage's own protocol) as a dash over every stage.
#
#   gnuplot -e "datafile='plot.dat'; incfile='plot.inc'; outfile='x.png'" plot.gp
#
# datafile (from report.awk) has one block per workload, a line per stage:
#   x  stage  median msg/s  min  max  libevent  libuv
# incfile sets nworkloads and titles[1..nworkloads].

load incfile

set terminal pngcairo size 1400,1000 font ",10"
set output outfile
set multiplot layout 2,2 title "Messages per second by stage: median, bar = min-max over rounds; " . \
    "dashes: the peers in the stage's protocol"

set grid ytics
set yrange [0:*]
set offsets 0.5, 0.5, graph 0.12, 0
set ylabel "msg/s"
set key top left horizontal opaque
set style fill solid 0.5 border -1
set boxwidth 0.6
set format y "%.1s%c"

do for [i = 1:nworkloads] {
    set title titles[i]
    plot datafile index (i - 1) using 1:3:xtic(2) with boxes lc rgb "#4a7fb5" title "stage", \
         ''       index (i - 1) using 1:3:4:5 with yerrorbars pt 0 lc rgb "black" notitle, \
         ''       index (i - 1) using ($1 - 0.45):6:(0.9):(0) with vectors nohead lw 3 \
                  lc rgb "#c0392b" title "libevent", \
         ''       index (i - 1) using ($1 - 0.45):7:(0.9):(0) with vectors nohead lw 3 \
                  lc rgb "#27ae60" title "libuv"
}
unset multiplot
