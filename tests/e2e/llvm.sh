#!/bin/sh
# llvm.sh - the LLVM backend (--backend llvm): its programs against the
# reference interpreter (`check`: logits in both modes, every gradient,
# running statistics, updates, 1e-4), against the C backend's programs
# (same weights and images -> the same logits; the same short training run
# -> the same loss curve), the standalone inference object, foreign
# targets, and the errors rnetc reports for bad targets and files.
. "$(dirname "$0")/lib.inc"

# a model with option A, shortcut C, concat join, groups, bottleneck,
# avgpool, conv bias and maxpool + fc (as parity.sh)
cat >"$T/mix.rnet" <<'M'
block grouped { conv 3x3 width stride stride groups 2; bn; relu; conv 1x1 width }
model mix {
    input 3x10x10
    classes 5
    shortcut C
    stem { conv 3x3 8 bias; relu; avgpool 2x2 stride 1 }
    stage 1 x basic 8 shortcut A
    stage 1 x basic 16 stride 2 shortcut A
    stage 1 x grouped 8 join concat
    stage 1 x bottleneck 4 shortcut B
    head { maxpool 2x2; fc 12; relu; fc }
}
M

# 1. generated code against the reference interpreter
for m in models/tiny.rnet tests/e2e/small.rnet "$T/mix.rnet" models/mnist.rnet; do
    b=$(basename "$m" .rnet)
    $RNETC "$m" --backend llvm -o "$T/$b.llvm" || { fail "llvm build $b"; continue; }
    "$T/$b.llvm" info >"$T/info" 2>&1 && grep -q 'backend *llvm' "$T/info" || fail "$b: info does not say llvm"
    "$T/$b.llvm" check --batch 2 --seed 3 >"$T/out" 2>&1 || { fail "llvm check $b"; cat "$T/out"; }
done
# a batch big enough that the per-channel loops run on two threads
OMP_NUM_THREADS=2 "$T/small.llvm" check --batch 16 >"$T/out" 2>&1 || { fail "llvm check small, 2 threads"; cat "$T/out"; }
# -O0 (no pass pipeline) and a narrower vector width give the same program
$RNETC models/tiny.rnet --backend llvm -O0 -o "$T/tiny0" && "$T/tiny0" check --batch 3 >"$T/out" 2>&1 ||
    { fail "llvm -O0 check tiny"; cat "$T/out"; }
$RNETC models/tiny.rnet --backend llvm --features -avx -o "$T/tinysse" && "$T/tinysse" check --batch 3 >"$T/out" 2>&1 ||
    { fail "llvm sse check tiny"; cat "$T/out"; }

# 2. C against LLVM.  Both backends build the same lowered layers (klower.c)
# into calls of the same runtime functions in the same order, so with the
# same compiler and flags for the generated C and the runtime (make's, or
# RNET_CFLAGS under make test-asan) the two programs compute the same bits:
# check --dump (train logits, every gradient, inference logits) of four
# models, then a short training run with one thread and the same seed
# (the weights cmp-identical), then the logits of each build's weights
# through the other build.
for m in models/tiny.rnet tests/e2e/small.rnet "$T/mix.rnet" models/mnist.rnet; do
    b=$(basename "$m" .rnet)
    $RNETC "$m" -o "$T/$b.c" || { fail "C build $b"; continue; }
    for be in c llvm; do
        "$T/$b.$be" check --batch 17 --dump "$T/$b.$be.dump" >"$T/out" 2>&1 || { fail "check $b $be"; cat "$T/out"; }
    done
    cmp -s "$T/$b.c.dump" "$T/$b.llvm.dump" || fail "$b: check --dump of the C and LLVM builds differ"
done
# --passes and -O0 mean the same pipeline for both backends
for v in "-O0" "--passes none" "--passes fold-bn,direct-conv"; do
    for be in c llvm; do
        # shellcheck disable=SC2086
        $RNETC "$T/mix.rnet" --backend $be $v -o "$T/mixv.$be" &&
            "$T/mixv.$be" check --batch 17 --dump "$T/mixv.$be.dump" >"$T/out" 2>&1 ||
            { fail "mix $v $be"; cat "$T/out"; }
    done
    cmp -s "$T/mixv.c.dump" "$T/mixv.llvm.dump" || fail "mix $v: the C and LLVM builds differ"
done
mnist_subset "$T/data"
for b in c llvm; do
    "$T/small.$b" train --data "$T/data" --limit 256 --epochs 2 --batch 32 --threads 1 --seed 5 \
        --log-dir "$T/log.$b" --save "$T/w.$b.safetensors" >"$T/out" 2>&1 || { fail "train $b"; cat "$T/out"; }
done
# the tensors byte for byte (the metadata names the backend)
st_data() { python3 -c 'import struct,sys; b=open(sys.argv[1],"rb").read(); sys.stdout.buffer.write(b[8+struct.unpack("<Q",b[:8])[0]:])' "$1"; }
st_data "$T/w.c.safetensors" >"$T/wd.c" && st_data "$T/w.llvm.safetensors" >"$T/wd.llvm" &&
    [ -s "$T/wd.c" ] && cmp -s "$T/wd.c" "$T/wd.llvm" || fail "weights after training differ between the C and LLVM builds"
# loss and accuracy per epoch (columns 3-6; the rest are timings)
cut -d, -f1-6 "$T/log.c/metrics.csv" >"$T/m.c"
cut -d, -f1-6 "$T/log.llvm/metrics.csv" >"$T/m.llvm"
cmp -s "$T/m.c" "$T/m.llvm" || { fail "loss curves differ (metrics.csv)"; cat "$T/m.c" "$T/m.llvm"; }
imgs=""
for i in 0 1 2 3 4 5; do imgs="$imgs $T/data/t10k-images-idx3-ubyte:$i"; done
for w in c llvm; do
    for b in c llvm; do
        # shellcheck disable=SC2086
        "$T/small.$b" predict --weights "$T/w.$w.safetensors" --logits $imgs >"$T/p.$w.$b" 2>&1 ||
            { fail "predict $b with $w weights"; cat "$T/p.$w.$b"; }
    done
    paste -d' ' "$T/p.$w.c" "$T/p.$w.llvm" | awk '
        { n = (NF - 4) / 2; if (n < 1) { bad = 1; next }
          for (i = 3; i < 3 + n; i++) { a = $i; b = $(i + n + 2); d = a - b; if (d < 0) d = -d;
            m = a < 0 ? -a : a; if (m < 1e-3) m = 1e-3; if (d / m > 1e-4) { print NR ": " a " vs " b; bad = 1 } } }
        END { exit bad }' || { fail "logits differ between the C and LLVM builds ($w weights)"; cat "$T/p.$w.c" "$T/p.$w.llvm"; }
done

# 3. inference-only: no backward pass; train and check refuse
$RNETC tests/e2e/small.rnet --backend llvm --inference-only -o "$T/small.inf" || fail "inference-only build"
expect 1 "built with --inference-only" "$T/small.inf" train --data "$T/data"
expect 1 "built with --inference-only" "$T/small.inf" check
"$T/small.inf" eval --data "$T/data" --weights "$T/w.llvm.safetensors" >"$T/out" 2>&1 || { fail "inference-only eval"; cat "$T/out"; }

# 4. the standalone object: the weights embedded, rnm_small_infer calls
# nothing; on the host its logits match the program's
$RNETC tests/e2e/small.rnet --backend llvm --inference-only --weights "$T/w.llvm.safetensors" \
    --emit obj -o "$T/inf.o" || fail "standalone object"
$RNETC tests/e2e/small.rnet --backend llvm --inference-only --weights "$T/w.llvm.safetensors" \
    --emit h -o "$T/inf.h" || fail "standalone header"
grep -q 'rnm_small_INFER_WORK_FLOATS' "$T/inf.h" || fail "header lacks INFER_WORK_FLOATS"
infer_harness small "$T/h.c"
if ${CC:-cc} -std=c11 -O1 ${RNET_CFLAGS:-} -I"$T" -o "$T/h" "$T/h.c" "$T/inf.o" 2>"$T/err"; then
    "$T/h" "$T/data/t10k-images-idx3-ubyte" 0 1 2 3 4 5 >"$T/h.out" || fail "standalone harness"
    awk '{ $1 = ""; $2 = ""; print }' "$T/p.llvm.llvm" | paste -d' ' - "$T/h.out" | awk '
        { n = NF / 2; for (i = 1; i <= n; i++) { a = $i; b = $(i + n); d = a - b; if (d < 0) d = -d;
            m = a < 0 ? -a : a; if (m < 1e-3) m = 1e-3; if (d / m > 1e-4) { print NR ": " a " vs " b; bad = 1 } } }
        END { exit bad }' || { fail "rnm_small_infer logits differ from predict's"; cat "$T/h.out"; }
else
    fail "standalone object does not link alone"; cat "$T/err"
fi
NM=$(command -v llvm-nm-14 || command -v llvm-nm || command -v nm)
# a microcontroller object: nothing undefined (no runtime, no libc, no libgcc)
$RNETC tests/e2e/small.rnet --backend llvm --inference-only --weights "$T/w.llvm.safetensors" \
    --target thumbv7em-none-eabihf --emit obj -o "$T/cm.o" || fail "thumbv7em object"
und=$($NM -u "$T/cm.o" 2>&1) || fail "nm on the thumbv7em object"
[ -z "$und" ] || fail "thumbv7em object needs: $und"
$RNETC tests/e2e/small.rnet --backend llvm --inference-only --weights "$T/w.llvm.safetensors" \
    --target wasm32 --emit obj -o "$T/w.o" || fail "wasm32 object"
# a foreign training object: AArch64 ELF, calling only the runtime
$RNETC models/tiny.rnet --backend llvm -O1 --target aarch64-linux-gnu --emit obj -o "$T/a64.o" || fail "aarch64 object"
head -c 20 "$T/a64.o" | od -An -tx1 | tr -d ' \n' | grep -q '^7f454c46020101.*b700$' || fail "aarch64 object is not AArch64 ELF"
# riscv64 Linux: rv64gc, lp64d, and the ELF header says double-float ABI (e_flags bits 1-2 = 2)
$RNETC models/tiny.rnet --backend llvm -O1 --target riscv64-linux-gnu --emit obj -o "$T/rv.o" || fail "riscv64 object"
fl=$(od -An -tu1 -j48 -N1 "$T/rv.o" | tr -d ' ')
[ $((fl & 6)) = 4 ] || fail "riscv64 object: e_flags $fl, want the double-float ABI"
$RNETC models/tiny.rnet --backend llvm -O0 --target aarch64-linux-gnu --emit asm -o "$T/a64.s" && grep -q 'rnm_tiny_forward' "$T/a64.s" || fail "aarch64 asm"
$RNETC models/tiny.rnet --backend llvm -O0 --emit bc -o "$T/t.bc" && [ -s "$T/t.bc" ] || fail "--emit bc"
$RNETC models/tiny.rnet --backend llvm -O0 --emit llvm -o "$T/t.ll" && grep -q 'c"llvm\\00"' "$T/t.ll" || fail "--emit llvm"

# 5. errors: exact messages, exit status 1 (2 for a bad command line)
t=models/tiny.rnet
expect 1 "rnetc: error: unknown target triple 'nosuch-cpu-os': " $RNETC $t --backend llvm --target nosuch-cpu-os --emit obj -o "$T/x.o"
expect 1 "rnetc: error: unknown CPU 'pentium9' for target 'x86_64-unknown-linux-gnu'" $RNETC $t --backend llvm --target x86_64-linux-gnu --cpu pentium9 --emit obj -o "$T/x.o"
expect 1 "rnetc: error: unknown feature '+nosuch' for target 'aarch64-unknown-linux-gnu'" $RNETC $t --backend llvm --target aarch64-linux-gnu --features +nosuch --emit obj -o "$T/x.o"
expect 1 "rnetc: error: cannot write '/nonexistent/x.o': directory '/nonexistent': No such file or directory" $RNETC $t --backend llvm --emit obj -o /nonexistent/x.o
expect 1 "rnetc: error: LLVM verifier rejected function 'fwd_conv1': Terminator found in the middle of a basic block!" \
    env RNET_LLVM_BREAK_VERIFIER=1 $RNETC $t --backend llvm --emit obj -o "$T/x.o"
expect 1 "rnetc: error: --emit exe links for the host; for --target aarch64-unknown-linux-gnu use --emit obj" $RNETC $t --backend llvm --target aarch64-linux-gnu -o "$T/x"
expect 1 "rnetc: error: cannot read '$T/none.safetensors': No such file or directory" $RNETC $t --backend llvm --inference-only --weights "$T/none.safetensors" --emit obj -o "$T/x.o"
expect 1 "rnetc: error: $T/w.llvm.safetensors: tensor 'bn1.weight' has shape \[16\], model 'tiny' wants \[4\]" $RNETC $t --backend llvm --inference-only --weights "$T/w.llvm.safetensors" --emit obj -o "$T/x.o"
expect 1 "rnetc: error: $T/w.llvm.safetensors: tensor 'layer3.0.conv1.weight' of model 'mnist' is missing" $RNETC models/mnist.rnet --backend llvm --inference-only --weights "$T/w.llvm.safetensors" --emit obj -o "$T/x.o"
printf 'not a checkpoint' >"$T/bad.safetensors"
expect 1 "rnetc: error: $T/bad.safetensors: not a safetensors file" $RNETC $t --backend llvm --inference-only --weights "$T/bad.safetensors" --emit obj -o "$T/x.o"
expect 2 "rnetc: error: unknown backend 'gcc' (expected c or llvm)" $RNETC $t --backend gcc -o "$T/x"
expect 2 "rnetc: error: --emit obj needs --backend llvm" $RNETC $t --emit obj -o "$T/x.o"
expect 2 "rnetc: error: --target needs --backend llvm" $RNETC $t --target wasm32 -o "$T/x"
expect 2 "rnetc: error: --weights $T/w.c.safetensors needs --inference-only" $RNETC $t --backend llvm --weights "$T/w.c.safetensors" --emit obj -o "$T/x.o"
expect 2 "rnetc: error: --weights builds a standalone object" $RNETC $t --backend llvm --inference-only --weights "$T/w.c.safetensors" -o "$T/x"
finish
