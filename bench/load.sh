#!/bin/sh
# load.sh - training under load: each model's program trains at batch 64
# on an idle machine and with one competing busy process (`yes`, the load
# a user's other work puts on one core), with the default thread setting
# (every processor; the program's OpenMP wait policy), with --threads 1,
# and with each environment in BENCH_LOAD_ENVS (space-separated VAR=VALUE
# settings, tried one at a time: the OpenMP spin counts to compare);
# alternating, medians of BENCH_REPS runs.  The bar (issue "Speed on any
# x86-64"): loaded, the default reaches at least 0.8x of --threads 1.
# `make bench-load` runs it.
#
# Environment: BENCH_REPS (5), BENCH_SECONDS (2), BENCH_MODELS ("mnist"),
# BENCH_DATA (data/mnist), BENCH_LOAD_ENVS ("GOMP_SPINCOUNT=300000
# OMP_WAIT_POLICY=passive": libgomp's own default spin, and no spinning).
set -u
cd "$(dirname "$0")/.." || exit 2
REPS=${BENCH_REPS:-5}
SECS=${BENCH_SECONDS:-2}
MODELS=${BENCH_MODELS:-mnist}
DATA=${BENCH_DATA:-data/mnist}
ENVS=${BENCH_LOAD_ENVS:-GOMP_SPINCOUNT=300000 OMP_WAIT_POLICY=passive}
B=out/bench
mkdir -p "$B"
die() { printf 'load.sh: error: %s\n' "$*" >&2; exit 1; }
[ -d "$DATA" ] || make data >/dev/null || die "no data in $DATA (make data)"
med() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rate() { # PROG [ENV] [ARGS] -> images/s
    p=$1 e=$2
    shift 2
    env $e "$p" bench --data "$DATA" --mode train --batch 64 --seconds "$SECS" --csv "$@" 2>/dev/null |
        awk -F, '$1 == "result" { print $9; exit }'
}
Y=
trap '[ -n "$Y" ] && kill $Y 2>/dev/null' EXIT
printf '# %s, %s processors\n' "$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" "$(nproc)"
printf '%-10s %-8s %-28s %12s %9s\n' model load setting "img/s" "/threads1"
for m in $MODELS; do
    out/rnetc "models/$m.rnet" -o "$B/$m-load" || die "build $m"
    for load in idle busy; do
        if [ $load = busy ]; then
            yes >/dev/null &
            Y=$!
            sleep 1
        fi
        : >"$B/t1" && : >"$B/d"
        for e in $ENVS; do : >"$B/e.$(echo "$e" | tr '=' '_')"; done
        r=0
        while [ $r -lt "$REPS" ]; do
            rate "$B/$m-load" "" --threads 1 >>"$B/t1"
            rate "$B/$m-load" "" >>"$B/d"
            for e in $ENVS; do rate "$B/$m-load" "$e" >>"$B/e.$(echo "$e" | tr '=' '_')"; done
            r=$((r + 1))
        done
        t1=$(med <"$B/t1")
        show() { printf '%-10s %-8s %-28s %12.1f %8.2fx\n' "$m" "$load" "$1" "$2" \
                     "$(awk -v a="$2" -v b="$t1" 'BEGIN { print (b > 0 ? a / b : 0) }')"; }
        show "--threads 1" "$t1"
        show "default" "$(med <"$B/d")"
        for e in $ENVS; do show "$e" "$(med <"$B/e.$(echo "$e" | tr '=' '_')")"; done
        if [ $load = busy ]; then kill $Y; wait $Y 2>/dev/null; Y=; fi
    done
done
