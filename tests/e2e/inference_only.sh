#!/bin/sh
# inference_only.sh - rnetc --inference-only with the C backend: the program
# has no backward pass or update (train and check refuse with a message), a
# smaller workspace (the inference plan alone), and evaluates the same
# weights to the same figures as the full build.
. "$(dirname "$0")/lib.inc"
mnist_subset "$T/data"
$RNETC tests/e2e/small.rnet -O1 -o "$T/full" || fail "build full"
$RNETC tests/e2e/small.rnet -O1 --inference-only -o "$T/inf" || fail "build --inference-only"
"$T/full" train --data "$T/data" --limit 512 --epochs 1 --batch 32 --threads 1 \
    --save "$T/w.safetensors" >"$T/out" 2>&1 || { fail "train"; cat "$T/out"; }
# eval at a batch that leaves a short last batch (300 = 9 x 32 + 12)
for p in full inf; do
    "$T/$p" eval --data "$T/data" --weights "$T/w.safetensors" --batch 32 >"$T/eval.$p" 2>&1 ||
        { fail "eval $p"; cat "$T/eval.$p"; }
    grep -v 'img/s\|seconds\|time' "$T/eval.$p" >"$T/evalx.$p"
done
cmp -s "$T/evalx.full" "$T/evalx.inf" || { fail "eval differs"; diff "$T/evalx.full" "$T/evalx.inf"; }
grep -q "accuracy" "$T/evalx.inf" || { fail "eval printed no accuracy"; cat "$T/eval.inf"; }
expect 1 "built with --inference-only" "$T/inf" train --data "$T/data"
expect 1 "built with --inference-only" "$T/inf" check
wf=$("$T/full" info --batch 64 | awk '/^workspace/ { print $2 }')
wi=$("$T/inf" info --batch 64 | awk '/^workspace/ { print $2 }')
[ -n "$wi" ] && [ "$wi" -lt "$wf" ] || fail "inference-only workspace $wi not below the full build's $wf"
want=$($RNETC tests/e2e/small.rnet --inference-only --print-memory --batch 64 |
    sed -n 's/^workspace the program allocates at batch 64: .* (\([0-9,]*\) bytes).*/\1/p' | tr -d ,)
[ "$want" = "$wi" ] || fail "inference-only workspace: plan $want bytes, program $wi"
finish
