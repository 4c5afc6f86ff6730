#!/usr/bin/env bash
# PNG plots of a run_suite.sh results directory, drawn with gnuplot (Debian package gnuplot-nox:
# no X11, has the pngcairo terminal). benchmarks/suite_report.py turns the JSON into gnuplot data
# files under DIR/plotdata/. Writes, where the JSON is there:
#   allreduce_busbw.png  busbw vs message size, ring (solid) and MPI_Allreduce (dashed) per P
#   allreduce_netns.png  the same across emulated hosts, unshaped and TBF-shaped links
#   scaling.png          weak and strong scaling: efficiency and tokens/s (with ideal) vs ranks
#   mfu.png              MFU bars: one-process step, `ringtune train` (fp32, bf16), PyTorch side by side
#   gemm.png             GFLOPS of each GEMM of a training step, BLIS's own kernels vs ringtune's
#   ckpt_io.png          checkpoint save / load against raw write()+fsync() / read(), GB/s
#                        (bar = median, whisker = slowest..fastest repeat)
# usage: plot_suite.sh DIR      exit 3 when gnuplot is not installed
set -euo pipefail
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: $0 RESULTS_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
d=$(cd "$1" && pwd)
if ! command -v gnuplot >/dev/null; then
  echo "plot_suite: gnuplot not installed (apt-get install gnuplot-nox); no plots" >&2
  exit 3
fi
pd="$d/plotdata"
python3 "$here/suite_report.py" "$d" --plotdata "$pd" > /dev/null
title=$(tr -d "'\"" < "$pd/title.txt")
rows() { grep -vc '^#' "$1" 2>/dev/null || true; }
n=0
bars='set style fill solid 0.6 border -1
set boxwidth 0.7
set yrange [0:*]
set xtics rotate by 30 right
set bmargin 8
set grid ytics'

# busbw_png FILE TITLE YLABEL PLOT: busbw against message size (log 2 axis), one line per series
busbw_png() {
  gnuplot <<GP
set terminal pngcairo size 1000,650 noenhanced
set output '$d/$1'
set title "$2\n$title"
set logscale x 2
set format x '%.0b%BB'
set xlabel 'message size'
set ylabel '$3'
set key left top
set grid
plot $4
GP
  n=$((n + 1))
}

ps=$(cat "$pd/allreduce_ps.txt")
if [ -n "$ps" ]; then
  plot="" i=1
  for p in $ps; do
    f="$pd/allreduce_p$p.dat"
    plot+="${plot:+, }'$f' using 1:2 with linespoints lc $i dt 1 pt 7 title 'ring P=$p'"
    plot+=", '$f' using 1:3 with linespoints lc $i dt 2 pt 6 title 'MPI_Allreduce P=$p'"
    i=$((i + 1))
  done
  busbw_png allreduce_busbw.png "all-reduce bus bandwidth vs message size (medians)" \
      'busbw = algbw * 2(P-1)/P  (GB/s)' "$plot"
fi

if [ -s "$pd/netns_series.txt" ]; then
  plot="" i=1
  while IFS='|' read -r f label; do
    plot+="${plot:+, }'$pd/$f' using 1:2 with linespoints lc $i dt 1 pt 7 title 'ring, $label'"
    plot+=", '$pd/$f' using 1:3 with linespoints lc $i dt 2 pt 6 title 'MPI, $label'"
    i=$((i + 1))
  done < "$pd/netns_series.txt"
  busbw_png allreduce_netns.png \
      "all-reduce across emulated hosts (network namespaces, TBF-shaped links)" \
      'busbw (GB/s, median)' "$plot"
fi

if [ "$(rows "$pd/scaling_weak.dat")" -gt 0 ] || [ "$(rows "$pd/scaling_strong.dat")" -gt 0 ]; then
  gnuplot <<GP
set terminal pngcairo size 1200,550 noenhanced
set output '$d/scaling.png'
set multiplot layout 1,2 title "ringtune train scaling (weak: fixed per-rank batch; strong: fixed global batch)\n$title"
set logscale x 2
set xlabel 'ranks'
set grid
set key left bottom
set ylabel 'efficiency'
set yrange [0:1.1]
plot '$pd/scaling_weak.dat' using 1:2 with linespoints pt 7 lw 2 title 'weak', \
     '$pd/scaling_strong.dat' using 1:2 with linespoints pt 5 lw 2 title 'strong', \
     0.95 with lines dt 2 lc rgb 'gray' title 'weak-scaling goal 0.95'
set ylabel 'tokens/s (median; bars: quartiles)'
set yrange [*:*]
set logscale y 2
set key left top
plot '$pd/scaling_weak.dat' using 1:3:4:5 with yerrorlines pt 7 title 'weak', \
     '' using 1:6 with lines dt 2 title 'weak, ideal', \
     '$pd/scaling_strong.dat' using 1:3:4:5 with yerrorlines pt 5 title 'strong', \
     '' using 1:6 with lines dt 3 title 'strong, ideal'
unset multiplot
GP
  n=$((n + 1))
fi

if [ "$(rows "$pd/mfu.dat")" -gt 0 ]; then
  gnuplot <<GP
set terminal pngcairo size 1000,650 noenhanced
set output '$d/mfu.png'
set title "model FLOPs utilisation (of the sgemm peak each measured in its run; whisker: min..max step)\n$title"
$bars
set ylabel 'MFU'
set yrange [0:1]
set key left top
plot '$pd/mfu.dat' using 0:2:xtic(1) with boxes notitle, \
     '' using 0:2:3:4 with yerrorbars lc black pt 0 notitle, \
     0.7 with lines dt 2 lc rgb 'gray' title 'goal 0.70 (GPT-2 124M, 2 x 1)'
GP
  n=$((n + 1))
fi

if [ "$(rows "$pd/gemm.dat")" -gt 0 ]; then
  gnuplot <<GP
set terminal pngcairo size 1300,650 noenhanced
set output '$d/gemm.png'
set title "BLIS sgemm GFLOPS of one training step's products (medians): BLIS's own kernel choice vs ringtune's\n$title"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set yrange [0:*]
set xtics rotate by 45 right font ',9'
set bmargin 9
set grid ytics
set ylabel 'GFLOPS'
set key right top
plot '$pd/gemm.dat' using 2:xtic(1) title 'auto (BLIS)', '' using 3 title 'chosen (ringtune)'
GP
  n=$((n + 1))
fi

if [ "$(rows "$pd/ckpt.dat")" -gt 0 ]; then
  gnuplot <<GP
set terminal pngcairo size 1000,650 noenhanced
set output '$d/ckpt_io.png'
set title "checkpoint I/O (bar: median; whisker: slowest..fastest repeat)\n$title"
$bars
set ylabel 'GB/s'
plot '$pd/ckpt.dat' using 0:2:xtic(1) with boxes notitle, \
     '' using 0:2:3:4 with yerrorbars lc black pt 0 notitle
GP
  n=$((n + 1))
fi
echo "plot_suite: $n plot(s) in $d" >&2
