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

# the generated inference code links against the kernels alone
# (out/librnet_kernels.a: runtime/, not runtime/host/): a program of the
# user's own calls rnm_small_forward on its own buffers
$RNETC tests/e2e/small.rnet --inference-only --emit c -o "$T/small.c" || fail "--emit c --inference-only"
cat >"$T/use.c" <<'C'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "small.h"
int main(void)
{
    enum { N = 3 };
    static float params[rnm_small_PARAM_FLOATS];
    for (long i = 0; i < rnm_small_PARAM_FLOATS; i++)
        params[i] = (float)((i * 7919 % 1000) - 500) / 5000.0f;  /* weights; variances > 0 below */
    for (int i = 0; i < rn_model.nparams; i++)
        if (rn_model.params[i].is_buffer)
            for (long k = 0; k < rn_model.params[i].numel; k++)
                params[rn_model.params[i].offset + k] = 1.0f;
    float *x = calloc((size_t)N * rnm_small_IN_C * rnm_small_IN_H * rnm_small_IN_W, sizeof(float));
    float *work = malloc(sizeof(float) * (size_t)rnm_small_WORK_FLOATS(N));
    float logits[N * rnm_small_CLASSES];
    for (long i = 0; i < (long)N * rnm_small_IN_C * rnm_small_IN_H * rnm_small_IN_W; i++)
        x[i] = (float)(i % 17) / 17.0f;
    RnExec e = { .params = params, .work = work, .logits = logits, .N_max = N };
    rnm_small_forward(&e, x, N, 0);
    int finite = 1;
    for (int i = 0; i < N * rnm_small_CLASSES; i++)
        finite &= isfinite(logits[i]) != 0;
    printf("%s %g\n", finite ? "finite" : "NOT FINITE", logits[0]);
    free(x);
    free(work);
    return !finite;
}
C
if cc -std=c11 -O2 ${RNET_CFLAGS:-} -fopenmp -Iruntime -I"$T" -o "$T/use" "$T/use.c" "$T/small.c" out/librnet_kernels.a -lm \
        2>"$T/ld.err"; then
    "$T/use" >"$T/use.out" || { fail "the program on the kernels alone"; cat "$T/use.out"; }
    ! nm "$T/use" | grep -q "rn_train_run\|rn_cli_main\|rn_ckpt_" || fail "host code linked in"
else
    fail "inference-only C does not link against out/librnet_kernels.a alone"; cat "$T/ld.err"
fi
finish
