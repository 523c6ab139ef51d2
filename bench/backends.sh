#!/bin/sh
# backends.sh - the two backends side by side: each model built with
# --backend c and --backend llvm (the same scheduled, planned graph, the
# same runtime kernels), then training images/s at batch 64 and inference
# images/s at batch 256, alternating the two builds, medians of BENCH_REPS
# runs, and the LLVM build's ratio to the C build's (issue "One scheduled
# IR for both backends": at least 0.9x).  `make bench-backends` runs it.
#
# Environment: BENCH_THREADS (2), BENCH_REPS (5), BENCH_SECONDS (2),
# BENCH_MODELS ("mnist mnist_resnet18"), BENCH_DATA (data/mnist).
set -u
cd "$(dirname "$0")/.." || exit 2
T=${BENCH_THREADS:-2}
REPS=${BENCH_REPS:-5}
SECS=${BENCH_SECONDS:-2}
MODELS=${BENCH_MODELS:-mnist mnist_resnet18}
DATA=${BENCH_DATA:-data/mnist}
B=out/bench
mkdir -p "$B"
die() { printf 'backends.sh: error: %s\n' "$*" >&2; exit 1; }
[ -d "$DATA" ] || make data >/dev/null || die "no data in $DATA (make data)"
# the same scheduling priority bench.sh takes (see there)
[ -w /proc/$$/autogroup ] && echo -20 >/proc/$$/autogroup 2>/dev/null
med() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rate() { # PROG MODE BATCH -> images/s
    "$1" bench --data "$DATA" --mode "$2" --batch "$3" --threads "$T" --seconds "$SECS" --csv 2>/dev/null |
        awk -F, '$1 == "result" { print $9; exit }'
}
printf '# %s, %s threads, load %s\n' "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" "$T" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %-14s %14s %14s %7s\n' model measure "c" "llvm" "llvm/c"
for m in $MODELS; do
    out/rnetc "models/$m.rnet" -o "$B/$m-c" || die "build $m"
    out/rnetc "models/$m.rnet" --backend llvm -o "$B/$m-llvm" || die "build $m --backend llvm"
    for mode in "train 64" "infer 256"; do
        set -- $mode
        : >"$B/c" && : >"$B/l"
        r=0
        while [ $r -lt "$REPS" ]; do
            rate "$B/$m-c" "$1" "$2" >>"$B/c"
            rate "$B/$m-llvm" "$1" "$2" >>"$B/l"
            r=$((r + 1))
        done
        c=$(med <"$B/c") l=$(med <"$B/l")
        printf '%-16s %-14s %14.1f %14.1f %6.2fx\n' "$m" "$1 b$2 img/s" "$c" "$l" \
            "$(awk -v c="$c" -v l="$l" 'BEGIN { print (c > 0 ? l / c : 0) }')"
    done
done
