#!/bin/sh
# passes.sh - what the passes buy: each model built twice, with every pass
# (the default) and with no optional pass (--passes none: no fusion, no
# folding, no in-place, no Winograd, no direct convolutions; the memory
# planner still runs), then
# training images/s at batch 64 and inference images/s at batch 256,
# alternating the two builds, medians of BENCH_REPS runs; and the planned
# memory against the sum of all buffers (rnetc --print-memory).
# `make bench-passes` runs it.
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
die() { printf 'passes.sh: error: %s\n' "$*" >&2; exit 1; }
[ -d "$DATA" ] || make data >/dev/null || die "no data in $DATA (make data)"
# the same scheduling priority bench.sh takes (see there)
[ -w /proc/$$/autogroup ] && echo -20 >/proc/$$/autogroup 2>/dev/null
med() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rate() { # PROG MODE BATCH -> images/s
    "$1" bench --data "$DATA" --mode "$2" --batch "$3" --threads "$T" --seconds "$SECS" --csv 2>/dev/null |
        awk -F, '$1 == "result" { print $9; exit }'
}
printf '%-16s %-14s %14s %14s %7s\n' model measure "all passes" "no passes" ratio
for m in $MODELS; do
    out/rnetc "models/$m.rnet" -o "$B/$m-all" || die "build $m"
    out/rnetc "models/$m.rnet" --passes none -o "$B/$m-none" || die "build $m --passes none"
    for mode in "train 64" "infer 256"; do
        set -- $mode
        : >"$B/a" && : >"$B/n"
        r=0
        while [ $r -lt "$REPS" ]; do
            rate "$B/$m-all" "$1" "$2" >>"$B/a"
            rate "$B/$m-none" "$1" "$2" >>"$B/n"
            r=$((r + 1))
        done
        a=$(med <"$B/a") n=$(med <"$B/n")
        printf '%-16s %-14s %14.1f %14.1f %6.2fx\n' "$m" "$1 b$2 img/s" "$a" "$n" \
            "$(awk -v a="$a" -v n="$n" 'BEGIN { print (n > 0 ? a / n : 0) }')"
    done
done
echo
echo "planned memory (rnetc --print-memory): arena against the sum of all buffers"
for m in $MODELS; do
    for b in 64 256; do
        out/rnetc "models/$m.rnet" --print-memory --batch "$b" |
            awk -v m="$m" -v b="$b" '/^training plan/ { w = "train" } /^inference plan/ { w = "infer" }
                /^  arena/ { printf "%-16s %-6s b%-4d arena %9s MB  peak %9s MB  sum %9s MB\n", m, w, b, $2, $8, $(NF-1) }
                /of which folded/ { printf "%-16s %-6s b%-4d   (folded weights %s MB of it; activations and workspaces %s MB, their sum %s MB)\n", m, w, b, $5, $10, $(NF-1) }'
    done
done
out/rnetc models/resnet50.rnet --print-memory --batch 1 |
    awk '/^inference plan/ { w = 1 } w && /^  arena/ { print "resnet50 224x224 inference b1: arena " $2 " MB, sum of all buffers " $(NF-1) " MB" }
         w && /of which folded/ { print "  activations and workspaces " $10 " MB against their sum " $(NF-1) " MB (folded weights " $5 " MB)"; exit }'
