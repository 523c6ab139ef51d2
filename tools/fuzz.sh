#!/bin/sh
# fuzz.sh - build the libFuzzer target for the front end and run it.
#
#   tools/fuzz.sh [SECONDS]     fuzz for SECONDS (default 60), one process
#   tools/fuzz.sh --merge       minimise what was found into tests/fuzz/corpus
#
# Builds tests/fuzz/fuzz_frontend.c with the compiler's sources (every
# compiler/*.c but main.c, the generated parser and lexer, runtime/rn_ops.c, runtime/rn_geom.c)
# under clang's -fsanitize=fuzzer,address,undefined, into out/fuzz/.  Seeds
# are models/*.rnet, every tests/golden/**/*.rnet and tests/fuzz/corpus/;
# new inputs go to out/fuzz/corpus.  Crashes, leaks and hangs (over 5 s)
# are copied into tests/fuzz/crashers/, which tests/run.sh replays through
# rnetc, and make the script fail.  FUZZ_FLAGS adds libFuzzer flags, e.g.
# FUZZ_FLAGS="-len_control=0 -use_value_profile=1".  FUZZ_TIMEOUT (default
# 5) is the seconds one input may take before it counts as a hang.
set -eu
cd "$(dirname "$0")/.."

O=out/fuzz
CC=${FUZZ_CC:-clang}
mode=run
secs=60
case "${1:-}" in
--merge) mode=merge ;;
'') ;;
*[!0-9]*) echo "usage: tools/fuzz.sh [SECONDS] | --merge" >&2; exit 2 ;;
*) secs=$1 ;;
esac

command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC is not installed" >&2; exit 1; }
mkdir -p out/gen "$O/corpus" "$O/seed" "$O/artifacts" tests/fuzz/corpus tests/fuzz/crashers

# the parser and lexer, as the Makefile makes them
if [ ! -e out/gen/rnet.tab.c ] || [ grammar/rnet.y -nt out/gen/rnet.tab.c ]; then
    bison -Wall -Werror --defines=out/gen/rnet.tab.h -o out/gen/rnet.tab.c grammar/rnet.y
fi
if [ ! -e out/gen/rnet.lex.c ] || [ grammar/rnet.l -nt out/gen/rnet.lex.c ]; then
    flex --header-file=out/gen/rnet.lex.h -o out/gen/rnet.lex.c grammar/rnet.l
fi

srcs=$(ls compiler/*.c | grep -v -e '^compiler/main\.c$' -e '^compiler/emit_llvm\.c$' -e '^compiler/llvm_target\.c$')  # the LLVM backend is rnetc's only
# shellcheck disable=SC2086
"$CC" -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wno-unused-function -Icompiler -Iruntime -Iout/gen \
    -o "$O/fuzz_frontend" tests/fuzz/fuzz_frontend.c $srcs \
    out/gen/rnet.tab.c out/gen/rnet.lex.c runtime/rn_ops.c runtime/rn_geom.c -lm

rm -rf "$O/seed"
mkdir -p "$O/seed"
for f in models/*.rnet tests/golden/*/*.rnet; do
    [ -f "$f" ] && cp "$f" "$O/seed/$(echo "$f" | tr / _)"
done

if [ "$mode" = merge ]; then
    rm -rf "$O/merged"
    mkdir -p "$O/merged"
    # edges only (no hit-count buckets) and small files: the corpus is
    # replayed by every test run, so it should stay a few hundred files
    "$O/fuzz_frontend" -merge=1 -use_counters=0 -timeout=30 -max_len=2048 \
        "$O/merged" "$O/seed" tests/fuzz/corpus "$O/corpus"
    rm -f tests/fuzz/corpus/*
    cp "$O/merged"/* tests/fuzz/corpus/
    echo "fuzz.sh: tests/fuzz/corpus holds $(ls tests/fuzz/corpus | wc -l) files"
    exit 0
fi

status=0
"$O/fuzz_frontend" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-5}" -rss_limit_mb=2048 \
    -max_len=4096 -dict=tests/fuzz/rnet.dict -print_final_stats=1 \
    -artifact_prefix="$O/artifacts/" ${FUZZ_FLAGS:-} \
    "$O/corpus" "$O/seed" tests/fuzz/corpus || status=$?

found=0
for f in "$O/artifacts"/*; do
    [ -f "$f" ] || continue
    cp "$f" tests/fuzz/crashers/
    echo "fuzz.sh: kept $f in tests/fuzz/crashers/" >&2
    found=1
done
rm -f "$O/artifacts"/*
if [ "$found" = 1 ] || [ "$status" != 0 ]; then
    echo "fuzz.sh: the fuzzer found a problem (exit status $status)" >&2
    exit 1
fi
