#!/bin/sh
# same_results.sh REV [MODEL...] - do the programs built by this checkout's
# rnetc give byte-identical results to those built at git revision REV?
#
# For a refactor that must not change numbers: builds rnetc and the runtime
# at REV in a scratch worktree, compiles each model (default: models/mnist.rnet
# and models/mnist_resnet18.rnet, which take 1x28x28 digits) with both compilers, trains each program one
# epoch on the first 1,024 digits of data/mnist with 1 and with 2 threads
# (and at batch 12, below the direct convolutions' 16, with 2 threads),
# and compares the saved weights with cmp; then evaluates the weights with
# both programs at batch 256 and 7 (the test set's loss and accuracy) and
# prints the logits of four test digits at batch 1 (predict --logits), and
# compares that text.  Then (unless SAME_QUICK=1) every path of the
# generated code: `check --dump` (train logits, every gradient, inference
# logits, raw floats) of nine models (models/tiny, mnist, mnist_resnet18,
# cifar_resnet20 and tests/e2e's direct, mix, small, taps, wino) built with
# the default pipeline, -O0 and --passes none, at batch 17 (the direct
# convolutions) and 3 (the small-batch paths), compared with cmp.  Prints
# one line per comparison and exits non-zero if any pair differs.  Needs
# data/mnist (make data).
set -u
rev=${1:?usage: tools/same_results.sh REV [MODEL...]}
shift
[ $# -gt 0 ] || set -- models/mnist.rnet models/mnist_resnet18.rnet
cd "$(dirname "$0")/.." || exit 2
here=$PWD
[ -e data/mnist/train-images-idx3-ubyte.gz ] || { echo "same_results: run make data first" >&2; exit 2; }
T=$(mktemp -d)
trap 'git worktree remove --force "$T/old" >/dev/null 2>&1; rm -rf "$T"' EXIT
git worktree add --detach "$T/old" "$rev" >/dev/null 2>&1 || { echo "same_results: no revision $rev" >&2; exit 2; }
make -s -C "$T/old" all >"$T/build.log" 2>&1 || { tail "$T/build.log"; exit 2; }
make -s all >"$T/build.log" 2>&1 || { tail "$T/build.log"; exit 2; }
bad=0
for m in "$@"; do
    n=$(basename "$m" .rnet)
    RNET_HOME="$T/old" "$T/old/out/rnetc" "$m" -o "$T/$n.old" || exit 2
    out/rnetc "$m" -o "$T/$n.new" || exit 2
    for th in 1 2 2b12; do
        for v in old new; do
            b=; [ "$th" = 2b12 ] && b="--batch 12 --limit 240"
            "$T/$n.$v" train --data data/mnist --epochs 1 --limit 1024 $b --threads ${th%b12} \
                --no-progress --save "$T/$n.$v.$th.safetensors" >/dev/null || exit 2
        done
        if cmp -s "$T/$n.old.$th.safetensors" "$T/$n.new.$th.safetensors"; then
            echo "same  $n, $th thread(s): weights after 1 epoch identical to $rev's"
        else
            echo "DIFF  $n, $th thread(s): weights after 1 epoch differ from $rev's"
            bad=1
        fi
    done
    w="$T/$n.old.1.safetensors"
    img=data/mnist/t10k-images-idx3-ubyte.gz
    for v in old new; do
        { "$T/$n.$v" eval --data data/mnist --weights "$w" --batch 256 --threads 2
          "$T/$n.$v" eval --data data/mnist --weights "$w" --batch 7 --threads 1
          "$T/$n.$v" predict --weights "$w" --logits "$img:0" "$img:1" "$img:2" "$img:3"
        } >"$T/$n.$v.infer" 2>&1 || exit 2
    done
    if cmp -s "$T/$n.old.infer" "$T/$n.new.infer"; then
        echo "same  $n: eval at batch 256 and 7, logits at batch 1 identical to $rev's"
    else
        echo "DIFF  $n: inference differs from $rev's:"
        diff "$T/$n.old.infer" "$T/$n.new.infer" | head -10
        bad=1
    fi
done
[ "${SAME_QUICK:-0}" = 1 ] && exit $bad
for m in models/tiny.rnet models/mnist.rnet models/mnist_resnet18.rnet models/cifar_resnet20.rnet \
         tests/e2e/direct.rnet tests/e2e/mix.rnet tests/e2e/small.rnet tests/e2e/taps.rnet \
         tests/e2e/wino.rnet; do
    n=$(basename "$m" .rnet)
    for v in default -O0 "--passes none"; do
        f=; [ "$v" = default ] || f=$v
        # shellcheck disable=SC2086
        RNET_HOME="$T/old" "$T/old/out/rnetc" "$m" $f -o "$T/c.old" && out/rnetc "$m" $f -o "$T/c.new" || exit 2
        for b in 17 3; do
            for w in old new; do
                "$T/c.$w" check --batch $b --dump "$T/d.$w" >/dev/null 2>&1
            done
            if [ -s "$T/d.old" ] && cmp -s "$T/d.old" "$T/d.new"; then
                echo "same  $n ($v), check --dump at batch $b identical to $rev's"
            else
                echo "DIFF  $n ($v), check --dump at batch $b differs from $rev's"
                bad=1
            fi
            rm -f "$T/d.old" "$T/d.new"
        done
    done
done
exit $bad
