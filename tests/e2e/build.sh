#!/bin/sh
# build.sh - build hygiene: each generator runs once under make -j (bison
# and flex each make two files; as plain rules make -j ran each twice at
# once, racing on the output), and the compiler's sources build with the
# sanitizer flags a user gives in CFLAGS (GCC 12 failed arena.c with
# -Werror=format-truncation).  rnetc --cflags (and $RNET_CFLAGS) reach the
# compile and link commands of both backends: a sanitized program.
. "$(dirname "$0")/lib.inc"
n=$(make -n -B -j2 out/rnetc 2>/dev/null | grep -c '^bison ')
[ "$n" = 1 ] || fail "make -j2 runs bison $n times for one grammar"
n=$(make -n -B -j2 out/rnetc 2>/dev/null | grep -c '^flex ')
[ "$n" = 1 ] || fail "make -j2 runs flex $n times for one lexer"
for f in compiler/arena.c compiler/diag.c compiler/cquote.c; do
    cc -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined \
        -D_POSIX_C_SOURCE=200809L -Icompiler -Iruntime -Iout/gen -c "$f" -o "$T/x.o" 2>"$T/err" ||
        { fail "$f with -O1 -fsanitize=address,undefined: $(head -3 "$T/err")"; }
done
# a program built with --cflags -fsanitize=address carries ASan and runs
# (a sanitized runtime, make test-asan, needs its own RNET_CFLAGS too)
$RNETC models/tiny.rnet -o "$T/san" --cflags "${RNET_CFLAGS:-}  -g -fsanitize=address" ||
    fail "rnetc --cflags -fsanitize=address"
nm "$T/san" 2>/dev/null | grep -q __asan_init || fail "--cflags did not reach the compiler"
"$T/san" --help >/dev/null 2>&1 || fail "the sanitized program does not run"
RNET_CFLAGS="${RNET_CFLAGS:-} -DRN_FROM_ENV" $RNETC models/tiny.rnet -o "$T/env" -v 2>"$T/v" || fail "RNET_CFLAGS build"
grep -q -- '-DRN_FROM_ENV' "$T/v" || fail "RNET_CFLAGS not in the compile command"
RNET_CFLAGS="${RNET_CFLAGS:-} -DRN_FROM_ENV" $RNETC models/tiny.rnet --backend llvm -o "$T/envl" -v 2>"$T/v" ||
    fail "RNET_CFLAGS llvm build"
grep -q -- '-DRN_FROM_ENV' "$T/v" || fail "RNET_CFLAGS not in the LLVM backend's link command"
expect 2 "holds more than 32 flags" $RNETC models/tiny.rnet -o "$T/x" \
    --cflags "$(seq -s ' ' -f '-DF%g' 33)"
finish
