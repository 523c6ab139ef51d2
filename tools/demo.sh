#!/bin/sh
# demo.sh - make demo: the browser page of tools/demo/ with models/mnist.rnet
# compiled to wasm32, in out/demo/ (or $DEMO_DIR).
#
# The weights are runs/mnist/model.safetensors (what make mnist trains; it
# is trained first when missing) or $DEMO_WEIGHTS.  rnetc builds the
# standalone inference object (--backend llvm --inference-only --weights,
# --target wasm32-unknown-unknown --features +simd128), wasm-ld links it
# into mnist.wasm, and model.json takes the work size and normalisation
# from the --emit h header.  Serve the directory and open it:
#   cd out/demo && python3 -m http.server 8000     then http://localhost:8000/
set -eu
cd "$(dirname "$0")/.."
D=${DEMO_DIR:-out/demo}
W=${DEMO_WEIGHTS:-runs/mnist/model.safetensors}
RNETC=${RNETC:-out/rnetc}
tools/setup.sh --demo
if [ ! -f "$W" ]; then
    [ -z "${DEMO_WEIGHTS:-}" ] || { echo "demo.sh: $W: no such file" >&2; exit 1; }
    echo "demo.sh: $W is missing: training it (make mnist)" >&2
    make mnist
fi
mkdir -p "$D"
set -- models/mnist.rnet --backend llvm --inference-only --weights "$W" \
    --target wasm32-unknown-unknown --features +simd128
"$RNETC" "$@" --emit obj -o "$D/mnist.o"
"$RNETC" "$@" --emit h -o "$D/mnist.h"
ld=$(command -v wasm-ld-14 || command -v wasm-ld)
"$ld" --no-entry --export-dynamic --export=__heap_base -o "$D/mnist.wasm" "$D/mnist.o"
macro() { sed -n "s/^#define rnm_mnist_$1 *\\(.*\\)/\\1/p" "$D/mnist.h" | tr -d '{}fL '; }
cat >"$D/model.json" <<J
{ "name": "mnist", "classes": $(macro CLASSES), "work_floats": $(macro INFER_WORK_FLOATS),
  "mean": $(macro MEAN), "std": $(macro STD) }
J
cp tools/demo/index.html tools/demo/demo.js "$D/"
rm -f "$D/mnist.o"
echo "demo.sh: $D: index.html, demo.js, mnist.wasm ($(wc -c <"$D/mnist.wasm") bytes), model.json"
echo "demo.sh: cd $D && python3 -m http.server 8000   then open http://localhost:8000/"
