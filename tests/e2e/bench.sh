#!/bin/sh
# bench.sh - the program's `bench` subcommand, quickly: train, infer,
# latency and --per-layer on the small model and a 300-digit test set, each
# checked for well-formed --csv records with positive numbers (a layer row
# per entry of the layer table, each naming a node in order, every conv
# heading one, shares summing to 100%); the human report once; and bad
# options refused with a clear message.  Times nothing against anything: speed is bench/bench.sh's.
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist >/dev/null || { fail "fetch mnist"; finish; }
$RNETC tests/e2e/small.rnet -o "$T/small" || { fail "build"; finish; }
mnist_subset "$T/data"
P="$T/small"

# check_result FILE MODE BATCH [STEPS]: one result record, well formed
check_result() {
    awk -F, -v mode="$2" -v batch="$3" -v steps="${4:-}" '
        $1 == "result" {
            n++
            if (NF != 11) { print "result has " NF " fields, want 11: " $0; bad = 1 }
            if ($2 != "rnet" || $3 != "small" || $4 != mode) { print "wrong side/model/mode: " $0; bad = 1 }
            if ($5 != batch) { print "batch " $5 ", want " batch; bad = 1 }
            if (steps != "" && $7 != steps) { print "steps " $7 ", want " steps; bad = 1 }
            for (i = 6; i <= 11; i++) if (!($i + 0 > 0)) { print "field " i " is not positive: " $0; bad = 1 }
            if ($11 + 0 < $10 + 0) { print "p90 below the median: " $0; bad = 1 }
        }
        END { if (n != 1) { print n + 0 " result records, want 1"; bad = 1 }; exit bad }' "$1" ||
        { fail "bench --mode $2: malformed output"; cat "$1"; }
    grep -q '^meta,rnet,small,denormals,\(flushed\|not flushed\|partly flushed\|unknown\)' "$1" ||
        fail "bench --mode $2: no denormals record"
}

"$P" bench --data "$T/data" --mode train --steps 3 --batch 16 --warmup 1 --threads 2 --csv \
    >"$T/train.csv" 2>"$T/err" || { fail "bench --mode train"; cat "$T/err"; }
check_result "$T/train.csv" train 16 3
grep -q '^meta,rnet,small,optimizer,sgd momentum 0.9 nesterov' "$T/train.csv" ||
    fail "bench --mode train: no optimizer record (the model's sgd nesterov)"

"$P" bench --data "$T/data" --mode infer --batch 32 --steps 4 --threads 1 --csv >"$T/infer.csv" 2>"$T/err" ||
    { fail "bench --mode infer"; cat "$T/err"; }
check_result "$T/infer.csv" infer 32 4

"$P" bench --data "$T/data" --mode latency --steps 30 --warmup 2 --threads 1 --csv >"$T/lat.csv" 2>"$T/err" ||
    { fail "bench --mode latency"; cat "$T/err"; }
check_result "$T/lat.csv" latency 1 30

# the human report
"$P" bench --data "$T/data" --steps 2 --warmup 0 --batch 16 --threads 1 >"$T/human" 2>"$T/err" ||
    { fail "bench (report)"; cat "$T/err"; }
grep -q 'timed *2 steps in .* img/s; per step median' "$T/human" || { fail "bench report lacks its timing line"; cat "$T/human"; }
grep -q 'denormals' "$T/human" || fail "bench report lacks the denormals line"

# per layer: a row per layer-table entry, all numbers positive
"$P" bench --data "$T/data" --per-layer --batch 16 --warmup 1 --threads 1 --csv >"$T/layers.csv" 2>"$T/err" ||
    { fail "bench --per-layer"; cat "$T/err"; }
"$P" info | awk '$1 ~ /^[0-9]+$/ && $1 > 0 { print $2, $3 }' >"$T/nodes"
# A row may be a fused group (named after its first node), so there may be
# fewer rows than nodes; every row names a node, in the nodes' order, and
# every convolution heads a row of its own.
awk -F, 'NR == FNR { split($0, f, " "); nodes++; pos[f[1]] = nodes; if (f[2] == "conv") conv[f[1]] = 1; next }
    $1 == "layer" {
        rows++
        if (NF != 14) { print "layer row has " NF " fields, want 14: " $0; bad = 1 }
        if ($5 != rows - 1) { print "layer index " $5 ", want " rows - 1; bad = 1 }
        if (!($6 in pos)) { print "layer " $6 " is not a node of the model"; bad = 1 }
        else if (pos[$6] <= last) { print "layer " $6 " out of the nodes order"; bad = 1 }
        else last = pos[$6]
        seen[$6] = 1
        if (!($8 + 0 > 0)) { print "forward time not positive: " $0; bad = 1 }
        if ($9 != "" && !($9 + 0 > 0)) { print "backward time not positive: " $0; bad = 1 }
        if ($13 + 0 > 0 && !($10 + 0 > 0)) { print "forward GFLOP/s missing for a layer with FLOPs: " $0; bad = 1 }
        if ($7 ~ /^conv/) { convs++; if (!($11 + 0 > 0)) { print "conv without backward GFLOP/s: " $0; bad = 1 } }
        pct += $12
    }
    $1 == "layer_total" { total = $5; if (!($8 + 0 > 0 && $9 + 0 > 0)) { print "bad total: " $0; bad = 1 } }
    $1 == "whole" { whole = 1; for (i = 5; i <= 7; i++) if (!($i + 0 > 0)) { print "bad whole-step row: " $0; bad = 1 } }
    END {
        for (c in conv) if (!(c in seen)) { print "conv " c " has no row"; bad = 1 }
        if (rows < 1) { print "no layer rows"; bad = 1 }
        if (total != rows) { print "layer_total says " total " layers, " rows + 0 " rows"; bad = 1 }
        if (convs < 6) { print convs + 0 " conv rows, the model has 6"; bad = 1 }
        if (pct < 99 || pct > 101) { print "shares sum to " pct "%"; bad = 1 }
        if (!whole) { print "no whole-step row"; bad = 1 }
        exit bad
    }' "$T/nodes" "$T/layers.csv" || { fail "bench --per-layer: malformed output"; cat "$T/layers.csv"; }
"$P" bench --data "$T/data" --per-layer --mode infer --batch 8 --threads 1 >"$T/layers.txt" 2>"$T/err" ||
    { fail "bench --per-layer --mode infer"; cat "$T/err"; }
grep -q 'whole forward pass' "$T/layers.txt" || { fail "per-layer inference report"; cat "$T/layers.txt"; }
# inference times the inference graph's layers (what forward(train = 0)
# runs): every conv with its batch norm folded in, no backward column
"$P" bench --data "$T/data" --per-layer --mode infer --batch 8 --threads 1 --csv >"$T/ilayers.csv" 2>"$T/err" ||
    { fail "bench --per-layer --mode infer --csv"; cat "$T/err"; }
awk -F, '$1 == "layer" { rows++; if ($7 ~ /^conv/) { convs++; if ($7 !~ /bn\(folded\)/) { print "not folded: " $0; bad = 1 } }
                         if ($9 != "") { print "inference row with a backward time: " $0; bad = 1 } }
    END { if (convs != 6) { print convs + 0 " conv rows, want 6"; bad = 1 }; exit bad }' "$T/ilayers.csv" ||
    { fail "bench --per-layer --mode infer: not the inference graph's layers"; cat "$T/ilayers.csv"; }

# bad options and values: exit 2 (1 for a missing directory), one clear line
expect 2 "unknown mode 'fast' (expected train, infer or latency)" "$P" bench --data "$T/data" --mode fast
expect 2 "bench: --data is required" "$P" bench --mode train
expect 2 "unknown option '--bogus'" "$P" bench --data "$T/data" --bogus
expect 2 "give --seconds or --steps, not both" "$P" bench --data "$T/data" --seconds 1 --steps 2
expect 2 "steps must be at least 1" "$P" bench --data "$T/data" --steps -3
expect 2 "seconds must be a number > 0" "$P" bench --data "$T/data" --seconds -1
expect 2 "'x' is not an integer" "$P" bench --data "$T/data" --threads x
expect 2 "latency is measured at batch 1" "$P" bench --data "$T/data" --mode latency --batch 4
expect 2 "batch must be at least 1" "$P" bench --data "$T/data" --batch -1
expect 2 "--per-layer takes no value" "$P" bench --data "$T/data" --per-layer=1
expect 2 "fewer than one batch of 9000" "$P" bench --data "$T/data" --batch 9000
expect 1 "$T/nowhere" "$P" bench --data "$T/nowhere"
"$P" --help | grep -q '^  bench ' || fail "--help does not list bench"
"$P" bench --help | grep -q -- '--per-layer' || fail "bench --help does not list --per-layer"
finish
