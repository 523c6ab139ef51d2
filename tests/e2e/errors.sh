#!/bin/sh
# errors.sh - bad input to rnetc and to the programs it builds: one clear
# line naming the file and the problem, a non-zero exit, and nothing saved
# is lost.
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist || { fail "fetch mnist"; finish; }

# rnetc itself
expect 1 "cannot open 'nosuch.rnet'" $RNETC nosuch.rnet
expect 2 "unknown option '--frobnicate'" $RNETC models/tiny.rnet --frobnicate
expect 2 "unknown --emit kind 'pdf'" $RNETC models/tiny.rnet --emit pdf -o "$T/x"
expect 1 "the C compiler 'no-such-cc' failed" $RNETC models/tiny.rnet --cc no-such-cc -o "$T/x"

# a program for 1x28x28 digits, and one for another shape
alpha_model "$T/a.rnet"
sed 's/alpha/beta/; s/conv 3x3 4 stride 2/conv 3x3 6 stride 2/; s/basic 4/basic 6/' "$T/a.rnet" >"$T/b.rnet"
sed 's/alpha/gamma/; s/1x28x28/1x12x12/' "$T/a.rnet" >"$T/c.rnet"
for m in a b c; do $RNETC "$T/$m.rnet" -o "$T/$m" || fail "build $m"; done

expect 2 "unknown option '--bogus'" "$T/a" train --data data/mnist --bogus
expect 2 "unknown command 'fly'" "$T/a" fly
expect 1 "$T/nodata" "$T/a" train --data "$T/nodata" --epochs 1
expect 1 "1x12x12" "$T/c" train --data data/mnist --epochs 1

# a truncated IDX file is named with what is wrong
mkdir -p "$T/trunc"
gzip -dc data/mnist/t10k-images-idx3-ubyte.gz | head -c 5000 >"$T/trunc/t10k-images-idx3-ubyte"
cp data/mnist/t10k-labels-idx1-ubyte.gz data/mnist/train-*.gz "$T/trunc/"
expect 1 "truncated" "$T/a" eval --data "$T/trunc" --weights "$T/none.safetensors"

# train alpha briefly and keep its weights
"$T/a" train --data data/mnist --epochs 1 --limit 256 --save "$T/a.safetensors" >/dev/null 2>&1 \
    || fail "short training run"
sum=$(cksum <"$T/a.safetensors")

# weights for another model, a corrupt file, a missing file
expect 1 "alpha" "$T/b" eval --data data/mnist --weights "$T/a.safetensors"
head -c 300 "$T/a.safetensors" >"$T/cut.safetensors"
expect 1 "cut.safetensors" "$T/a" eval --data data/mnist --weights "$T/cut.safetensors"
expect 1 "nosuch.safetensors" "$T/a" predict --weights "$T/nosuch.safetensors" x.png

# a NaN loss stops the run, and the saved file is untouched
expect 1 "NaN\|nan\|not finite" "$T/a" train --data data/mnist --epochs 1 --limit 256 --lr 1e30 \
    --save "$T/a.safetensors"
[ "$(cksum <"$T/a.safetensors")" = "$sum" ] || fail "a failed run changed the saved weights"

# a run that diverges without a NaN loss (--lr 1e5: the loss stays finite,
# a running variance overflows) is refused at the save, naming the tensor
expect 1 "training diverged: tensor '.*' has [0-9]* non-finite" "$T/a" train --data data/mnist \
    --epochs 1 --limit 256 --lr 1e5 --threads 1 --save "$T/a.safetensors"
[ "$(cksum <"$T/a.safetensors")" = "$sum" ] || fail "a diverged run changed the saved weights"

# thread counts beyond the machine are capped, with a word (100,000 crashed)
expect 0 "threads 100000: this machine has [0-9]* processor" "$T/a" eval --data data/mnist \
    --weights "$T/a.safetensors" --threads 100000
# optimizer options: in range, and only for the optimizer they belong to
expect 2 "momentum must be in \[0, 1)" "$T/a" train --data data/mnist --epochs 1 --limit 64 \
    --momentum 1.5 --save "$T/m.safetensors"
expect 2 "momentum applies to --optimizer sgd only (this run uses adam)" "$T/a" train \
    --data data/mnist --epochs 1 --limit 64 --optimizer adam --momentum 0.5 --save "$T/m.safetensors"
expect 2 "nesterov applies to --optimizer sgd only" "$T/a" train \
    --data data/mnist --epochs 1 --limit 64 --optimizer adamw --nesterov --save "$T/m.safetensors"
[ -e "$T/m.safetensors" ] && fail "a refused run saved weights"
# counts read from a state file whose checksum is right are still bounded
"$T/a" train --data data/mnist --epochs 1 --limit 128 --save "$T/s.safetensors" >/dev/null 2>&1 \
    || fail "short run for the state file"
python3 tests/e2e/restate.py "$T/s.state.safetensors" threads=1000 || fail "restate.py"
expect 0 "threads 1000: this machine has" "$T/a" train --resume "$T/s.safetensors" --epochs 2
python3 tests/e2e/restate.py "$T/s.state.safetensors" threads=100000 batch=2000000000
expect 1 "s.state.safetensors: metadata 'threads' is out of range" "$T/a" train \
    --resume "$T/s.safetensors" --epochs 3

# an image of the wrong size is refused
printf 'P5\n5 5\n255\n' >"$T/small.pgm"
head -c 25 /dev/zero >>"$T/small.pgm"
expect 1 "small.pgm" "$T/a" predict --weights "$T/a.safetensors" "$T/small.pgm"
# the pass pipeline's flags
expect 1 "unknown pass 'fuse-relux'; did you mean 'fuse-relu'?" $RNETC models/tiny.rnet --passes fuse-relux -o "$T/x"
expect 1 "unknown pass 'bogus'" $RNETC models/tiny.rnet --print-after=bogus
expect 2 "--batch wants a number from 1 to 1000000, not '0'" $RNETC models/tiny.rnet --batch 0 --print-memory
finish
