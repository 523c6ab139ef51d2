#!/bin/sh
# passes.sh - every optional pass on its own, and the whole pipeline, keep
# the numbers of the unoptimised build (-O0: no optional pass, no buffer
# reuse): the same random weights and inputs (`check --dump`) give train
# logits, every gradient and inference logits within 1e-4 relative
# (max|a-b| / max(max|b|, 1e-3), as `check` measures).  Each build also
# passes `check` against the reference interpreter, at batch 3 (the
# im2col GEMMs) and at batch 20 (the direct convolutions take batches of
# 16+; a ragged block of 4).  The dumps compare at batch 3 only: between
# two builds a relu input within rounding of 0 may take either side, and
# at larger batches such units are common (`check` against the reference
# follows the generated code's choice there; two dumps cannot).  Then the
# memory plan: the program allocates what --print-memory reports.
. "$(dirname "$0")/lib.inc"
cmp_dump() { # A B N C: the sections of two dumps, relative error each
    python3 - "$@" <<'PY'
import sys, array
a, b = array.array('f'), array.array('f')
a.frombytes(open(sys.argv[1], 'rb').read()); b.frombytes(open(sys.argv[2], 'rb').read())
n = int(sys.argv[3]) * int(sys.argv[4])
if len(a) != len(b) or len(a) < 2 * n:
    print("sizes differ: %d and %d floats" % (len(a), len(b))); sys.exit(1)
bad = 0
for name, lo, hi in (("train logits", 0, n), ("gradients", n, len(a) - n), ("inference logits", len(a) - n, len(a))):
    ref = max(max(abs(v) for v in b[lo:hi]), 1e-3)
    err = max(abs(x - y) for x, y in zip(a[lo:hi], b[lo:hi])) / ref
    if not err <= 1e-4:
        print("%s: relative error %.3g" % (name, err)); bad = 1
sys.exit(bad)
PY
}
passes=$($RNETC --list-passes | awk '!/always/ { print $1 }')
[ -n "$passes" ] || fail "rnetc --list-passes printed no optional pass"
B=3
for src in tests/e2e/small.rnet tests/e2e/mix.rnet tests/e2e/wino.rnet tests/e2e/taps.rnet \
    tests/e2e/direct.rnet models/mnist.rnet; do
    name=$(basename "$src" .rnet)
    $RNETC "$src" -O0 -o "$T/$name-O0" || { fail "build $name -O0"; continue; }
    "$T/$name-O0" check --batch $B --dump "$T/ref" >"$T/out" 2>&1 || { fail "check $name -O0"; cat "$T/out"; }
    classes=$("$T/$name-O0" info | awk '/^classes/ { print $2 }')
    cfgs="all"
    [ "$name" = mnist ] || cfgs="all $passes"
    for p in $cfgs; do
        if [ "$p" = all ]; then opt=""; else opt="--passes $p"; fi
        $RNETC "$src" -O1 $opt -o "$T/$name-$p" || { fail "build $name $opt"; continue; }
        "$T/$name-$p" check --batch $B --dump "$T/got" >"$T/out" 2>&1 ||
            { fail "check $name passes=$p"; cat "$T/out"; continue; }
        "$T/$name-$p" check --batch 20 >"$T/out" 2>&1 ||
            { fail "check $name passes=$p, batch 20"; cat "$T/out"; }
        cmp_dump "$T/got" "$T/ref" $B "$classes" || fail "$name passes=$p differs from -O0"
    done
done
# the dump comparison notices a wrong gradient: scale one float of a dump
python3 -c "
import array,sys
a=array.array('f'); a.frombytes(open('$T/ref','rb').read()); a[40]=a[40]*1.01+1
open('$T/bad','wb').write(a.tobytes())"
cmp_dump "$T/bad" "$T/ref" $B "$classes" >/dev/null && fail "cmp_dump missed a changed gradient"

# the program's workspace is the plan's arena (max of training and inference)
$RNETC models/mnist.rnet --print-memory --batch 16 >"$T/mem" || fail "print-memory"
want=$(sed -n 's/^workspace the program allocates at batch 16: .* (\([0-9,]*\) bytes).*/\1/p' "$T/mem" | tr -d ,)
got=$("$T/mnist-all" info --batch 16 | awk '/^workspace/ { print $2 }')
[ -n "$want" ] && [ "$want" = "$got" ] || fail "workspace: plan says '$want' bytes, program '$got'"
# reuse pays: the training arena is well under the sum of its buffers
awk '/^training plan/ { t = 1 } t && /arena/ { a = $2; s = $(NF-1); exit !(a < s / 2) }' "$T/mem" ||
    fail "training arena not under half the sum of its buffers"
finish
