#!/bin/sh
# cross.sh - build rnet programs for other CPUs and test them under qemu
# (run by `make cross`; tests/e2e/cross.sh runs a small version of it).
#
# Why: rnetc's output must run where it is built for, not just compile.
# For each Linux triple (aarch64-linux-gnu, riscv64-linux-gnu) this script
# cross-compiles the runtime with Debian's <triple>-gcc into
# out/cross/<triple>/librnet.a, builds models/mnist.rnet with each backend
# (C: `rnetc --emit c`, compiled by <triple>-gcc; LLVM: `rnetc --backend llvm
# --target <triple> --emit obj`), links it statically, runs `predict
# --logits` on test digits under qemu-user, and compares with the host
# build's output: every predicted class must be equal and every logit within
# 1e-4 relative (|a - b| / max |b| over the image's ten logits).  The small
# targets (wasm32, thumbv7em-none-eabihf) get inference-only objects with
# embedded weights; their sizes are reported, the Cortex-M one is run under
# qemu-arm (linked into an ARM Linux program by tools/infer_main.c) and the
# wasm one in node (tools/wasm_infer.js), against the host's logits.
#
# Debian has no cross zlib, so the cross runtimes are built with
# -DRN_NO_ZLIB (plain IDX files only; a .gz is refused with a message) and
# tested on gunzipped copies of the digits (out/cross/data/mnist).
#
#   tools/cross.sh runtime TRIPLE...        build out/cross/TRIPLE/librnet.a
#   tools/cross.sh unit TRIPLE...           runtime unit tests under qemu
#   tools/cross.sh test [options]           the comparison above
#       --triples "T1 T2"   default: aarch64-linux-gnu riscv64-linux-gnu
#       --backends "c llvm" default: both (llvm only when rnetc has it)
#       --digits N          the first N test digits (default: all)
#       --weights FILE      trained weights (default: train a quick host model)
#       --eval              also compare `eval` (accuracy, loss) on the test set
#   tools/cross.sh small [--weights FILE]   wasm32 and Cortex-M4F objects: sizes, runs
#
# Exit status: 0 all passed, 1 a comparison or a build failed, 2 usage,
# 3 the tools for a triple are missing (`make cross` installs them).
set -eu
cd "$(dirname "$0")/.."

RNETC=${RNETC:-out/rnetc}
X=${RNET_CROSS_OUT:-out/cross}
MODEL=models/mnist.rnet
NAME=mnist
TOL=1e-4
WARN="-std=c11 -Wall -Wextra -Werror"

# Build products are cached in $X (rebuilt when older than what they come
# from) and always written under a temporary name and renamed, so that two
# runs at once (make cross and make test) never see half a file; what one
# run produces (logits, logs) goes to its own directory, $RUN.
RUN=$(mktemp -d "${TMPDIR:-/tmp}/rnet-cross.XXXXXX")
trap 'rm -rf "$RUN"' EXIT

say() { printf 'cross: %s\n' "$*"; }
die() { printf 'cross: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# cpu: user + system seconds of this shell's finished children so far (all
# their threads) into $cpu_s; `times` must run in this shell, not in $(...)
cpu() {
    times >"$RUN/times"
    cpu_s=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, k, /[ms]/); print u[1] * 60 + u[2] + k[1] * 60 + k[2] }' "$RUN/times")
}

# the qemu-user binary for a triple
qemu_for() {
    case $1 in
    aarch64-*) echo qemu-aarch64 ;;
    riscv64-*) echo qemu-riscv64 ;;
    arm-* | armv7-*) echo qemu-arm ;;
    *) echo "qemu-${1%%-*}" ;;
    esac
}

# what LLVM needs besides the triple to match Debian's gcc for it (glibc is
# built for rv64gc with the lp64d ABI)
llvm_flags_for() {
    case $1 in
    riscv64-*) echo "--cpu generic-rv64 --features +m,+a,+f,+d,+c" ;;
    *) echo "" ;;
    esac
}

have_tools() { # TRIPLE: 0 when its gcc and qemu are installed
    command -v "$1-gcc" >/dev/null 2>&1 && command -v "$(qemu_for "$1")" >/dev/null 2>&1
}

need_tools() {
    have_tools "$1" && return 0
    printf 'cross: error: %s needs %s and %s (`make cross` installs them)\n' \
        "$1" "$1-gcc" "$(qemu_for "$1")" >&2
    exit 3
}

# extra flags for one runtime file on one triple
file_flags() { # TRIPLE FILE
    case $1:$2 in
    # gcc 12.2 for aarch64 dies with an internal compiler error
    # (vect_transform_reduction) vectorising the fmax reductions of
    # rn_interp_kinks (at -O3) and of test_interp and test_direct (even at
    # -O2); the reference interpreter and the tests need not be fast
    aarch64-*:runtime/host/rn_interp.c | aarch64-*:tests/unit/test_interp.c | \
        aarch64-*:tests/unit/test_direct.c) echo "-fno-tree-loop-vectorize" ;;
    *) echo "" ;;
    esac
}

# zlib for the triple? (Debian 12 has none for cross builds; its cross gcc
# does see the host's /usr/include/zlib.h, so the test is a static link)
zlib_flags() { # TRIPLE -> "-DRN_NO_ZLIB" or ""
    if printf '#include <zlib.h>\nint main(void) { return !zlibVersion(); }\n' |
        "$1-gcc" -static -x c - -lz -o /dev/null >/dev/null 2>&1; then
        echo ""
    else
        echo "-DRN_NO_ZLIB"
    fi
}
zlib_libs() { [ -z "$(zlib_flags "$1")" ] && echo "-lz" || echo ""; }

JOBS=$(nproc 2>/dev/null || echo 2)
wait_all() { # PID...: 0 when every one exited 0
    rc=0
    for p in "$@"; do wait "$p" || rc=1; done
    return $rc
}

# out/cross/TRIPLE/librnet.a, rebuilding objects older than their sources
build_runtime() { # TRIPLE
    t=$1
    need_tools "$t"
    d=$X/$t/obj
    mkdir -p "$d"
    zf=$(zlib_flags "$t")
    stamp=$d/flags
    # --version: the host build's version and revision, this compiler and these flags
    make -s out/gen/rn_version_gen.h
    mkdir -p "$X/$t/gen"
    cc_line=$("$t-gcc" --version | head -1 | tr -d '"\\')
    sed -e "s|^#define RN_BUILD_CC .*|#define RN_BUILD_CC \"$cc_line\"|" \
        -e "s|^#define RN_RT_CFLAGS .*|#define RN_RT_CFLAGS \"-O3 -fopenmp, $t\"|" \
        out/gen/rn_version_gen.h >"$X/$t/gen/v.tmp"
    if cmp -s "$X/$t/gen/v.tmp" "$X/$t/gen/rn_version_gen.h"; then rm -f "$X/$t/gen/v.tmp"
    else mv -f "$X/$t/gen/v.tmp" "$X/$t/gen/rn_version_gen.h"; rm -f "$d/rn_version.o"; fi
    flags="$WARN -O3 -fopenmp -D_POSIX_C_SOURCE=200809L $zf -Iruntime -Iruntime/host -I$X/$t/gen"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$flags" ]; then
        rm -f "$d"/*.o
        printf '%s\n' "$flags" >"$stamp"
    fi
    newest_h=$(ls -t runtime/*.h runtime/*.inc runtime/host/*.h runtime/host/*.inc | head -1)
    objs="" built=0 pids=""
    for src in runtime/*.c runtime/host/*.c; do
        o=$d/$(basename "$src" .c).o
        objs="$objs $o"
        if stale "$o" "$src" "$newest_h"; then
            # shellcheck disable=SC2086
            { "$t-gcc" $flags $(file_flags "$t" "$src") -c -o "$o.$$" "$src" && mv -f "$o.$$" "$o"; } &
            pids="$pids $!"
            built=$((built + 1))
            # as many compilers at a time as there are cores
            [ $((built % JOBS)) != 0 ] || { wait_all $pids || die "$t: compiling the runtime failed"; pids=""; }
        fi
    done
    wait_all $pids || die "$t: compiling the runtime failed"
    if [ "$built" -gt 0 ] || [ ! -e "$X/$t/librnet.a" ]; then
        # shellcheck disable=SC2086
        "$t-ar" rcs "$RUN/librnet.a" $objs && mv -f "$RUN/librnet.a" "$X/$t/librnet.a"
        say "$t: runtime $X/$t/librnet.a ($built objects rebuilt${zf:+, $zf})"
    fi
}

# link a program for TRIPLE from objects: static, so qemu needs no sysroot
link_prog() { # TRIPLE OUT OBJ...
    t=$1 out=$2
    shift 2
    # shellcheck disable=SC2046
    quiet_ld "$t-gcc" -static -fopenmp -o "$out.$$" "$@" "$X/$t/librnet.a" $(zlib_libs "$t") -lm &&
        mv -f "$out.$$" "$out"
}

# run a link, leaving out of its messages the one warning every static
# OpenMP program gets (libgomp's OpenACC profiling hook calls dlopen)
quiet_ld() {
    "$@" 2>"$RUN/ld.err" && st=0 || st=$?
    grep -v -e "requires at runtime the shared libraries" -e "in function .goacc_profiling_initialize" \
        -e "oacc-profiling.o): in function" "$RUN/ld.err" >&2 || true
    return $st
}

# stale OUT DEP...: OUT is missing or older than a DEP (make's rule)
stale() {
    out=$1
    shift
    [ -e "$out" ] || return 0
    for dep in "$@"; do [ "$dep" -nt "$out" ] && return 0; done
    return 1
}

# the program for TRIPLE with BACKEND: prints its path
build_prog() { # TRIPLE BACKEND
    t=$1 b=$2 d=$X/$1
    case $b in
    c)
        # the generated C, once for every triple: it is portable
        if stale "$X/$NAME.c" "$MODEL" "$RNETC"; then
            "$RNETC" "$MODEL" --emit c -o "$RUN/$NAME.c" >&2 || die "rnetc --emit c failed"
            mv -f "$RUN/$NAME.h" "$X/$NAME.h" && mv -f "$RUN/$NAME.c" "$X/$NAME.c"
        fi
        if stale "$d/$NAME-c.o" "$X/$NAME.c" "$X/$NAME.h" runtime/rn_gen.h runtime/rn_model.h; then
            "$t-gcc" -std=c11 -O2 -fopenmp -Iruntime -c -o "$RUN/$NAME-c.o" "$X/$NAME.c" ||
                die "$t: compiling the generated C failed"
            mv -f "$RUN/$NAME-c.o" "$d/$NAME-c.o"
        fi
        ;;
    llvm)
        if stale "$d/$NAME-llvm.o" "$RNETC" "$MODEL"; then
            # shellcheck disable=SC2046
            "$RNETC" "$MODEL" --backend llvm --target "$t" $(llvm_flags_for "$t") --emit obj \
                -o "$RUN/$NAME-llvm.o" >&2 || die "$t: rnetc --backend llvm failed"
            fix_riscv_abi "$t" "$RUN/$NAME-llvm.o"
            mv -f "$RUN/$NAME-llvm.o" "$d/$NAME-llvm.o"
        fi
        ;;
    esac
    link_prog "$t" "$d/$NAME-$b" "$d/$NAME-$b.o" || die "$t: linking the $b build failed"
    echo "$d/$NAME-$b"
}

# LLVM 14's C API cannot choose the RISC-V float ABI (LLVMCreateTargetMachine
# takes no ABI name).  rnetc makes the code follow lp64d, the ABI of
# Debian's riscv64 libc, through the module's "target-abi" flag when +d is
# on, but LLVM 14 still writes "soft-float ABI" into the ELF header
# (e_flags, set from the target options only), and GNU ld refuses to link
# that with lp64d objects.  So when the header says soft-float (float-ABI
# bits e_flags & 6 == 0) and the object was built with +d, the bits are set
# to double-float (4), which is what the code follows.  (rnetc now sets
# them itself; this stays as a fallback and does nothing then.)
fix_riscv_abi() { # TRIPLE OBJ
    case $1 in riscv64-*) ;; *) return 0 ;; esac
    case $(llvm_flags_for "$1") in *+d*) ;; *) return 0 ;; esac
    flags=$(readelf -h "$2" | awk '/Flags:/ { sub(/,/, "", $2); print $2 }')
    [ $((flags & 6)) = 0 ] || return 0
    printf "\\$(printf %03o $((flags | 4)))" | dd of="$2" bs=1 seek=48 conv=notrunc 2>/dev/null
}

# data/mnist, gunzipped, for runtimes without zlib
plain_data() {
    [ -e data/mnist/t10k-images-idx3-ubyte.gz ] || tools/fetch_data.sh mnist >&2
    mkdir -p "$X/data/mnist"
    for f in t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ "$X/data/mnist/$f" -nt "data/mnist/$f.gz" ] ||
            { gzip -dc "data/mnist/$f.gz" >"$RUN/$f" && mv -f "$RUN/$f" "$X/data/mnist/$f"; }
    done
}

# quick host weights: one epoch on 2,000 digits (a few seconds)
host_weights() { # -> path
    w=$X/$NAME.safetensors
    if stale "$w" "$MODEL"; then
        host_prog >/dev/null
        [ -e data/mnist/train-images-idx3-ubyte.gz ] || tools/fetch_data.sh mnist >&2
        "$X/host/$NAME" train --data data/mnist --limit 2000 --epochs 1 --threads 2 \
            --no-progress --save "$w" >"$RUN/train.log" 2>&1 || {
            cat "$RUN/train.log" >&2
            die "training the host model failed"
        }
        say "host: trained $w ($(grep -o 'test acc *[0-9.]*%' "$RUN/train.log" | tail -1))" >&2
    fi
    echo "$w"
}

host_prog() { # the host's own C build -> path
    mkdir -p "$X/host"
    if stale "$X/host/$NAME" "$MODEL" "$RNETC" out/librnet.a; then
        "$RNETC" "$MODEL" -o "$RUN/host" >&2 || die "host build failed"
        mv -f "$RUN/host" "$X/host/$NAME"
    fi
    echo "$X/host/$NAME"
}

# compare two `predict --logits` outputs line by line; prints a summary
# and fails on any differing class or logit beyond TOL
compare_logits() { # HOST CROSS LABEL
    awk -v tol="$TOL" -v label="$3" '
        function argmax(s,   f, n, i, best, bi) {
            n = split(s, f, " "); best = f[1]; bi = 1
            for (i = 2; i <= n; i++) if (f[i] + 0 > best + 0) { best = f[i]; bi = i }
            return bi - 1
        }
        FNR == NR { sub(/.*logits /, ""); h[FNR] = $0; nh = FNR; next }
        {
            sub(/.*logits /, ""); n++
            if (!(FNR in h)) { bad++; next }
            if (argmax(h[FNR]) == argmax($0)) same++
            k = split(h[FNR], a, " "); split($0, b, " "); big = 0
            for (i = 1; i <= k; i++) { v = a[i] < 0 ? -a[i] : a[i]; if (v > big) big = v }
            for (i = 1; i <= k; i++) {
                d = a[i] - b[i]; if (d < 0) d = -d
                r = big > 0 ? d / big : d
                if (r > worst) worst = r
                if (r > tol) over++
            }
        }
        END {
            printf "%s: %d digits, classes %d/%d equal, worst logit relative error %.2g\n",
                label, n, same, n, worst
            exit !(n == nh && n > 0 && same == n && over == 0 && bad == 0)
        }' "$1" "$2"
}

cmd_test() {
    triples="aarch64-linux-gnu riscv64-linux-gnu" backends="c llvm" digits=0 weights="" do_eval=0
    while [ $# -gt 0 ]; do
        case $1 in
        --triples) triples=$2; shift 2 ;;
        --backends) backends=$2; shift 2 ;;
        --digits) digits=$2; shift 2 ;;
        --weights) weights=$2; shift 2 ;;
        --eval) do_eval=1; shift ;;
        *) echo "cross: unknown option '$1'" >&2; exit 2 ;;
        esac
    done
    for t in $triples; do need_tools "$t"; done
    case " $backends " in *" llvm "*)
        if ! "$RNETC" --help 2>&1 | grep -q -- '--backend'; then
            say "note: this rnetc has no --backend llvm yet; testing the C backend only"
            backends=$(echo "$backends" | sed 's/llvm//')
        fi ;;
    esac
    plain_data
    host=$(host_prog)
    [ -n "$weights" ] || weights=$(host_weights)
    img=$X/data/mnist/t10k-images-idx3-ubyte
    total=$(od -An -tu1 -j4 -N4 "$img" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
    [ "$digits" -gt 0 ] && [ "$digits" -le "$total" ] || digits=$total
    i=0 args=""
    while [ $i -lt "$digits" ]; do args="$args $img:$i"; i=$((i + 1)); done
    t0=$(now)
    # shellcheck disable=SC2086
    "$host" predict --weights "$weights" --logits $args >"$RUN/host.logits" || die "host predict failed"
    say "host: $digits digits in $(secs "$t0" "$(now)") s"
    if [ "$do_eval" = 1 ]; then
        "$host" eval --data "$X/data/mnist" --weights "$weights" >"$RUN/host.eval" 2>&1 ||
            die "host eval failed"
    fi
    status=0
    for t in $triples; do
        build_runtime "$t"
        q=$(qemu_for "$t")
        for b in $backends; do
            prog=$(build_prog "$t" "$b")
            t0=$(now)
            cpu
            c0=$cpu_s
            # shellcheck disable=SC2086
            if ! "$q" "$prog" predict --weights "$weights" --logits $args >"$RUN/$t-$b.logits" 2>"$RUN/$t-$b.err"; then
                cat "$RUN/$t-$b.err" >&2
                say "FAIL $t $b: predict under $q failed"
                status=1
                continue
            fi
            cpu
            took="$(secs "$t0" "$(now)") s (CPU $(secs "$c0" "$cpu_s") s)"
            if compare_logits "$RUN/host.logits" "$RUN/$t-$b.logits" "$t $b" >"$RUN/$t-$b.cmp"; then
                say "$(cat "$RUN/$t-$b.cmp"), $q $took: ok"
            else
                say "FAIL $(cat "$RUN/$t-$b.cmp"), $q $took"
                status=1
            fi
            if [ "$do_eval" = 1 ]; then
                t0=$(now)
                "$q" "$prog" eval --data "$X/data/mnist" --weights "$weights" >"$RUN/$t-$b.eval" 2>&1 ||
                    { cat "$RUN/$t-$b.eval" >&2; say "FAIL $t $b: eval under $q failed"; status=1; continue; }
                took=$(secs "$t0" "$(now)")
                hl=$(grep -i 'acc' "$RUN/host.eval" | head -1)
                cl=$(grep -i 'acc' "$RUN/$t-$b.eval" | head -1)
                if [ "$hl" = "$cl" ]; then
                    say "$t $b eval: same as the host ($cl), $q $took s: ok"
                else
                    say "FAIL $t $b eval: host '$hl', $t '$cl'"
                    status=1
                fi
            fi
        done
    done
    return $status
}

# the runtime's unit tests that need neither the compiler nor zlib
UNIT_TESTS="test_gemm test_direct test_kernels test_optim test_schedule test_safetensors test_gradcheck test_interp"
cmd_unit() {
    status=0
    for t in "$@"; do
        build_runtime "$t"
        for u in $UNIT_TESTS; do
            bin=$RUN/$t-$u
            # shellcheck disable=SC2046
            quiet_ld "$t-gcc" $WARN -O2 -fopenmp -D_POSIX_C_SOURCE=200809L $(zlib_flags "$t") $(file_flags "$t" "tests/unit/$u.c") -Iruntime -Iruntime/host -Itests/unit \
                -static -o "$bin" "tests/unit/$u.c" "$X/$t/librnet.a" $(zlib_libs "$t") -lm ||
                die "$t: building $u failed"
            t0=$(now)
            "$(qemu_for "$t")" "$bin" >"$bin.out" 2>&1 && st=0 || st=$?
            p=$(grep -c '^PASS' "$bin.out" || true)
            f=$(grep -c '^FAIL' "$bin.out" || true)
            if [ "$st" = 0 ] && [ "$f" = 0 ]; then
                say "$t $u: $p passed ($(secs "$t0" "$(now)") s)"
            else
                grep '^FAIL' "$bin.out" | head -5
                say "FAIL $t $u: $p passed, $f failed, exit status $st"
                status=1
            fi
        done
    done
    return $status
}

# section sizes of an object: "code C, constants K, data D, bss B bytes"
# (ELF: .text* / .rodata* / .data* / .bss*; wasm: CODE / DATA)
sections() { # OBJ
    llvm-size-14 -A "$1" | awk '
        $1 ~ /^\.text/ || $1 == "CODE" { code += $2 }
        $1 ~ /^\.rodata/ { ro += $2 }
        $1 ~ /^\.data/ || $1 == "DATA" { data += $2 }
        $1 ~ /^\.bss/ { bss += $2 }
        END { printf "code %d, constants %d, data %d, bss %d bytes", code, ro, data, bss }'
}

cmd_small() {
    weights=""
    while [ $# -gt 0 ]; do
        case $1 in
        --weights) weights=$2; shift 2 ;;
        *) echo "cross: unknown option '$1'" >&2; exit 2 ;;
        esac
    done
    if ! "$RNETC" --help 2>&1 | grep -q -- '--inference-only'; then
        say "note: this rnetc has no --inference-only yet; no wasm32 or Cortex-M objects"
        return 0
    fi
    [ -n "$weights" ] || weights=$(host_weights)
    mkdir -p "$X/small"
    "$RNETC" "$MODEL" --backend llvm --inference-only --weights "$weights" --emit h \
        -o "$RUN/$NAME.h" || die "rnetc --emit h failed"
    work=$(awk '/^#define .*_INFER_WORK_FLOATS/ { sub(/L$/, "", $3); print $3 }' "$RUN/$NAME.h")
    say "rnm_${NAME}_infer needs a work buffer of $work floats ($((work * 4)) bytes)"
    status=0
    for t in thumbv7em-none-eabihf wasm32-unknown-unknown; do
        o=$X/small/$NAME-$t.o
        t0=$(now)
        if ! "$RNETC" "$MODEL" --backend llvm --inference-only --weights "$weights" --target "$t" \
            --emit obj -o "$RUN/small.o"; then
            say "FAIL $t: rnetc failed"
            status=1
            continue
        fi
        mv -f "$RUN/small.o" "$o"
        took=$(secs "$t0" "$(now)")
        say "$t: $o ($(file -b "$o" | cut -d, -f1-2)), compiled in $took s"
        say "$t: $(sections "$o")"
        say "$t: llvm-size: $(llvm-size-14 "$o" | awk 'NR == 2 { printf "text %d, data %d, bss %d", $1, $2, $3 }')"
        undef=$(llvm-nm-14 -u "$o" | awk '{ printf " %s", $NF }')
        [ -z "$undef" ] && say "$t: no undefined symbols (needs no libc, no runtime)" ||
            say "$t: undefined symbols:$undef"
    done
    cortex_m_qemu_check "$weights" "$work" || status=1
    wasm_node_check "$weights" "$work" "" || status=1
    # and with 128-bit SIMD (4-wide vectors), which node 20 and browsers run
    o=$X/small/$NAME-wasm32-simd128.o
    if "$RNETC" "$MODEL" --backend llvm --inference-only --weights "$weights" --target wasm32-unknown-unknown \
        --features +simd128 --emit obj -o "$RUN/small.o" && mv -f "$RUN/small.o" "$o"; then
        say "wasm32 +simd128: $(sections "$o")"
        wasm_node_check "$weights" "$work" -simd128 || status=1
    else
        say "FAIL wasm32 +simd128: rnetc failed"
        status=1
    fi
    return $status
}

# the model's input normalisation, from the host program's `info`: "MEAN STD"
host_norm() {
    "$(host_prog)" info | awk '/normalize/ { for (i = 1; i < NF; i++) { if ($i == "mean") m = $(i + 1); if ($i == "std") s = $(i + 1) } }
        END { print (m == "" ? 0 : m), (s == "" ? 1 : s) }'
}

# the host's logits for the first N test digits -> $X/small/host-N.logits
host_logits() { # WEIGHTS N
    plain_data
    img=$X/data/mnist/t10k-images-idx3-ubyte
    i=0 args=""
    while [ $i -lt "$2" ]; do args="$args $img:$i"; i=$((i + 1)); done
    # shellcheck disable=SC2086
    "$(host_prog)" predict --weights "$1" --logits $args >"$RUN/host-$2.logits"
}

# The Cortex-M4F object, run: linked with tools/infer_main.c into an ARM
# Linux program (the object is Thumb-2 code with the hard-float AAPCS, which
# an ARMv7-A core runs too; it calls nothing) and run under qemu-arm on
# test digits, against the host's logits.  Needs arm-linux-gnueabihf-gcc.
cortex_m_qemu_check() { # WEIGHTS WORK_FLOATS
    o=$X/small/$NAME-thumbv7em-none-eabihf.o
    [ -e "$o" ] || return 0
    if ! command -v arm-linux-gnueabihf-gcc >/dev/null 2>&1 || ! command -v qemu-arm >/dev/null 2>&1; then
        say "note: arm-linux-gnueabihf-gcc or qemu-arm missing; the Cortex-M4F object is not run"
        return 0
    fi
    prog=$RUN/$NAME-cortex-m4f-harness
    classes=$(awk '/^#define .*_CLASSES / { print $3 }' "$RUN/$NAME.h")
    # GNU ld refuses to mix the M profile with the A profile of the Linux
    # libc ("conflicting architecture profiles M/A"): a copy of the object
    # without its build attributes links (code and data are untouched)
    arm-linux-gnueabihf-objcopy --remove-section=.ARM.attributes "$o" "$RUN/cortex-m-noattr.o"
    quiet_ld arm-linux-gnueabihf-gcc $WARN -O2 -static -DRN_INFER="rnm_${NAME}_infer" -DRN_WORK_FLOATS="$2" \
        -DRN_CLASSES="$classes" -o "$prog" tools/infer_main.c "$RUN/cortex-m-noattr.o" || {
        say "FAIL thumbv7em-none-eabihf: linking the qemu-arm harness failed"
        return 1
    }
    n=${SMALL_DIGITS:-100}
    host_logits "$1" "$n" || return 1
    t0=$(now)
    # shellcheck disable=SC2046
    qemu-arm "$prog" "$X/data/mnist/t10k-images-idx3-ubyte" "$n" $(host_norm) >"$RUN/cortex-m.logits" ||
        { say "FAIL thumbv7em-none-eabihf: the harness failed under qemu-arm"; return 1; }
    took=$(secs "$t0" "$(now)")
    if compare_logits "$RUN/host-$n.logits" "$RUN/cortex-m.logits" \
        "thumbv7em-none-eabihf object under qemu-arm" >"$RUN/cmp"; then
        say "$(cat "$RUN/cmp"), $took s: ok"
    else
        say "FAIL $(cat "$RUN/cmp")"
        return 1
    fi
}

# link a wasm32 object into a module and run rnm_<name>_infer in node on
# test digits (tools/wasm_infer.js); compare with the host's logits
wasm_node_check() { # WEIGHTS WORK_FLOATS SUFFIX ("" or -simd128)
    o=$X/small/$NAME-wasm32${3:--unknown-unknown}.o
    [ -e "$o" ] || return 0
    ld=$(command -v wasm-ld-14 || command -v wasm-ld || true)
    if [ -z "$ld" ] || ! command -v node >/dev/null 2>&1; then
        say "note: wasm-ld or node missing; the wasm32 object is not run"
        return 0
    fi
    wasm=$X/small/$NAME$3.wasm
    "$ld" --no-entry --export-dynamic --export=__heap_base -o "$RUN/m.wasm" "$o" && mv -f "$RUN/m.wasm" "$wasm" ||
        { say "FAIL wasm32: wasm-ld failed"; return 1; }
    say "wasm32$3: $wasm, $(wc -c <"$wasm") bytes"
    n=${SMALL_DIGITS:-100}
    host_logits "$1" "$n" || return 1
    # shellcheck disable=SC2046
    node tools/wasm_infer.js "$wasm" "$NAME" "$X/data/mnist/t10k-images-idx3-ubyte" "$n" $(host_norm) "$2" \
        >"$RUN/wasm.logits" 2>"$RUN/wasm.err" || { cat "$RUN/wasm.err" >&2; say "FAIL wasm32$3: node run failed"; return 1; }
    took=$(sed -n 's/.* in \([0-9]*\) ms.*/\1/p' "$RUN/wasm.err")
    if compare_logits "$RUN/host-$n.logits" "$RUN/wasm.logits" "wasm32$3 in node" >"$RUN/cmp"; then
        say "$(cat "$RUN/cmp"), $took ms: ok"
    else
        say "FAIL $(cat "$RUN/cmp")"
        return 1
    fi
}

[ $# -ge 1 ] || { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ -x "$RNETC" ] || die "$RNETC not found (run make)"
cmd=$1
shift
case $cmd in
runtime) for t in "$@"; do build_runtime "$t"; done ;;
unit) cmd_unit "$@" ;;
test) cmd_test "$@" ;;
small) cmd_small "$@" ;;
-h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' ;;
*) echo "cross: unknown command '$cmd' (runtime, unit, test, small)" >&2; exit 2 ;;
esac
