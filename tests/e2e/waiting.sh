#!/bin/sh
# waiting.sh - the OpenMP wait policy of a program rnetc builds (issue 13,
# "Under load"; docs/performance.md): rnetc links the compiler's static
# libgomp, so the program depends on no libgomp.so and its constructor
# (runtime/host/rn_main.c) sets GOMP_SPINCOUNT before libgomp reads its
# environment.  libgomp itself reports what it runs with (OMP_DISPLAY_ENV),
# for the C and the LLVM backend; a user's OMP_WAIT_POLICY or
# GOMP_SPINCOUNT wins, and `info` says which policy stands.  A program the
# user links against a shared libgomp keeps OpenMP's default, and `info`
# says that too.  Times nothing: the speed under load is bench/load.sh's.
. "$(dirname "$0")/lib.inc"
CC=${CC:-cc}
gomp=$($CC -print-file-name=libgomp.a)
case $gomp in
/*) ;;
*) say "skip: $CC has no static libgomp ($gomp)"; finish ;;
esac
SPIN=$(sed -n 's/^#define RN_SPINCOUNT "\([0-9]*\)"$/\1/p' runtime/host/rn_main.c)
[ -n "$SPIN" ] || { fail "no RN_SPINCOUNT in runtime/host/rn_main.c"; finish; }

# icv PROGRAM NAME [ENV...]: the value libgomp reports for NAME at start-up
icv() {
    p=$1 name=$2
    shift 2
    env "$@" OMP_DISPLAY_ENV=verbose "$p" info 2>&1 | sed -n "s/^ *$name = '\\(.*\\)'\$/\\1/p"
}

for be in c llvm; do
    P="$T/small.$be"
    $RNETC tests/e2e/small.rnet --backend $be -o "$P" || { fail "build --backend $be"; continue; }
    if readelf -d "$P" | grep 'NEEDED' | grep -q 'libgomp'; then
        fail "$be: the program needs a shared libgomp:"; readelf -d "$P" | grep NEEDED
    fi
    got=$(icv "$P" GOMP_SPINCOUNT)
    [ "$got" = "$SPIN" ] || fail "$be: libgomp runs with GOMP_SPINCOUNT '$got', want rnet's $SPIN"
    "$P" info >"$T/info" 2>&1 || fail "$be: info"
    grep -q "^waiting *GOMP_SPINCOUNT=$SPIN: .*rnet's default" "$T/info" ||
        { fail "$be: info does not show rnet's wait policy"; grep -i wait "$T/info"; }
    # the user's setting stands, and info names it
    got=$(icv "$P" GOMP_SPINCOUNT GOMP_SPINCOUNT=5)
    [ "$got" = 5 ] || fail "$be: GOMP_SPINCOUNT=5 from the environment gave '$got'"
    GOMP_SPINCOUNT=5 "$P" info 2>&1 | grep -q '^waiting *GOMP_SPINCOUNT=5 (from the environment)' ||
        fail "$be: info does not name the user's GOMP_SPINCOUNT"
    got=$(icv "$P" OMP_WAIT_POLICY OMP_WAIT_POLICY=active)
    spin=$(icv "$P" GOMP_SPINCOUNT OMP_WAIT_POLICY=active)
    [ "$got" = ACTIVE ] && [ "$spin" != "$SPIN" ] ||
        fail "$be: OMP_WAIT_POLICY=active gave policy '$got', spin count '$spin'"
    OMP_WAIT_POLICY=passive "$P" info 2>&1 | grep -q '^waiting *OMP_WAIT_POLICY=passive (from the environment)' ||
        fail "$be: info does not name the user's OMP_WAIT_POLICY"
done

# the generated C linked by hand against the shared libgomp: OpenMP's default
$RNETC tests/e2e/small.rnet --emit c -o "$T/small.c" || fail "--emit c"
$CC -O1 -fopenmp ${RNET_CFLAGS:-} -Iruntime -Iruntime/host -o "$T/shared" "$T/small.c" out/librnet.a -lz -lm ||
    fail "link the generated C by hand"
if [ -x "$T/shared" ]; then
    readelf -d "$T/shared" | grep NEEDED | grep -q libgomp || fail "the hand-linked program has no shared libgomp"
    got=$(icv "$T/shared" GOMP_SPINCOUNT)
    [ "$got" != "$SPIN" ] || fail "shared libgomp: GOMP_SPINCOUNT is rnet's $SPIN, want OpenMP's default"
    "$T/shared" info 2>&1 | grep -q "^waiting *OpenMP's default (a shared OpenMP runtime" ||
        { fail "shared libgomp: info does not say OpenMP's default stands"; "$T/shared" info 2>&1 | grep -i wait; }
fi
# clang: its libomp serves the runtime's GOMP_ calls too, so rnetc links
# no second OpenMP runtime (libgomp.a) into a clang-built program
if command -v clang >/dev/null 2>&1; then
    $RNETC tests/e2e/small.rnet --cc clang -o "$T/clang" || fail "build --cc clang"
    if [ -x "$T/clang" ]; then
        nm "$T/clang" | grep -q ' T GOMP_parallel$' && fail "--cc clang: libgomp linked beside libomp"
        "$T/clang" info 2>&1 | grep -q "^waiting *OpenMP's default" || fail "--cc clang: info's waiting line"
    fi
fi
finish
