#!/bin/sh
# dot.sh - rnetc --emit dot against --print-shapes and the program's `info`:
# for every model in models/ and tests/golden/shapes/, the dot file has one
# box per --print-shapes row with the same name, op and output shape, one
# edge per input of every node (--dump-ir), a cluster for every residual
# block (layerS.B), the parameter and MAC totals in its legend, and the note
# on fused groups.  For tiny.rnet the built program's `info` table must
# name the same layers with the same shapes.  Then `dot -Tsvg` must render
# each file (Debian's graphviz is installed if missing and we are root;
# otherwise that part is skipped with a note).  Also the command-line
# errors: --emit dot without -o, an unwritable path.
. "$(dirname "$0")/lib.inc"

# "name op shape" per layer, from a dot file's labels
dot_rows() {
    sed -n 's/^ *"n[0-9]*" \[label="\([^"]*\)".*/\1/p' "$1" |
        awk -F'\\\\n' '{ split($2, op, " "); print $1, op[1], $3 }'
}
# the same from --print-shapes (header, model line and total left out)
shape_rows() { awk 'NR > 2 && $1 != "total" { print $1, $2, $3 }' "$1"; }

render=1
if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing graphviz"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >"$T/apt.log" 2>&1 ||
            tail -3 "$T/apt.log"
    fi
    command -v dot >/dev/null 2>&1 || { render=0; say "note: graphviz is not installed; the render check is skipped"; }
fi

n=0
for src in models/*.rnet tests/golden/shapes/*.rnet; do
    b=$(basename "$src" .rnet)
    d="$T/$b.dot"
    if ! $RNETC "$src" --emit dot -o "$d" 2>"$T/err"; then
        fail "$src: --emit dot failed"; cat "$T/err"; continue
    fi
    $RNETC "$src" --print-shapes >"$T/$b.shapes" || { fail "$src: --print-shapes"; continue; }
    $RNETC "$src" --dump-ir >"$T/$b.ir" || { fail "$src: --dump-ir"; continue; }
    shape_rows "$T/$b.shapes" >"$T/want"
    dot_rows "$d" >"$T/got"
    [ -s "$T/want" ] || fail "$src: no rows in --print-shapes"
    diff "$T/want" "$T/got" >"$T/diff" || { fail "$src: dot layers differ from --print-shapes"; head -10 "$T/diff"; }
    # edges: one per input of each node in the IR
    want_e=$(sed -n 's/^  %[0-9]* = [a-z]* \(%[0-9]*\)\(, %[0-9]*\)\{0,1\}.*/\1\2/p' "$T/$b.ir" |
        awk -F, '{ s += NF } END { print s + 0 }')
    got_e=$(grep -c -- '^  "n[0-9]*" -> "n[0-9]*"' "$d")
    [ "$want_e" = "$got_e" ] || fail "$src: $got_e edges in the dot, $want_e inputs in the IR"
    # a cluster per block, named after it
    for blk in $(awk 'NR > 2 { if (split($1, p, ".") >= 3 && p[1] ~ /^layer/) print p[1] "." p[2] }' "$T/$b.shapes" | sort -u); do
        grep -q "subgraph \"cluster_$blk\"" "$d" || fail "$src: no cluster for block $blk"
    done
    # the legend carries the totals of --print-shapes
    tot=$(awk '$1 == "total" { print $2 " parameters, " $3 " MACs" }' "$T/$b.shapes")
    grep -q "label=\".*$tot" "$d" || fail "$src: legend lacks '$tot'"
    grep -q '^// Fused groups: none' "$d" || fail "$src: no note on fused groups"
    if [ "$render" = 1 ]; then
        dot -Tsvg "$d" -o "$T/$b.svg" 2>"$T/err" && grep -q '<svg' "$T/$b.svg" ||
            { fail "$src: dot -Tsvg failed"; head -5 "$T/err"; }
    fi
    n=$((n + 1))
done
say "$n dot files checked against --print-shapes"
[ "$render" = 1 ] && say "every one rendered with dot -Tsvg"

# the built program's `info` names the same layers with the same shapes
if $RNETC models/tiny.rnet -O0 -o "$T/tiny" 2>"$T/err"; then
    "$T/tiny" info | awk '$1 ~ /^[0-9]+$/ && NF >= 5 { print $2, $3, $4 }' >"$T/info"
    dot_rows "$T/tiny.dot" >"$T/got"
    diff "$T/info" "$T/got" >"$T/diff" || { fail "tiny: dot layers differ from info"; head -10 "$T/diff"; }
else
    fail "build tiny"; cat "$T/err"
fi

# a picture of a block with a zero-pad shortcut and a concat join: the
# identity shortcut is drawn dashed, the padshort as a box
grep -q '"n[0-9]*" -> "n[0-9]*" \[style="dashed", label="identity"' "$T/mnist.dot" ||
    fail "mnist: the identity shortcut is not marked"
grep -q 'label="layer2.0.shortcut\\npadshort stride 2\\n' "$T/option_a.dot" ||
    fail "option_a: no padshort box for layer2.0.shortcut"

expect 2 "needs -o" $RNETC models/tiny.rnet --emit dot
expect 2 "expected exe, c or dot" $RNETC models/tiny.rnet --emit svg -o "$T/x"
expect 1 "cannot write '$T/no/such/dir/x.dot'" $RNETC models/tiny.rnet --emit dot -o "$T/no/such/dir/x.dot"
$RNETC models/tiny.rnet --emit dot -o - | grep -q '^digraph "tiny" {' || fail "-o - does not write to stdout"
finish
