#!/bin/sh
# gen_warnings.sh - the generated C of every model (models/ and the test
# models; training and --inference-only builds) compiles with -Wall -Wextra
# -Werror, and it marks exactly the layer functions' unused parameters: a
# layer function has the layer table's signature (e, w, N), and the line
# `(void)e;` stands where its body reads no e (kir_uses).  With those
# lines removed, gcc's -Wunused-parameter must name each of them once, and
# nothing else.
. "$(dirname "$0")/lib.inc"
CFL="-std=c11 -Wall -Wextra -Werror -fopenmp -fsyntax-only -Iruntime -Iruntime/host"
for src in models/*.rnet tests/e2e/*.rnet; do
    for mode in train infer; do
        b=$(basename "$src" .rnet).$mode
        f=; [ $mode = infer ] && f=--inference-only
        $RNETC "$src" $f --emit c -o "$T/$b.c" 2>"$T/err" || { fail "$src $f --emit c: $(head -2 "$T/err")"; continue; }
        cc $CFL "$T/$b.c" 2>"$T/err" || { fail "$src $f: the generated C has warnings:"; head -5 "$T/err"; continue; }
        # each marked parameter, as file:function:name
        awk 'match($0, /[A-Za-z0-9_]+\(RnExec \*e, float \*w(, int N)?\)$/) {
                 fn = substr($0, RSTART); sub(/\(.*/, "", fn) }
             /^    (\(void\)[ewN]; ?)+$/ { for (i = 1; i <= NF; i++) { p = $i; sub(/^\(void\)/, "", p); sub(/;$/, "", p); print fn ":" p } }' \
            "$T/$b.c" | sort >"$T/marked"
        sed -E '/^    (\(void\)[ewN]; ?)+$/d' "$T/$b.c" >"$T/$b.strip.c"
        LC_ALL=C cc $CFL -Wno-error "$T/$b.strip.c" 2>&1 |
            awk -F"'" '/unused parameter/ { print fn ":" $2 } /In function/ { fn = $2 }' | sort >"$T/warned"
        cmp -s "$T/marked" "$T/warned" ||
            { fail "$src $f: the (void) lines and gcc's unused parameters differ:"; diff "$T/marked" "$T/warned" | head; }
        [ -s "$T/marked" ] && n=$((${n:-0} + 1))
    done
done
[ "${n:-0}" -gt 0 ] || fail "no model has a layer function with an unused parameter: the check above checked nothing"
finish
