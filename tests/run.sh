#!/bin/sh
# run.sh - the test runner: golden files, unit programs, fuzz-corpus replay
# and end-to-end scripts; prints "N passed, N failed" and fails on any failure.
#
#   tests/golden/shapes/X.rnet   expects  rnetc X.rnet --print-shapes  == X.shapes, exit 0
#   tests/golden/errors/X.rnet   expects  rnetc X.rnet (stderr)        == X.err,    exit 1
#   tests/golden/ir/X.rnet       expects  rnetc X.rnet --dump-ir       == X.ir,     exit 0
#   tests/golden/fused/X.fused   expects  rnetc models/X.rnet --print-after=dce == X.fused
#                                (the training and inference graphs after fusion)
#   tests/golden/gen/X.c, X.h    expects  rnetc models/X.rnet --emit c == X.c and X.h
#                                (the generated C itself, byte for byte)
#   tests/golden/sched/X.sched   expects  rnetc models/X.rnet --print-schedule == X.sched
#                                (every model's schedule and buffer plan)
#   out/tests/test_*             unit programs: each "PASS"/"FAIL" line counts
#   tests/fuzz/corpus/*, tests/fuzz/crashers/*   must not crash rnetc (exit 0 or 1)
#   tests/e2e/*.sh               end-to-end scripts: exit 0 = pass
#
# Set RNET_UPDATE=1 to rewrite the golden files from the current output.
cd "$(dirname "$0")/.." || exit 2
RNETC=${RNETC:-out/rnetc}
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

golden() { # dir flag ext want_status
    dir=$1 flag=$2 ext=$3 want=$4
    for src in tests/golden/$dir/*.rnet; do
        [ -e "$src" ] || continue
        exp=${src%.rnet}.$ext
        if [ "$ext" = err ]; then
            $RNETC "$src" $flag >/dev/null 2>"$tmp/out"; st=$?
        else
            $RNETC "$src" $flag >"$tmp/out" 2>"$tmp/err"; st=$?
        fi
        if [ -n "$RNET_UPDATE" ]; then cp "$tmp/out" "$exp"; fi
        if [ "$st" != "$want" ]; then
            bad "$src: exit status $st, expected $want"; cat "$tmp/out" "$tmp/err" 2>/dev/null | head -5
        elif ! [ -e "$exp" ]; then
            bad "$src: no expected file $exp"
        elif ! diff -u "$exp" "$tmp/out" >"$tmp/diff"; then
            bad "$src: output differs from $exp"; head -20 "$tmp/diff"
        else
            ok
        fi
    done
}

golden shapes --print-shapes shapes 0
golden errors "" err 1
golden ir --dump-ir ir 0
for exp in tests/golden/fused/*.fused; do
    [ -e "$exp" ] || continue
    m=$(basename "$exp" .fused)
    $RNETC "models/$m.rnet" --print-after=dce >"$tmp/out" 2>&1; st=$?
    if [ -n "$RNET_UPDATE" ]; then cp "$tmp/out" "$exp"; fi
    if [ "$st" != 0 ]; then
        bad "models/$m.rnet --print-after=dce: exit status $st"; head -5 "$tmp/out"
    elif ! diff -u "$exp" "$tmp/out" >"$tmp/diff"; then
        bad "models/$m.rnet: fused IR differs from $exp"; head -20 "$tmp/diff"
    else
        ok
    fi
done

for src in models/*.rnet; do
    m=$(basename "$src" .rnet)
    exp=tests/golden/sched/$m.sched
    $RNETC "$src" --print-schedule >"$tmp/out" 2>&1; st=$?
    if [ -n "$RNET_UPDATE" ]; then cp "$tmp/out" "$exp"; fi
    if [ "$st" != 0 ]; then
        bad "$src --print-schedule: exit status $st"; head -5 "$tmp/out"
    elif ! [ -e "$exp" ]; then
        bad "$src: no expected schedule $exp"
    elif ! diff -u "$exp" "$tmp/out" >"$tmp/diff"; then
        bad "$src: schedule differs from $exp"; head -20 "$tmp/diff"
    else
        ok
    fi
done
for exp in tests/golden/gen/*.c; do
    [ -e "$exp" ] || continue
    m=$(basename "$exp" .c)
    $RNETC "models/$m.rnet" --emit c -o "$tmp/$m.c" >"$tmp/err" 2>&1; st=$?
    if [ -n "$RNET_UPDATE" ]; then cp "$tmp/$m.c" "$exp"; cp "$tmp/$m.h" "${exp%.c}.h"; fi
    if [ "$st" != 0 ]; then
        bad "models/$m.rnet --emit c: exit status $st"; head -5 "$tmp/err"
    elif ! diff -u "$exp" "$tmp/$m.c" >"$tmp/diff" || ! diff -u "${exp%.c}.h" "$tmp/$m.h" >>"$tmp/diff"; then
        bad "models/$m.rnet: generated C differs from $exp"; head -20 "$tmp/diff"
    else
        ok
    fi
done
for t in out/tests/test_*; do
    [ -x "$t" ] || continue
    "$t" >"$tmp/out" 2>&1; st=$?
    p=$(grep -c '^PASS' "$tmp/out"); f=$(grep -c '^FAIL' "$tmp/out")
    pass=$((pass + p)); fail=$((fail + f))
    grep '^FAIL' "$tmp/out"
    if [ "$st" != 0 ] && [ "$f" = 0 ]; then
        bad "$t: exit status $st with no FAIL line"; tail -5 "$tmp/out"
    fi
done

for src in tests/fuzz/corpus/* tests/fuzz/crashers/*; do
    [ -f "$src" ] || continue
    $RNETC "$src" --print-shapes >/dev/null 2>&1; st=$?
    if [ "$st" -gt 1 ]; then bad "$src: rnetc exit status $st (crash?)"; else ok; fi
done

for s in tests/e2e/*.sh; do
    [ -f "$s" ] || continue
    if sh "$s" >"$tmp/out" 2>&1; then ok; else bad "$s"; tail -15 "$tmp/out"; fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
