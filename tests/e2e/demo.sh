#!/bin/sh
# demo.sh - the browser demo (make demo) in headless Chromium: digits drawn
# with the mouse and test digits painted onto the page (tools/demo_test.js);
# for each, the native program's predict on the same 28x28 image gives the
# same class and probabilities within 1e-4 of the page's.  Skipped with a
# note when Chromium, node, wasm-ld or playwright-core is missing (make
# demo-test installs them).  DEMO_DIR and DEMO_WEIGHTS (make demo-test:
# out/demo and the weights of make mnist) default to a temporary page with
# weights trained here for a few seconds.
. "$(dirname "$0")/lib.inc"
PWC=${PLAYWRIGHT:-$PWD/out/demo-node/node_modules/playwright-core}
for need in "${CHROMIUM:-/usr/bin/chromium}" "$(command -v node || echo node)" \
    "$(command -v wasm-ld-14 || command -v wasm-ld || echo wasm-ld)" "$PWC"; do
    if [ ! -e "$need" ]; then
        say "note: $need is not installed (make demo-test installs Chromium, wasm-ld and playwright-core); demo.sh skipped"
        finish
    fi
done
tools/fetch_data.sh mnist >/dev/null || { fail "fetch mnist"; finish; }
$RNETC models/mnist.rnet -o "$T/mnist" || { fail "build mnist"; finish; }
W=${DEMO_WEIGHTS:-}
if [ -z "$W" ]; then
    W=$T/w.safetensors
    "$T/mnist" train --data data/mnist --epochs 1 --limit 1024 --no-progress --save "$W" >"$T/train" 2>&1 ||
        { fail "training the demo's weights"; cat "$T/train"; finish; }
fi
D=${DEMO_DIR:-$T/demo}
DEMO_DIR=$D DEMO_WEIGHTS=$W tools/demo.sh >"$T/demo.log" 2>&1 || { fail "make demo"; cat "$T/demo.log"; finish; }
mkdir "$T/cases"
PLAYWRIGHT=$PWC node tools/demo_test.js "$D" data/mnist/t10k-images-idx3-ubyte.gz "${DEMO_DIGITS:-5}" \
    "$T/cases" >"$T/page.log" 2>&1 || { fail "the page in Chromium"; cat "$T/page.log"; finish; }
cat "$T/page.log"
n=0
for c in $(cat "$T/cases/cases"); do
    "$T/mnist" predict --weights "$W" --logits "$T/cases/$c.pgm" >"$T/p" 2>&1 || { fail "predict $c"; cat "$T/p"; continue; }
    # softmax of the program's logits in double, against the page's probabilities
    awk -v name="$c" 'NR == 1 { for (i = 3; i <= NF; i++) z[i - 3] = $i; n = NF - 2 }
        NR == 2 { m = z[0]; for (i = 1; i < n; i++) if (z[i] > m) m = z[i]
                  s = 0; for (i = 0; i < n; i++) s += exp(z[i] - m)
                  bn = 0; bq = 0; d = 0
                  for (i = 0; i < n; i++) { p = exp(z[i] - m) / s; q = $(i + 1)
                      if (i == 0 || p > pmax) { pmax = p; bn = i }
                      if (i == 0 || q > qmax) { qmax = q; bq = i }
                      e = p - q; if (e < 0) e = -e; if (e > d) d = e }
                  if (bn != bq || d > 1e-4) { printf "%s: program %d, page %d, max |dp| %.3g\n", name, bn, bq, d; exit 1 }
                  printf "%s: program and page agree: class %d, max |dp| %.2g\n", name, bn, d }' \
        "$T/p" "$T/cases/$c.probs" || fail "$c: the page and the program disagree"
    n=$((n + 1))
done
[ "$n" -ge 8 ] || fail "only $n cases checked"
[ -s "$D/screenshot.png" ] || fail "no screenshot in $D"
finish
