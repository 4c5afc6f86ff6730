#!/usr/bin/env bash
# PNG plots of a run_suite.sh results directory, drawn with gnuplot (Debian package gnuplot-nox:
# no X11, has the pngcairo terminal). python3 (standard library only) turns the JSON into gnuplot
# data files under DIR/plotdata/. Writes, where the JSON is there:
#   allreduce_busbw.png  busbw vs message size, ring (solid) and MPI_Allreduce (dashed) per P
#   ckpt_io.png          checkpoint save / load against raw write()+fsync() / read(), GB/s
#                        (bar = median, whisker = slowest..fastest repeat)
#   mfu.png              MFU of bench_step configs and of `ringtune train` (overlap on, compute only)
# usage: plot_suite.sh DIR      exit 3 when gnuplot is not installed
set -euo pipefail
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: $0 RESULTS_DIR" >&2; exit 2; }
d=$(cd "$1" && pwd)
if ! command -v gnuplot >/dev/null; then
  echo "plot_suite: gnuplot not installed (apt-get install gnuplot-nox); no plots" >&2
  exit 3
fi
pd="$d/plotdata"
mkdir -p "$pd"
python3 - "$d" "$pd" <<'PY'
import glob, json, os, sys
d, pd = sys.argv[1], sys.argv[2]
def load(p):
    try: return json.load(open(p))
    except (OSError, ValueError): return None
# all-reduce: one file per P
ps = []
for f in sorted(glob.glob(os.path.join(d, "allreduce_p*.json"))):
    j = load(f)
    if not j or j.get("benchmark") != "allreduce" or not j.get("results"): continue
    P = j["config"]["ranks"]; ps.append(P)
    with open(os.path.join(pd, f"allreduce_p{P}.dat"), "w") as o:
        o.write("# bytes ring_busbw_GBps mpi_busbw_GBps (medians)\n")
        for r in j["results"]:
            o.write(f"{r['bytes']} {r['ring_busbw_GBps']['median']} {r['mpi_busbw_GBps']['median']}\n")
open(os.path.join(pd, "allreduce_ps.txt"), "w").write(" ".join(map(str, sorted(ps))))
# checkpoint: GB/s median with the best / worst repeat as whiskers
rows = []
for f in sorted(glob.glob(os.path.join(d, "ckpt_p*.json"))):
    j = load(f)
    if not j or j.get("benchmark") != "ckpt": continue
    P = j["config"]["ranks"]
    by_name = {r["name"]: r for r in j.get("results", [])}
    for key, label in [("save", "save"), ("raw_write_fsync", "raw write+fsync"),
                       ("load_same_count_cold", "load cold"),
                       ("load_resharded_cold", "load resharded cold"),
                       ("raw_read_cold", "raw read cold"),
                       ("load_same_count_warm", "load warm"), ("raw_read_warm", "raw read warm")]:
        g = by_name.get(key, {}).get("GBps")
        if not g or not g.get("median"): continue
        rows.append((f"{label} P={P}", g["median"], g["min"], g["max"]))
with open(os.path.join(pd, "ckpt.dat"), "w") as o:
    o.write("# label GBps_median GBps_worst GBps_best\n")
    for r in rows: o.write(f"\"{r[0]}\" {r[1]:.4f} {r[2]:.4f} {r[3]:.4f}\n")
# MFU bars
rows = []
j = load(os.path.join(d, "step.json"))
if j and j.get("benchmark") == "step":
    for r in j.get("results", []):
        rows.append((f"step {r['name']}", r["mfu"]["median"]))
for f in sorted(glob.glob(os.path.join(d, "train_*.json"))):
    j = load(f)
    if not j or j.get("benchmark") != "train_step": continue
    c, mfu = j["config"], {r["mode"]: r["mfu"]["median"] for r in j["results"]}
    rows.append((f"train {c['model']} P={c['ranks']}", mfu["overlap_on"]))
    rows.append((f"train {c['model']} compute only", mfu["compute_only"]))
with open(os.path.join(pd, "mfu.dat"), "w") as o:
    o.write("# label mfu\n")
    for r in rows: o.write(f"\"{r[0]}\" {r[1]:.4f}\n")
PY

host=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["hostname"], "-", m["cpu"]["model"])' \
       "$d/machine.json" 2>/dev/null | tr -d '"' || echo "")
ps=$(cat "$pd/allreduce_ps.txt")
n=0
if [ -n "$ps" ]; then
  plot=""
  for p in $ps; do
    f="$pd/allreduce_p$p.dat"
    plot+="${plot:+, }'$f' using 1:2 with linespoints lc $((p)) dt 1 title 'ring P=$p'"
    plot+=", '$f' using 1:3 with linespoints lc $((p)) dt 2 title 'MPI_Allreduce P=$p'"
  done
  gnuplot <<GP
set terminal pngcairo size 900,600 noenhanced
set output '$d/allreduce_busbw.png'
set title "all-reduce bus bandwidth vs message size\n$host"
set logscale x 2
set format x '%.0b%BB'
set xlabel 'message size'
set ylabel 'busbw (GB/s, median)'
set key left top
set grid
plot $plot
GP
  n=$((n + 1))
fi
if [ "$(grep -vc '^#' "$pd/ckpt.dat")" -gt 0 ]; then
  gnuplot <<GP
set terminal pngcairo size 900,600 noenhanced
set output '$d/ckpt_io.png'
set title "checkpoint I/O (bar: median; whisker: slowest..fastest repeat)\n$host"
set style fill solid 0.6 border -1
set boxwidth 0.7
set ylabel 'GB/s'
set yrange [0:*]
set xtics rotate by -30
set grid ytics
plot '$pd/ckpt.dat' using 0:2:xtic(1) with boxes notitle, \
     '' using 0:2:3:4 with yerrorbars lc black pt 0 notitle
GP
  n=$((n + 1))
fi
if [ "$(grep -vc '^#' "$pd/mfu.dat")" -gt 0 ]; then
  gnuplot <<GP
set terminal pngcairo size 900,600 noenhanced
set output '$d/mfu.png'
set title "model FLOPs utilisation (of the sgemm peak measured in the run)\n$host"
set style fill solid 0.6 border -1
set boxwidth 0.7
set ylabel 'MFU'
set yrange [0:*]
set xtics rotate by -30
set grid ytics
plot '$pd/mfu.dat' using 0:2:xtic(1) with boxes notitle
GP
  n=$((n + 1))
fi
echo "plot_suite: $n plot(s) in $d" >&2
