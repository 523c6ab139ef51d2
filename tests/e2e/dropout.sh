#!/bin/sh
# dropout.sh - the dropout layer: the generated code against the reference
# interpreter (`check`: the same masks, gradients within 1e-4) with both
# backends, -O0 and below the direct convolutions' batch; a run with dropout
# is repeatable to the bit and resumes to the bit (the masks are a function
# of the seed and the step); dropout changes training (another p, other
# weights) and not inference (eval twice: the same numbers; the inference
# graph copies the input); p outside [0, 1) is refused at its line.
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist >/dev/null || { fail "fetch mnist"; finish; }
mnist_subset "$T/data"
model() { # P: a small model with dropout p P after the stem and before the fc
    cat <<M
model drop {
    input 1x28x28
    classes 10
    stem { conv 3x3 8 stride 2; bn; relu; dropout $1 }
    stage 1 x basic 8
    stage 1 x basic double
    head { gap; dropout $1; fc }
    train { batch 32; epochs 2; lr 0.05; seed 5; normalize mean 0.1307 std 0.3081 }
}
M
}
model 0.3 >"$T/drop.rnet"
model 0.6 >"$T/drop6.rnet"
for be in c llvm; do
    $RNETC "$T/drop.rnet" --backend $be -o "$T/d.$be" || { fail "build ($be)"; continue; }
    for b in 3 17; do
        "$T/d.$be" check --batch $b >"$T/out" 2>&1 || { fail "check ($be), batch $b"; cat "$T/out"; }
    done
done
$RNETC "$T/drop.rnet" -O0 -o "$T/d0" && "$T/d0" check --batch 5 >"$T/out" 2>&1 ||
    { fail "check -O0"; cat "$T/out"; }
P=$T/d.c
tr() { # DIR ARGS: train into DIR
    mkdir -p "$T/$1"
    d=$1
    shift
    "$P" train --data "$T/data" --limit 512 --threads 1 --save "$T/$d/w.safetensors" "$@" >"$T/$d/log" 2>&1 ||
        fail "train $d: $(tail -2 "$T/$d/log")"
}
tr a
tr b
cmp -s "$T/a/w.safetensors" "$T/b/w.safetensors" || fail "two runs with dropout differ"
tr c --stop-after 1.5
"$P" train --resume "$T/c/w.safetensors" >>"$T/c/log" 2>&1 || fail "resume: $(tail -2 "$T/c/log")"
cmp -s "$T/a/w.safetensors" "$T/c/w.safetensors" || fail "stopped at 1.5 epochs and resumed: other weights"
$RNETC "$T/drop6.rnet" -o "$T/d6" || fail "build p 0.6"
"$T/d6" train --data "$T/data" --limit 512 --threads 1 --save "$T/six.safetensors" >"$T/log6" 2>&1 ||
    fail "train p 0.6"
cmp -s "$T/a/w.safetensors" "$T/six.safetensors" && fail "dropout 0.6 trained the same weights as 0.3"
"$P" eval --data "$T/data" --weights "$T/a/w.safetensors" --threads 1 >"$T/e1" 2>&1 || fail "eval"
"$P" eval --data "$T/data" --weights "$T/a/w.safetensors" --threads 1 >"$T/e2" 2>&1 || fail "eval again"
grep -q 'accuracy' "$T/e1" && cmp -s "$T/e1" "$T/e2" || { fail "inference with dropout is not repeatable"; cat "$T/e1" "$T/e2"; }
# the standalone inference object (its own CNHW lowering): dropout is the
# identity there too, the logits are the program's
$RNETC "$T/drop.rnet" --backend llvm --inference-only --weights "$T/a/w.safetensors" --emit obj \
    -o "$T/inf.o" && $RNETC "$T/drop.rnet" --backend llvm --inference-only \
    --weights "$T/a/w.safetensors" --emit h -o "$T/inf.h" || fail "standalone object"
infer_harness drop "$T/h.c"
I=$T/data/t10k-images-idx3-ubyte
if ${CC:-cc} -std=c11 -O1 -I"$T" -o "$T/h" "$T/h.c" "$T/inf.o" 2>"$T/err"; then
    "$T/h" "$I" 0 1 2 3 >"$T/h.out" || fail "standalone harness"
    "$P" predict --weights "$T/a/w.safetensors" --logits "$I:0" "$I:1" "$I:2" "$I:3" 2>/dev/null |
        sed 's/.*logits//' | paste -d' ' - "$T/h.out" | awk '
        { n = NF / 2; for (i = 1; i <= n; i++) { a = $i; b = $(i + n); d = a - b; if (d < 0) d = -d;
            m = a < 0 ? -a : a; if (m < 1e-3) m = 1e-3; if (d / m > 1e-4) { print NR ": " a " vs " b; bad = 1 } }
          rows++ }
        END { exit bad || rows != 4 }' || { fail "the standalone object's logits differ from predict's"; cat "$T/h.out"; }
else
    fail "the standalone object does not link alone"; cat "$T/err"
fi
model 1 >"$T/bad.rnet"
expect 1 "bad.rnet:4:.*a dropout probability is at least 0 and below 1, not 1" $RNETC "$T/bad.rnet" -o "$T/x"
finish
