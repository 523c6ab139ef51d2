#!/bin/sh
# tools/bitsame.sh DIR [BATCH] - what a refactor of the compiler must keep
# bit-identical, written to DIR: for each model below and each of three
# pipelines (the default, -O0, --passes none), the C-backend program's
# `check --dump` (train logits, every gradient, inference logits, raw
# floats) and its md5 in DIR/sums.  Run it before and after a change and
# `cmp DIR1/sums DIR2/sums`; a difference names the model and pipeline.
# BATCH (default 17) is above RN_DIRECT_MIN_N, so the direct convolutions
# run; run it with 3 too for the small-batch paths.
set -e
dir=${1:?usage: tools/bitsame.sh DIR [BATCH]}
B=${2:-17}
RNETC=${RNETC:-out/rnetc}
mkdir -p "$dir"
: >"$dir/sums"
for m in models/tiny.rnet models/mnist.rnet models/mnist_resnet18.rnet models/cifar_resnet20.rnet \
         tests/e2e/direct.rnet tests/e2e/mix.rnet tests/e2e/small.rnet tests/e2e/taps.rnet \
         tests/e2e/wino.rnet; do
    name=$(basename "$m" .rnet)
    for v in default O0 none; do
        case $v in
        default) flags= ;;
        O0) flags=-O0 ;;
        none) flags="--passes none" ;;
        esac
        prog="$dir/$name.$v"
        # shellcheck disable=SC2086
        "$RNETC" "$m" $flags -o "$prog"
        "$prog" check --batch "$B" --dump "$prog.dump" >/dev/null
        echo "$name $v $(md5sum <"$prog.dump" | cut -d' ' -f1)" >>"$dir/sums"
    done
done
cat "$dir/sums"
