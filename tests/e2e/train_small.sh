#!/bin/sh
# train_small.sh - a short end-to-end run: compile a small ResNet, train it
# on 2,000 real MNIST digits for 3 epochs, and require it to learn (test
# accuracy on the 1,996 test digits above 85%); then eval and predict the
# saved weights, and check the CSV log.  Fetches data/mnist if missing.
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist || { fail "fetch mnist"; finish; }
$RNETC tests/e2e/small.rnet -o "$T/small" || { fail "build"; finish; }
"$T/small" train --data data/mnist --limit 2000 --threads 2 --log-dir "$T/run" >"$T/train.log" 2>&1 \
    || { fail "train"; cat "$T/train.log"; finish; }
cat "$T/train.log"
acc=$(sed -n 's/.*test acc *\([0-9.]*\)%.*/\1/p' "$T/train.log" | tail -1)
awk -v a="$acc" 'BEGIN { exit !(a > 85) }' || fail "test accuracy $acc% is not above 85%"
[ -s "$T/run/model.safetensors" ] || fail "no checkpoint written"
[ "$(wc -l <"$T/run/metrics.csv")" -ge 3 ] || fail "metrics.csv has too few lines"
"$T/small" eval --data data/mnist --weights "$T/run/model.safetensors" >"$T/eval.log" 2>&1 \
    || { fail "eval"; cat "$T/eval.log"; }
eacc=$(sed -n 's/.*accuracy *\([0-9.]*\)%.*/\1/p' "$T/eval.log" | head -1)
[ "$eacc" = "$acc" ] || fail "eval accuracy '$eacc' differs from training's final '$acc'"
"$T/small" predict --weights "$T/run/model.safetensors" data/mnist/t10k-images-idx3-ubyte.gz:0 \
    >"$T/pred.log" 2>&1 || { fail "predict"; cat "$T/pred.log"; }
grep -q "class" "$T/pred.log" || { fail "predict printed no class"; cat "$T/pred.log"; }
finish
