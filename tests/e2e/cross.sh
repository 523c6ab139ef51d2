#!/bin/sh
# cross.sh - the cross targets in small (the full run is `make cross`):
# models/mnist.rnet built for aarch64-linux-gnu and riscv64-linux-gnu with
# each backend, run under qemu-user on a few test digits with weights
# trained on the host for a few seconds (cached in out/cross, like the
# cross runtimes and objects); classes must equal the host's and
# logits agree within 1e-4 relative (tools/cross.sh test does the
# comparing).  Then the runtime without zlib (-DRN_NO_ZLIB, as the cross
# runtimes are built) must refuse a gzipped IDX file with a message saying
# so.  Without the cross tools (`make cross` installs them; CI has none)
# the qemu part prints a SKIP line and passes.
. "$(dirname "$0")/lib.inc"

# the RN_NO_ZLIB reader, on the host: plain IDX works, .gz is refused
if ! tools/fetch_data.sh mnist >/dev/null 2>&1; then
    fail "fetch mnist"
    finish
fi
cc=${CC:-cc}
cat >"$T/nozlib.c" <<'EOF'
#include <stdio.h>
#include "rn_data.h"
int main(int argc, char **argv)
{
    char err[512];
    RnIdx idx;
    for (int i = 1; i < argc; i++) {
        if (rn_idx_load(argv[i], &idx, err, sizeof err)) {
            printf("error: %s\n", err);
            continue;
        }
        printf("ok %zu\n", idx.size);
        rn_idx_free(&idx);
    }
    return 0;
}
EOF
if $cc -std=c11 ${RNET_CFLAGS:-} -D_POSIX_C_SOURCE=200809L -DRN_NO_ZLIB -Iruntime -Iruntime/host -o "$T/nozlib" "$T/nozlib.c" \
    runtime/host/rn_idx.c runtime/host/rn_err.c 2>"$T/cc.err"; then
    zcat data/mnist/t10k-labels-idx1-ubyte.gz >"$T/labels"
    "$T/nozlib" "$T/labels" data/mnist/t10k-labels-idx1-ubyte.gz >"$T/nozlib.out"
    grep -q '^ok 1996$' "$T/nozlib.out" || { fail "RN_NO_ZLIB: a plain IDX file was not read"; cat "$T/nozlib.out"; }
    grep -q 'gzip-compressed, and this runtime was built without zlib (RN_NO_ZLIB): gunzip it first' \
        "$T/nozlib.out" || { fail "RN_NO_ZLIB: no clear refusal of a .gz file"; cat "$T/nozlib.out"; }
else
    fail "building the RN_NO_ZLIB reader"
    cat "$T/cc.err"
fi

# qemu: a few digits on each triple whose tools are here
triples=""
for t in aarch64-linux-gnu riscv64-linux-gnu; do
    q=qemu-${t%%-*}
    if command -v "$t-gcc" >/dev/null 2>&1 && command -v "$q" >/dev/null 2>&1; then
        triples="$triples $t"
    else
        say "SKIP $t: $t-gcc or $q not installed (make cross installs them)"
    fi
done
[ -n "$triples" ] || finish

for t in $triples; do
    case $t in riscv64-*) n=3 ;; *) n=12 ;; esac # qemu's RISC-V floating point is slow
    if tools/cross.sh test --triples "$t" --digits $n >"$T/$t.log" 2>&1; then
        grep 'classes' "$T/$t.log"
    else
        fail "tools/cross.sh test on $t"
        grep -v 'dlopen\|oacc-profiling' "$T/$t.log" | tail -8
    fi
done
finish
