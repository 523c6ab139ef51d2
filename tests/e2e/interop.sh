#!/bin/sh
# interop.sh - PyTorch interop (tools/torch_interop.py), skipped with a note
# when PyTorch is not importable by /usr/bin/python3 (or $TORCH_PYTHON).
#
#   mnist      the trained weights of runs/mnist-s1 (or, without them, a
#              model trained here for a few seconds) go to a PyTorch
#              state_dict (to-torch); PyTorch with those weights and the
#              program give the same logits (relative 1e-4) on 16 real test
#              digits (each side normalising them) and 4 random tensors;
#              the state_dict comes back (from-torch) as a checkpoint the
#              program loads without a warning and that gives bit-identical
#              logits; other weights on the PyTorch side make compare fail.
#   mix        a model with every op and attribute (conv bias, groups,
#              rectangular kernels, pools with padding, option-A and -C
#              shortcuts, concat joins, dropout (inference: the identity),
#              two fc layers, odd sizes), randomly
#              initialised in PyTorch: from-torch, then the same logits.
#   resnets    torchvision-style ResNet-18 and ResNet-50 (3x224x224, seed 0,
#              random batch-norm statistics) made in PyTorch, converted with
#              from-torch, loaded by programs built from models/resnet18.rnet
#              and models/resnet50.rnet (-O1, to build in seconds): the same
#              logits on one random input; and the rnet checkpoint back
#              through to-torch loads strictly into the torchvision model
#              (torchvision's own when installed).  RNET_INTEROP_QUICK=1
#              skips this part (35 to 50 of the script's 60 to 75 seconds).
#   preact     models/preact_resnet18.rnet against this script's own
#              pre-activation ResNet-18 (kuangliu/pytorch-cifar's, module
#              names as rnet's), PyTorch-initialised with random batch-norm
#              statistics: from-torch takes its state_dict whole (the same
#              parameters, names and shapes: 11,172,170 values), and the
#              program gives its logits to 1e-5 relative on 4 random inputs.
#   errors     weights of another model, a state_dict of another network.
. "$(dirname "$0")/lib.inc"
PY=${TORCH_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    say "note: PyTorch is not importable by $PY (Debian: apt-get install python3-torch); interop.sh skipped"
    finish
fi
tools/fetch_data.sh mnist || { fail "fetch mnist"; finish; }
TI="tools/torch_interop.py"
IDX=data/mnist/t10k-images-idx3-ubyte.gz

# report NAME LOG: the compare verdict, and the difference for the record
report() {
    d=$(sed -n 's/^ok: max relative difference \([^ ]*\) within.*/\1/p' "$2")
    if [ -n "$d" ]; then say "$1: max relative difference $d"; else fail "$1: compare"; cat "$2"; fi
}

# ---- mnist ----
$RNETC models/mnist.rnet -o "$T/mnist" || { fail "build mnist"; finish; }
W=${RNET_WEIGHTS:-runs/mnist-s1/model.safetensors}
if ! [ -f "$W" ] || ! "$T/mnist" predict --weights "$W" "$IDX:0" >/dev/null 2>&1; then
    say "note: $W is missing or does not fit models/mnist.rnet; training for one short epoch"
    "$T/mnist" train --data data/mnist --limit 500 --epochs 1 --threads 2 \
        --save "$T/trained.safetensors" >"$T/train.log" 2>&1 || { fail "train"; cat "$T/train.log"; finish; }
    W="$T/trained.safetensors"
fi
"$PY" $TI to-torch models/mnist.rnet "$W" "$T/mnist.pt" >"$T/log" 2>&1 || { fail "to-torch"; cat "$T/log"; }
"$PY" $TI compare models/mnist.rnet "$W" --program "$T/mnist" --torch-state "$T/mnist.pt" \
    --idx "$IDX" --count 16 --random 4 --seed 1 >"$T/cmp" 2>&1
cat "$T/cmp"
report "mnist, 16 digits and 4 random inputs" "$T/cmp"
"$PY" $TI from-torch models/mnist.rnet "$T/mnist.pt" "$T/back.safetensors" >"$T/log" 2>&1 ||
    { fail "from-torch"; cat "$T/log"; }
"$T/mnist" predict --weights "$W" --logits "$IDX:0" "$IDX:1" 2>"$T/e1" | sed 's/^[^:]*:[^:]*: //' >"$T/l1"
"$T/mnist" predict --weights "$T/back.safetensors" --logits "$IDX:0" "$IDX:1" 2>"$T/e2" | sed 's/^[^:]*:[^:]*: //' >"$T/l2"
[ -s "$T/l1" ] && cmp -s "$T/l1" "$T/l2" || { fail "the round trip changed the logits"; cat "$T/l1" "$T/l2" "$T/e2"; }
[ -s "$T/e2" ] && { fail "the program warns about the converted checkpoint"; cat "$T/e2"; }
# the comparison fails when PyTorch has other weights
"$PY" $TI init models/mnist.rnet "$T/other.pt" --seed 5 >/dev/null 2>&1 || fail "init mnist"
if "$PY" $TI compare models/mnist.rnet "$W" --program "$T/mnist" --torch-state "$T/other.pt" \
    --random 2 >"$T/log" 2>&1 || ! grep -q '^FAIL: max relative difference' "$T/log"; then
    fail "compare accepted other weights"; cat "$T/log"
fi

# ---- preact: the pre-activation ResNet-18 against PyTorch ----
"$PY" $TI init preact_resnet18 "$T/pa.pt" --classes 10 --seed 3 --random-bn >"$T/log" 2>&1 ||
    { fail "init preact_resnet18"; cat "$T/log"; }
"$PY" $TI from-torch models/preact_resnet18.rnet "$T/pa.pt" "$T/pa.safetensors" >"$T/log" 2>&1 ||
    { fail "from-torch preact_resnet18"; cat "$T/log"; }
n=$("$PY" -c 'import sys, torch; print(sum(v.numel() for k, v in torch.load(sys.argv[1]).items()
                if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))))' "$T/pa.pt")
want=$($RNETC models/preact_resnet18.rnet --print-shapes | awk '$1 == "total" { gsub(",", "", $2); print $2 }')
[ -n "$n" ] && [ "$n" = "$want" ] || fail "preact_resnet18: PyTorch's model has $n parameters, rnet's $want"
"$PY" $TI compare models/preact_resnet18.rnet "$T/pa.safetensors" --random 4 --seed 2 --opt 1 \
    --tol 1e-5 >"$T/cmp" 2>&1
grep -q 'pre-activation ResNet-18 (this script)' "$T/cmp" || { fail "preact: the reference model was not used"; cat "$T/cmp"; }
report "preact_resnet18, 4 random inputs, against the reference" "$T/cmp"

# ---- mix: every op ----
cat >"$T/mix.rnet" <<'M'
block grouped(g = 2) {
    conv 3x3 width stride stride groups g bias
    bn
    relu
    conv 1x1 width
    bn
}
model mix {
    input 3x19x17
    classes 7
    shortcut A
    stem { conv 5x3 8 stride 2 pad 1 bias; bn; relu; maxpool 3 stride 2 pad 1; avgpool 3 stride 1 pad 1 }
    stage 1 x basic 8
    stage 1 x grouped 16 stride 2 g 4
    stage 2 x basic 8 join concat shortcut C
    stage 1 x basic 8 stride 2 join concat
    head { avgpool 2; dropout 0.3; fc 12; relu; fc }
    train { normalize mean 0.5 0.4 0.3 std 0.2 0.25 0.3 }
}
M
"$PY" $TI init "$T/mix.rnet" "$T/mix.pt" --seed 3 --random-bn >"$T/log" 2>&1 &&
    "$PY" $TI from-torch "$T/mix.rnet" "$T/mix.pt" "$T/mix.safetensors" >>"$T/log" 2>&1 ||
    { fail "mix: init, from-torch"; cat "$T/log"; }
"$PY" $TI compare "$T/mix.rnet" "$T/mix.safetensors" --torch-state "$T/mix.pt" --random 6 \
    --opt 0 >"$T/cmp" 2>&1
report "mix, 6 random inputs" "$T/cmp"

# ---- errors ----
expect 1 "these are weights of model 'mnist', $T/mix.rnet is model 'mix'" \
    "$PY" $TI to-torch "$T/mix.rnet" "$W" "$T/x.pt"
expect 1 "$T/mix.pt: tensors that model 'mnist' does not have" \
    "$PY" $TI from-torch models/mnist.rnet "$T/mix.pt" "$T/x.safetensors"
[ -e "$T/x.safetensors" ] && fail "a failed from-torch left a file"

# ---- torchvision ResNets ----
if [ -n "${RNET_INTEROP_QUICK:-}" ]; then
    say "note: RNET_INTEROP_QUICK is set; the ResNet-18/50 checks are skipped"
    finish
fi
for net in resnet18 resnet50; do
    "$PY" $TI init $net "$T/$net.pt" --seed 0 --random-bn >"$T/log" 2>&1 &&
        "$PY" $TI from-torch models/$net.rnet "$T/$net.pt" "$T/$net.safetensors" >>"$T/log" 2>&1 ||
        { fail "$net: init, from-torch"; cat "$T/log"; continue; }
    "$PY" $TI compare models/$net.rnet "$T/$net.safetensors" --torch-state "$T/$net.pt" \
        --random 1 --seed 2 --opt 1 >"$T/cmp" 2>&1
    cat "$T/cmp"
    report "$net, one 3x224x224 input" "$T/cmp"
done
# rnet's checkpoint back to PyTorch loads strictly into torchvision's model
"$PY" $TI to-torch models/resnet18.rnet "$T/resnet18.safetensors" "$T/r18back.pt" >"$T/log" 2>&1 ||
    { fail "to-torch resnet18"; cat "$T/log"; }
"$PY" - "$T/r18back.pt" "$T/resnet18.pt" >"$T/log" 2>&1 <<'PYEOF' || { fail "resnet18 back in PyTorch"; cat "$T/log"; }
import sys, torch
sys.path.insert(0, "tools")
try:
    import torchvision
    model, what = torchvision.models.resnet18(), "torchvision " + torchvision.__version__
except ImportError:
    import torch_interop
    model, what = torch_interop.torchvision_resnet(18), "the script's torchvision-style model"
back, orig = torch.load(sys.argv[1]), torch.load(sys.argv[2])
model.load_state_dict(back, strict=True)
for k, v in orig.items():
    if not k.endswith("num_batches_tracked"):
        assert torch.equal(back[k], v), k
print("resnet18 back through to-torch: loads strictly into", what, "and equals the original")
PYEOF
cat "$T/log"
finish
