#!/bin/sh
# resume.sh - checkpoints and `train --resume`: a run stopped and resumed
# must end with the same bytes as a run never stopped (same threads: 2 for
# the first case, 1 for the others so that a busy machine slows them less), for
# a stop at an epoch boundary, inside an epoch, twice in a row, with Adam's
# two buffers, after extending a finished run with a larger --epochs, and
# after Ctrl-C (SIGINT).  Then the refusals: an option that conflicts with
# the saved run, a finished run, a missing / truncated / damaged state
# file, damaged weights, a tensor of the wrong shape, and the checkpoint
# of another model or of another source of the same model.
#
# A small ResNet on the first 512 training digits, evaluated on 300 test
# digits, so an epoch takes a fraction of a second.
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist >/dev/null || { fail "fetch mnist"; finish; }

D=$T/data
mnist_subset "$D"

cat >"$T/small.rnet" <<'M'
model small {
    input 1x28x28
    classes 10
    stem { conv 3x3 8 stride 2; bn; relu }
    stage 1 x basic 8
    stage 1 x basic double
    head { gap; fc }
    train {
        optimizer sgd momentum 0.9 nesterov
        lr 0.1
        schedule cosine warmup 1
        weight_decay 5e-4 exclude_bn_bias
        label_smoothing 0.1
        batch 32
        epochs 4
        normalize mean 0.1307 std 0.3081
        augment shift 2
        seed 7
    }
}
M
# the same model with another source (a comment), and another model
sed 's/^model small {/model small { # another source/' "$T/small.rnet" >"$T/small2.rnet"
sed 's/^model small {/model other {/' "$T/small.rnet" >"$T/other.rnet"
for m in small small2 other; do
    $RNETC "$T/$m.rnet" -O1 -o "$T/$m" || { fail "build $m"; finish; }
done
P=$T/small
run() { # DIR ARGS...: train into DIR/w.safetensors
    dir=$1
    shift
    mkdir -p "$T/$dir"
    "$P" train --data "$D" --limit 512 --threads "${THREADS:-1}" --save "$T/$dir/w.safetensors" "$@" \
        >>"$T/$dir/log" 2>&1
}
resume() { # DIR ARGS...
    dir=$1
    shift
    "$P" train --resume "$T/$dir/w.safetensors" "$@" >>"$T/$dir/log" 2>&1
}
same() { # NAME DIR_A DIR_B: final weights byte for byte
    if cmp -s "$T/$2/w.safetensors" "$T/$3/w.safetensors"; then
        say "ok: $1: $(wc -c <"$T/$3/w.safetensors") bytes identical"
    else
        fail "$1: $3/w.safetensors differs from $2/w.safetensors"
        tail -4 "$T/$2/log" "$T/$3/log"
    fi
}

# ---- SGD with Nesterov momentum, cosine schedule, warm-up, shifts ----
THREADS=2 run straight2 || fail "straight run: $(tail -2 "$T/straight2/log")"
THREADS=2 run boundary --stop-after 2 || fail "stop after 2 epochs"
grep -q "stopped after epoch 2 of 4 (step 32)" "$T/boundary/log" ||
    fail "no stop message: $(tail -2 "$T/boundary/log")"
[ -s "$T/boundary/w.state.safetensors" ] || fail "no state file beside the weights"
resume boundary || fail "resume at an epoch boundary: $(tail -2 "$T/boundary/log")"
same "2 threads, stopped after epoch 2, resumed" straight2 boundary

run straight || fail "straight run: $(tail -2 "$T/straight/log")"
run inside --stop-after 1.5 || fail "stop inside epoch 2"
grep -q "stopped in epoch 2 of 4 after batch 8 of 16 (step 24)" "$T/inside/log" ||
    fail "no stop message: $(tail -2 "$T/inside/log")"
resume inside --stop-after 2.75 || fail "first resume"
resume inside || fail "second resume"
same "stopped at epochs 1.5 and 2.75, resumed twice" straight inside
# the resumed run's epoch lines are the straight run's (but for time and speed)
strip() { grep '^epoch *[0-9]*/[0-9]*  loss' "$1" | sed 's/ *[0-9]* img\/s.*//'; }
strip "$T/straight/log" >"$T/a.txt"
strip "$T/inside/log" >"$T/b.txt"
cmp -s "$T/a.txt" "$T/b.txt" || { fail "epoch lines differ"; diff "$T/a.txt" "$T/b.txt"; }

# ---- Adam (two buffers per tensor) ----
run adam --optimizer adam --lr 0.01 --epochs 2 || fail "adam run"
run adam2 --optimizer adam --lr 0.01 --epochs 2 --stop-after 1.5 || fail "adam stop"
resume adam2 || fail "adam resume"
same "Adam, stopped at 1.5 epochs, resumed" adam adam2

# ---- extending a finished run: --epochs raised (a constant schedule, so
# the longer run's learning rates are the same up to the old end) ----
run const --schedule constant --epochs 3 || fail "constant run"
run extend --schedule constant --epochs 2 || fail "short constant run"
resume extend --epochs 3 || fail "extend with --epochs 3: $(tail -2 "$T/extend/log")"
same "2 epochs, extended to 3" const extend

# ---- Ctrl-C: stops after the current step, saves, exits 130 ----
mkdir -p "$T/sigint"
"$P" train --data "$D" --limit 512 --threads 1 --save "$T/sigint/w.safetensors" \
    --schedule constant --epochs 3 --log-dir "$T/sigint/logs" >"$T/sigint/log" 2>&1 &
pid=$!
rows() { cat "$T/sigint/logs/steps.csv" 2>/dev/null | wc -l; }
i=0
while [ $i -lt 300 ] && [ "$(rows)" -lt 4 ]; do # until step 20 (epoch 2) is logged
    sleep 0.05
    i=$((i + 1))
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
st=$?
if [ "$st" = 0 ]; then
    say "note: the run ended before SIGINT reached it; Ctrl-C not tested"
elif [ "$st" != 130 ]; then
    fail "SIGINT: exit status $st, want 130"; tail -3 "$T/sigint/log"
else
    grep -q "stopped .*(step [0-9]*); saved" "$T/sigint/log" || fail "SIGINT: no stop message"
    grep 'stopped' "$T/sigint/log"
    resume sigint || fail "resume after SIGINT: $(tail -2 "$T/sigint/log")"
    same "Ctrl-C, resumed" const sigint
    # metrics.csv: each epoch once
    [ "$(cut -d, -f1 "$T/sigint/logs/metrics.csv" | tr '\n' ' ')" = "epoch 1 2 3 " ] ||
        { fail "metrics.csv after resume:"; cat "$T/sigint/logs/metrics.csv"; }
fi

# ---- refusals ----
W=$T/boundary/w.safetensors
expect 2 "train: --batch 64 conflicts with the run saved in $W (--batch 32)" \
    "$P" train --resume "$W" --batch 64
expect 2 "train: --lr 0.2 conflicts with the run saved in $W (--lr 0.1)" \
    "$P" train --resume "$W" --lr 0.2
expect 2 "train: --no-nesterov conflicts" "$P" train --resume "$W" --no-nesterov
expect 2 "--optimizer adam conflicts" "$P" train --resume "$W" --optimizer adam
expect 2 "has finished its 4 epochs; give --epochs N (more than 4)" \
    "$P" train --resume "$W" --batch 32 --lr 0.1 --seed 7
expect 2 "train: --epochs 3: the run saved in $W has trained 4 epochs" \
    "$P" train --resume "$W" --epochs 3

mkdir -p "$T/bad"
cp "$W" "$T/bad/w.safetensors"
expect 1 "$T/bad/w.state.safetensors: no such file" "$P" train --resume "$T/bad/w.safetensors"
head -c 5000 "$T/boundary/w.state.safetensors" >"$T/bad/w.state.safetensors"
expect 1 "$T/bad/w.state.safetensors: .*truncated" "$P" train --resume "$T/bad/w.safetensors" --epochs 8
# one byte of an optimizer tensor changed
flip() { # FILE OFFSET: change one byte
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf %03o $(((b + 1) & 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
cp "$T/boundary/w.state.safetensors" "$T/bad/w.state.safetensors"
flip "$T/bad/w.state.safetensors" $(($(wc -c <"$T/bad/w.state.safetensors") - 100))
expect 1 "$T/bad/w.state.safetensors: damaged" "$P" train --resume "$T/bad/w.safetensors" --epochs 8
# weights whole but of another run than the state
cp "$T/sigint/w.safetensors" "$T/bad/w.safetensors"
cp "$T/boundary/w.state.safetensors" "$T/bad/w.state.safetensors"
expect 1 "$T/bad/w.safetensors: not the weights its state file was saved with" \
    "$P" train --resume "$T/bad/w.safetensors" --epochs 8
# one byte of the weights changed: the weights file's own checksum says so
cp "$W" "$T/bad/w.safetensors"
flip "$T/bad/w.safetensors" $(($(wc -c <"$T/bad/w.safetensors") - 100))
expect 1 "$T/bad/w.safetensors: damaged: its tensors give CRC-32C" \
    "$P" train --resume "$T/bad/w.safetensors" --epochs 8
# a tensor of the wrong shape (its bytes the same): fc.weight's buffer as [16, 10]
cp "$W" "$T/bad/w.safetensors"
sed 's/"optim.m.fc.weight":{"dtype":"F32","shape":\[10,16\]/"optim.m.fc.weight":{"dtype":"F32","shape":[16,10]/' \
    "$T/boundary/w.state.safetensors" >"$T/bad/w.state.safetensors"
if cmp -s "$T/boundary/w.state.safetensors" "$T/bad/w.state.safetensors"; then
    fail "could not rewrite the shape of optim.m.fc.weight (header layout changed?)"
else
    expect 1 "tensor 'optim.m.fc.weight': shape \[16,10\] in file, model expects \[10,16\]" \
        "$P" train --resume "$T/bad/w.safetensors" --epochs 8
fi
# other programs
expect 1 "saved by a program built from another source of model 'small'" \
    "$T/small2" train --resume "$W" --epochs 8
expect 1 "model 'small', this program is model 'other'" "$T/other" train --resume "$W" --epochs 8
# a state file is not a weights file
expect 1 "the training state saved beside a checkpoint, not weights" "$P" eval --data "$D" --weights "$T/boundary/w.state.safetensors"
finish
