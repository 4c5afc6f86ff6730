#!/bin/sh
# probe.sh dtls PROBE MODULE: lsan_probe dtls at K = 0..127; every run must exit 0.
# probe.sh leak PROBE: lsan_probe leak must fail with LeakSanitizer's report of exactly our leak.
# (tests/lsan/lsan_probe.c explains both.)
set -u
case $1 in
dtls)
    k=0
    while [ $k -lt 128 ]; do
        out=$("$2" dtls "$3" $k 2>&1) || {
            printf '%s\nprobe: lsan_probe dtls exited %s at K=%s\n' "$out" $? $k >&2
            exit 1
        }
        k=$((k + 1))
    done
    echo "probe: K = 0..127, every leak check at exit completed"
    ;;
leak)
    out=$("$2" leak 2>&1)
    rc=$?
    printf '%s\n' "$out"
    [ $rc -eq 1 ] || { echo "probe: exit code $rc, wanted 1 (AddressSanitizer's for leaks)" >&2; exit 1; }
    for re in 'Direct leak of 77 byte\(s\) in 1 object' 'in leak_on_purpose .*lsan_probe\.c' \
        'SUMMARY: AddressSanitizer: 77 byte\(s\) leaked in 1 allocation'; do
        printf '%s\n' "$out" | grep -Eq -- "$re" || { echo "probe: report lacks /$re/" >&2; exit 1; }
    done
    echo "probe: our leak reported, nothing else"
    ;;
*) echo "usage: probe.sh dtls PROBE MODULE | probe.sh leak PROBE" >&2; exit 2 ;;
esac
