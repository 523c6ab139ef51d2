#!/bin/sh
# hostile.sh - rnetc against hostile paths: it never writes over one of its
# inputs (same file by device and inode, whatever the name), refuses a bad
# output path before any work, and no path reaches the generated C except
# escaped (a source path holding "*/" and code must not put that code
# outside a comment).
. "$(dirname "$0")/lib.inc"

cp models/tiny.rnet "$T/m.rnet"
sum=$(cksum <"$T/m.rnet")
ln -s m.rnet "$T/sym.rnet"
ln "$T/m.rnet" "$T/hard.rnet"
for args in "-o $T/m.rnet" "--emit c -o $T/m.rnet" "--emit dot -o $T/m.rnet" \
            "--backend llvm --emit llvm -o $T/m.rnet" "--backend llvm --emit obj -o $T/m.rnet" \
            "--backend llvm -o $T/m.rnet" "-o $T/sym.rnet" "-o $T/hard.rnet"; do
    expect 1 "is the input '$T/m.rnet': refusing to write over it" $RNETC "$T/m.rnet" $args
done
# the header --emit c writes beside the .c is an output too
ln -s m.rnet "$T/gen.h"
expect 1 "output '$T/gen.h' is the input" $RNETC "$T/m.rnet" --emit c -o "$T/gen.c"
[ "$(cksum <"$T/m.rnet")" = "$sum" ] || fail "rnetc changed its own source"
[ ! -e "$T/gen.c" ] || fail "--emit c wrote the .c before refusing the header"

# embedded weights are an input too
expect 1 "is the input" $RNETC "$T/m.rnet" --backend llvm --inference-only --weights "$T/m.rnet" \
    --emit obj -o "$T/hard.rnet"

# a bad -o is one line, before compiling anything
expect 1 "cannot write '$T/nodir/x': directory '$T/nodir': No such file or directory" \
    $RNETC models/mnist.rnet -o "$T/nodir/x"
[ "$(wc -l <"$T/stderr")" = 1 ] || { fail "missing directory: more than one line"; cat "$T/stderr"; }
expect 1 "'$T/m.rnet' is not a directory" $RNETC models/tiny.rnet -o "$T/m.rnet/x"
expect 1 "output '$T' is a directory" $RNETC models/tiny.rnet -o "$T"

# code in the source path stays in a comment: the preprocessed C has none of it
d="$T/a*/ __attribute__((constructor)) static void evil(void) { fclose(fopen(\"PWNED\", \"w\")); } /*"
mkdir -p "$d"
cp models/tiny.rnet "$d/m.rnet"
if $RNETC "$d/m.rnet" --emit c -o "$T/inj.c" 2>"$T/err"; then
    for f in "$T/inj.c" "$T/inj.h"; do
        cc -E -P -Iruntime "$f" >"$T/pp" 2>"$T/err" || { fail "$f does not preprocess"; cat "$T/err"; }
        ! grep -q evil "$T/pp" || fail "the source path's code reached $f outside a comment"
    done
else
    fail "--emit c from a hostile path"; cat "$T/err"
fi
if $RNETC "$d/m.rnet" -o "$T/inj" 2>"$T/err"; then
    (cd "$T" && ./inj info >/dev/null) || fail "the program built from a hostile path does not run"
    [ ! -e "$T/PWNED" ] || fail "code from the source path ran"
else
    fail "build from a hostile path"; cat "$T/err"
fi
# a newline in the path ends no comment either
n="$T/line
int injected_line = 1; /*"
mkdir -p "$n"
cp models/tiny.rnet "$n/m.rnet"
$RNETC "$n/m.rnet" --emit c -o "$T/nl.c" || fail "--emit c from a path with a newline"
cc -E -P -Iruntime "$T/nl.c" 2>/dev/null | grep -q injected_line && fail "a newline in the path let code in"
$RNETC "$n/m.rnet" --emit dot -o "$T/nl.dot" || fail "--emit dot from a path with a newline"
[ "$(grep -c injected_line "$T/nl.dot")" = 1 ] && ! grep -q '^int injected_line' "$T/nl.dot" \
    || fail "a newline in the path broke the dot file's comment"
# a header that cannot be #included under its name is refused
expect 1 "cannot #include a header of that name" $RNETC models/tiny.rnet --emit c -o "$T/q\"x.c"

# a binary file as the source: one line, at once
head -c 4096 "$RNETC" >"$T/bin.rnet"
expect 1 "'$T/bin.rnet' is not a text file (a NUL byte at offset" timeout 10 $RNETC "$T/bin.rnet"
[ "$(wc -l <"$T/stderr")" = 1 ] || fail "a binary source gave more than one line"
# text noise without NUL bytes, and 100,000 misspelt lines: at most 50 errors
# shown, then one line, in well under the time the old quadratic caret took
head -c 300000 /dev/urandom | tr -d '\000' >"$T/noise.rnet"
expect 1 "too many errors (50); the rest are not shown" timeout 10 $RNETC "$T/noise.rnet"
awk 'BEGIN { print "model m {"; for (i = 0; i < 100000; i++) printf "    cnvv%d 3x3 64\n", i; print "}" }' \
    >"$T/many.rnet"
expect 1 "too many errors (50)" timeout 10 $RNETC "$T/many.rnet"
[ "$(grep -c ':[0-9]*:[0-9]*: error: ' "$T/stderr")" = 50 ] || fail "many errors: not 50 shown"
expect 1 "cnvv2'" $RNETC -fmax-errors=3 "$T/many.rnet"
[ "$(grep -c ':[0-9]*:[0-9]*: error: ' "$T/stderr")" = 3 ] && grep -q "too many errors (3)" "$T/stderr" \
    || fail "-fmax-errors=3 did not stop at 3"
timeout 20 $RNETC -fmax-errors=0 "$T/many.rnet" 2>"$T/all" && fail "many errors: exit 0"
[ "$(grep -c ':[0-9]*:[0-9]*: error: ' "$T/all")" -ge 100000 ] || fail "-fmax-errors=0 did not show every error"
expect 2 "-fmax-errors wants a number from 0 to 1000000, not 'x'" $RNETC -fmax-errors=x models/tiny.rnet
finish
