#!/usr/bin/env bash
# usage: bench.sh BENCH_ALLREDUCE OUTDIR [RATES...]   (root; default rates: off 1gbit)
# bench_allreduce (ringtune's flat ring vs MPI_Allreduce) on emulated hosts: 2 and 3 hosts x 1
# and 2 ranks per host (ranks of one host use shared memory: btl tcp,vader,self), 1 to 64 MiB,
# links unshaped and TBF-shaped (shape.sh). One JSON per point in OUTDIR, and OUTDIR/summary.md:
# medians over repeats of the slowest rank's time, busbw = algbw * 2(P-1)/P in GB/s (1e9 B/s).
# Each run is bounded by `timeout`; the namespaces (prefix rtbn) are removed at the end.
# Optional env: BENCH_HOSTS ("2 3"), BENCH_PER ("1 2"), BENCH_MPIRUN_ARGS (extra mpirun options,
# e.g. "--mca coll_han_priority 100") and BENCH_TAG (appended to the file names and links column).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export RT_NETNS_PREFIX=${RT_NETNS_PREFIX:-rtbn}
B=$1 O=$2
shift 2
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(off 1gbit)
mkdir -p "$O"
trap '"$HERE/netns-down.sh"' EXIT
"$HERE/netns-down.sh"
"$HERE/netns-up.sh" 3
export RT_NETNS_BTL=tcp,vader,self OMP_NUM_THREADS=1
read -ra EXTRA <<<"${BENCH_MPIRUN_ARGS:-}"
T=${BENCH_TAG:+-$BENCH_TAG}
for rate in "${RATES[@]}"; do
    "$HERE/shape.sh" "$rate" >/dev/null
    for hosts in ${BENCH_HOSTS:-2 3}; do
        for per in ${BENCH_PER:-1 2}; do
            f="$O/h${hosts}x${per}-$rate$T.json"
            echo "== $hosts hosts x $per ranks, links $rate" >&2
            timeout -k 5 240 "$HERE/run-ns-mpi.sh" "$hosts" "$per" -x OMP_NUM_THREADS "${EXTRA[@]}" "$B" \
                --min-bytes 1048576 --max-bytes 67108864 --repeats "${REPEATS:-5}" >"$f" 2>"$O/h${hosts}x${per}-$rate$T.log" ||
                echo "FAILED (exit $?): $f" >&2
            grep -E '^ +[0-9]+ ' "$O/h${hosts}x${per}-$rate$T.log" >&2 || true
        done
    done
done
"$HERE/shape.sh" off >/dev/null
python3 - "$O" >"$O/summary.md" <<'PY'
import glob, json, os, sys
o = sys.argv[1]
print("| hosts x ranks | links | size | ring busbw GB/s | MPI busbw GB/s | ring ms | MPI ms |")
print("|---|---|---|---|---|---|---|")
for f in sorted(glob.glob(os.path.join(o, "h*.json"))):
    name = os.path.basename(f)[1:-5]
    hx, rate = name.split("-", 1)
    try:
        res = json.load(open(f))["results"]
    except Exception as e:
        print("| %s | %s | failed: %s | | | | |" % (hx, rate, e)); continue
    for r in res:
        if r["bytes"] not in (1 << 20, 16 << 20, 64 << 20):
            continue
        print("| %s | %s | %d MiB | %.3f | %.3f | %.1f | %.1f |" % (
            hx.replace("x", " x "), rate, r["bytes"] >> 20, r["ring_busbw_GBps"]["median"],
            r["mpi_busbw_GBps"]["median"], r["ring_s"]["median"] * 1e3, r["mpi_s"]["median"] * 1e3))
PY
cat "$O/summary.md"
