#!/bin/sh
# fuzz.sh - build the libFuzzer targets of tests/fuzz/ and run them.
#
#   tools/fuzz.sh [--target NAME] [SECONDS]  fuzz NAME (default frontend) for
#                                           SECONDS (default 60), one process
#   tools/fuzz.sh --all SECONDS              every target in turn, SECONDS each
#   tools/fuzz.sh [--target NAME] --merge    minimise what was found into the
#                                           target's corpus in tests/fuzz/
#   tools/fuzz.sh [--target NAME] --replay   replay every target's (or NAME's)
#                                           seeds, corpus and crashers without
#                                           libFuzzer
#
# The targets, each tests/fuzz/fuzz_NAME.c:
#   frontend     the front end from compile_text on: every compiler/*.c but
#                main.c and the LLVM backend, the generated parser and lexer,
#                runtime/rn_ops.c, runtime/rn_geom.c
#   safetensors  the checkpoint reader (rn_st_open_mem)
#   idx          the IDX loader (rn_idx_load), plain and gzipped
#   png          the image decoders (rn_image_decode): PNG and PGM
#   cli          the built program's command line (rn_cli_main), with the
#                run functions stubbed out
#
# Each is built under clang's -fsanitize=fuzzer,address,undefined into
# out/fuzz/.  frontend's seeds are models/*.rnet, every
# tests/golden/**/*.rnet and tests/fuzz/corpus/, its new inputs go to
# out/fuzz/corpus and its findings to tests/fuzz/crashers/, which
# tests/run.sh replays through rnetc.  Another target NAME is seeded from
# tests/fuzz/corpus_NAME/ (safetensors: from two small files made here),
# keeps new inputs in out/fuzz/NAME/corpus and its findings in
# tests/fuzz/crashers_NAME/.  Crashes, leaks and hangs (over FUZZ_TIMEOUT
# seconds, default 5) are copied there and make the script fail.  After a
# run a line gives executions, executions per second, coverage (cov: and
# ft: of libFuzzer's last status line) and the findings; --all prints those
# lines for every target at the end.  FUZZ_FLAGS adds libFuzzer flags, e.g.
# FUZZ_FLAGS="-len_control=0 -use_value_profile=1"; FUZZ_CC is the
# compiler (clang).
#
# --replay builds every target with tests/fuzz/replay_main.c in place of
# libFuzzer, under REPLAY_CC (default gcc) with -fsanitize=address,undefined,
# into out/fuzz/replay/, gives it each seed, corpus and crasher file once,
# and fails if any input fails (a sanitizer report, an abort, a leak, or
# more than REPLAY_TIMEOUT seconds, default 600, for a target's files).
set -eu
cd "$(dirname "$0")/.."

O=out/fuzz
CC=${FUZZ_CC:-clang}
RCC=${REPLAY_CC:-gcc}
TARGETS="frontend safetensors idx png cli"
usage="usage: tools/fuzz.sh [--target NAME] [SECONDS | --merge | --replay] | --all SECONDS
targets: $TARGETS"
mode=run
target=frontend
replay=$TARGETS
secs=60
while [ $# -gt 0 ]; do
    case "$1" in
    --target)
        [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
        case " $TARGETS " in
        *" $2 "*) target=$2 replay=$2 ;;
        *) echo "fuzz.sh: unknown target '$2'" >&2; echo "$usage" >&2; exit 2 ;;
        esac
        shift ;;
    --merge) mode=merge ;;
    --all) mode=all ;;
    --replay) mode=replay ;;
    '' | *[!0-9]*) echo "$usage" >&2; exit 2 ;;
    *) secs=$1 ;;
    esac
    shift
done

# The target's sources, flags, files and libFuzzer options, as variables.
setup() {
    t=$1
    if [ "$t" = frontend ]; then
        D=$O
        corpus=tests/fuzz/corpus crashers=tests/fuzz/crashers
    else
        D=$O/$t
        corpus=tests/fuzz/corpus_$t crashers=tests/fuzz/crashers_$t
    fi
    inc="-Iruntime -Iruntime/host" libs='' dict='' maxlen=4096
    case "$t" in
    frontend)
        inc="-Wno-unused-function -Icompiler -Iruntime -Iout/gen" libs=-lm
        dict=tests/fuzz/rnet.dict
        # the LLVM backend is rnetc's only
        srcs="$(ls compiler/*.c | grep -v -e '^compiler/main\.c$' -e '^compiler/emit_llvm\.c$' \
            -e '^compiler/llvm_target\.c$') out/gen/rnet.tab.c out/gen/rnet.lex.c runtime/rn_ops.c \
            runtime/rn_geom.c" ;;
    safetensors) srcs="runtime/host/rn_safetensors.c runtime/host/rn_err.c" ;;
    idx) srcs="runtime/host/rn_idx.c runtime/host/rn_err.c" libs=-lz ;;
    png)
        srcs="runtime/host/rn_image.c runtime/host/rn_err.c" libs="-lz -lm"
        dict=$D/png.dict maxlen=16384 ;;
    cli)
        inc="-Iruntime -Iruntime/host -Iout/gen"
        srcs="runtime/host/rn_cli.c runtime/host/rn_host.c runtime/host/rn_cpu.c \
            runtime/host/rn_schedule.c runtime/host/rn_version.c runtime/rn_optim.c" libs=-lm
        dict=$D/cli.dict maxlen=1024 ;;
    esac
    mkdir -p "$D/corpus" "$D/artifacts"
}

# the parser, the lexer and the version header, made by the Makefile
gen_parser() {
    make -s out/gen/rnet.tab.c out/gen/rnet.lex.c out/gen/rn_version_gen.h
}

# build COMPILER SANITIZERS OUTPUT [EXTRA SOURCE]
build() {
    if [ "$t" = frontend ] || [ "$t" = cli ]; then gen_parser; fi
    # shellcheck disable=SC2086
    "$1" -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -fsanitize="$2" -fno-sanitize-recover=all \
        $inc -o "$3" tests/fuzz/fuzz_$t.c ${4:-} $srcs $libs
}

# Seeds made here, into $D/seed; the dictionaries too.
make_seeds() {
    rm -rf "$D/seed"
    mkdir -p "$D/seed"
    case "$t" in
    frontend)
        for f in models/*.rnet tests/golden/*/*.rnet; do
            if [ -f "$f" ]; then cp "$f" "$D/seed/$(echo "$f" | tr / _)"; fi
        done ;;
    safetensors)
        # 8-byte little-endian header length, the header padded with spaces
        # to a multiple of 8, the data: an F32 vector, an I64 scalar
        st_seed "$D/seed/two_tensors" \
            '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}' \
            '\000\000\200\077\000\000\000\300\007\000\000\000\000\000\000\000'
        st_seed "$D/seed/empty" '{}' '' ;;
    png)
        printf '%s\n' '"\x89PNG\x0d\x0a\x1a\x0a"' '"IHDR"' '"PLTE"' '"IDAT"' '"IEND"' '"tEXt"' \
            '"P5"' '"P2"' >"$dict" ;;
    cli)
        # the subcommands and option names
        sed -n -e 's/.*{ \("[a-z]*"\), cmd_.*/\1/p' -e 's/.*{ \("--[a-z-]*"\), A_.*/\1/p' \
            runtime/host/rn_cli.c | sort -u >"$dict" ;;
    esac
}

# st_seed FILE HEADER DATA (DATA in printf's octal escapes)
st_seed() {
    h=$2
    while [ $((${#h} % 8)) != 0 ]; do h="$h "; done
    # shellcheck disable=SC2059
    { printf "$(printf '\\%03o' "${#h}")\\000\\000\\000\\000\\000\\000\\000"; printf '%s' "$h"
      printf "$3"; } >"$1"
}

# "execs exec/s cov ft" from a libFuzzer log, "-" for what is not there
stats() {
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$1" | tail -1)
    last=$(grep -E '^#[0-9]+.* cov: ' "$1" | tail -1 || true)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    echo "${execs:--} ${rate:--} ${cov:--} ${ft:--}"
}

# Fuzz $t for $secs seconds; a summary line into $O/summary.  0 when
# nothing was found.
fuzz_one() {
    command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC is not installed" >&2; exit 1; }
    build "$CC" fuzzer,address,undefined "$D/fuzz_$t" || {
        echo "fuzz.sh: cannot build the $t target (is libFuzzer installed? it comes with clang)" >&2
        exit 1
    }
    make_seeds
    if [ "$t" = frontend ]; then mkdir -p "$corpus" "$crashers"; fi
    dirs="$D/seed"
    if [ -d "$corpus" ]; then dirs="$dirs $corpus"; fi
    log=$O/$t.log
    # shellcheck disable=SC2086
    { "$D/fuzz_$t" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb=2048 \
        -max_len=$maxlen ${dict:+-dict=$dict} -print_final_stats=1 \
        -artifact_prefix="$D/artifacts/" ${FUZZ_FLAGS:-} "$D/corpus" $dirs 2>&1
      echo $? >"$O/$t.status"; } | tee "$log" >&2
    status=$(cat "$O/$t.status")

    found=''
    for f in "$D/artifacts"/*; do
        [ -f "$f" ] || continue
        mkdir -p "$crashers"
        cp "$f" "$crashers/"
        echo "fuzz.sh: kept $f in $crashers/" >&2
        found="${found:+$found }$crashers/${f##*/}"
    done
    rm -f "$D/artifacts"/*
    if [ -z "$found" ] && [ "$status" != 0 ]; then found="exit status $status"; fi
    # shellcheck disable=SC2046,SC2183
    printf '%-12s %12s %8s %6s %7s  %s\n' "$t" $(stats "$log") "${found:-none}" >>"$O/summary"
    [ -z "$found" ]
}

header() {
    printf '%-12s %12s %8s %6s %7s  %s\n' target executions exec/s cov ft findings
}

case "$mode" in
run)
    setup "$target"
    rm -f "$O/summary"
    rc=0
    fuzz_one || rc=1
    header
    cat "$O/summary"
    if [ "$rc" != 0 ]; then
        echo "fuzz.sh: the fuzzer found a problem (exit status $status)" >&2
        exit 1
    fi ;;
all)
    mkdir -p "$O"
    rm -f "$O/summary"
    rc=0
    for t in $TARGETS; do
        setup "$t"
        fuzz_one || rc=1
    done
    header
    cat "$O/summary"
    [ "$rc" = 0 ] || { echo "fuzz.sh: the fuzzers found problems" >&2; exit 1; } ;;
merge)
    setup "$target"
    command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC is not installed" >&2; exit 1; }
    build "$CC" fuzzer,address,undefined "$D/fuzz_$t"
    make_seeds
    rm -rf "$D/merged"
    mkdir -p "$D/merged" "$corpus"
    # edges only (no hit-count buckets) and small files: the corpus is
    # replayed by every test run, so it should stay a few hundred files
    "$D/fuzz_$t" -merge=1 -use_counters=0 -timeout=30 -max_len=2048 \
        "$D/merged" "$D/seed" "$corpus" "$D/corpus"
    rm -f "$corpus"/*
    cp "$D/merged"/* "$corpus"/
    echo "fuzz.sh: $corpus holds $(ls "$corpus" | wc -l) files" ;;
replay)
    command -v "$RCC" >/dev/null || { echo "fuzz.sh: $RCC is not installed" >&2; exit 1; }
    mkdir -p "$O/replay"
    rc=0
    for t in $replay; do
        setup "$t"
        build "$RCC" address,undefined "$O/replay/fuzz_$t" tests/fuzz/replay_main.c
        make_seeds
        set --
        for f in "$D/seed"/* "$corpus"/* "$crashers"/*; do
            if [ -f "$f" ]; then set -- "$@" "$f"; fi
        done
        if timeout "${REPLAY_TIMEOUT:-600}" "$O/replay/fuzz_$t" "$@" >"$O/replay/$t.log" 2>&1; then
            echo "fuzz.sh: replay $t: $# inputs ok"
        else
            tail -40 "$O/replay/$t.log" >&2
            echo "fuzz.sh: replay $t FAILED (log: $O/replay/$t.log)" >&2
            rc=1
        fi
    done
    exit "$rc" ;;
esac
