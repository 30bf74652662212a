# sweep.gp - the size sweep: CPU per message against payload size, one line
# per server; the total as a multiple of the floor's, then the total, the
# user and the system time per message.
#
#   gnuplot -e "datafile='sweep.dat'; incfile='sweep.inc'; outfile='x.png'" sweep.gp
#
# datafile (from sweep.awk) has one block per server, a line per size:
#   bytes  cpu us/msg  user us/msg  system us/msg  cpu x floor
# incfile sets nservers and names[1..nservers].

load incfile

set terminal pngcairo size 1400,1000 font ",10"
set output outfile
set multiplot layout 2,2 title "Size sweep: ping-pong, 100 connections, 1 in flight; " . \
    "server CPU per message (median over rounds)"

set logscale x 2
set xrange [40:400000]
set xtics ("64" 64, "512" 512, "2K" 2048, "4K" 4096, "8K" 8192, "16K" 16384, \
           "64K" 65536, "256K" 262144)
set xlabel "payload bytes"
set grid xtics ytics
set key top left
set style data linespoints

set title "CPU per message, x the floor's (median of per-round ratios; off the scale: clipped)"
set ylabel "x floor"
set yrange [0.8:1.6]
plot for [i = 1:nservers] datafile index (i - 1) using 1:5 lw 2 pt 7 title names[i], \
     1.05 with lines dt 2 lc rgb "black" title "floor + 5 %"

set logscale y 10
set yrange [*:*]
set key top left
set format y "%g"
set ylabel "us per message"
set title "CPU per message: user + system"
plot for [i = 1:nservers] datafile index (i - 1) using 1:2 lw 2 pt 7 title names[i]

set title "user time per message"
plot for [i = 1:nservers] datafile index (i - 1) using 1:3 lw 2 pt 7 title names[i]

set title "system time per message"
plot for [i = 1:nservers] datafile index (i - 1) using 1:4 lw 2 pt 7 title names[i]
unset multiplot
