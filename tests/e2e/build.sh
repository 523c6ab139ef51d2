#!/bin/sh
# build.sh - build hygiene: each generator runs once under make -j (bison
# and flex each make two files; as plain rules make -j ran each twice at
# once, racing on the output), and the compiler's sources build with the
# sanitizer flags a user gives in CFLAGS (GCC 12 failed arena.c with
# -Werror=format-truncation).
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
finish
