#!/bin/sh
# tensorboard.sh - `train --log-dir` event files, read by an independent
# reader: tools/tbread.py parses them with Python code that protoc
# generates here from tools/proto/*.proto (TensorBoard's field numbers) and
# checks every record's CRCs with its own CRC-32C.  The test requires the
# tags, steps that increase, values equal to metrics.csv's and steps.csv's,
# a corrupted or truncated file refused, and, after a resume from an
# earlier checkpoint, TensorBoard's view (SessionLog START drops the stale
# points) equal to that of a run never stopped.
#
# Needs protoc and Python's protobuf module (Debian's protobuf-compiler and
# python3-protobuf); installs them when root, and skips with a note when
# they cannot be had.
. "$(dirname "$0")/lib.inc"

PY=
have_pb() {
    for p in /usr/bin/python3 python3; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import google.protobuf' 2>/dev/null; then
            PY=$p
            return 0
        fi
    done
    return 1
}
if ! command -v protoc >/dev/null 2>&1 || ! have_pb; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing protobuf-compiler and python3-protobuf"
        { apt-get install -y -qq protobuf-compiler python3-protobuf ||
            { apt-get update -qq && apt-get install -y -qq protobuf-compiler python3-protobuf; }
        } >"$T/apt.log" 2>&1
    fi
fi
if ! command -v protoc >/dev/null 2>&1 || ! have_pb; then
    say "note: protoc or Python's protobuf module is missing and could not be installed;" \
        "the TensorBoard reader test is skipped"
    exit 0
fi
mkdir -p "$T/pb"
protoc -I tools/proto --python_out="$T/pb" tools/proto/event.proto tools/proto/summary.proto ||
    { fail "protoc"; finish; }
tbread() { "$PY" tools/tbread.py --pb "$T/pb" "$@"; }

tools/fetch_data.sh mnist >/dev/null || { fail "fetch mnist"; finish; }
D=$T/data
mnist_subset "$D"

cat >"$T/small.rnet" <<'M'
model small {
    input 1x28x28
    classes 10
    stem { conv 3x3 8 stride 2; bn; relu }
    stage 1 x basic 8
    stage 1 x basic double
    head { gap; fc }
    train {
        lr 0.1
        schedule cosine
        batch 32
        epochs 3
        normalize mean 0.1307 std 0.3081
    }
}
M
$RNETC "$T/small.rnet" -O1 -o "$T/small" || { fail "build"; finish; }
train() { # LOGDIR ARGS...
    dir=$1
    shift
    "$T/small" train --data "$D" --limit 512 --threads 1 --log-every 5 --log-dir "$dir" "$@" \
        >>"$T/train.log" 2>&1
}

# ---- one run, read back ----
train "$T/a" || { fail "train"; cat "$T/train.log"; finish; }
ls "$T/a"/events.out.tfevents.* >/dev/null 2>&1 || fail "no events.out.tfevents.* in the log dir"
if ! tbread "$T/a" >"$T/a.view" 2>"$T/a.err"; then
    fail "the reader refused a fresh file: $(cat "$T/a.err")"
    finish
fi
grep -q "1 file, .* records, CRCs valid" "$T/a.err" || fail "reader summary: $(cat "$T/a.err")"
for tag in train/batch_loss train/lr train/loss train/accuracy test/loss test/accuracy \
    perf/images_per_sec; do
    grep -q ",$tag," "$T/a.view" || fail "tag $tag missing"
done
# steps increase within each tag
awk -F, 'NR > 1 { if (($2 in last) && $1 <= last[$2]) { print "tag " $2 ": step " $1 " after " last[$2]; bad = 1 } last[$2] = $1 }
         END { exit bad }' "$T/a.view" || fail "steps do not increase"
# per-step points every 5 steps and at each epoch's end (16 steps an epoch)
got=$(awk -F, '$2 == "train/batch_loss" { printf "%s ", $1 }' "$T/a.view")
[ "$got" = "5 10 15 16 20 25 30 32 35 40 45 48 " ] || fail "train/batch_loss at steps '$got'"
# values: the CSV files print the same numbers to 6 digits
check_csv() { # CSV VIEW SPEC: SPEC is "STEP_COLUMN VALUE_COLUMN TAG TOLERANCE ..." for the CSV
    awk -F, -v csv="$1" -v spec="$3" '
        BEGIN {
            n = split(spec, s, " ")
            while ((getline line < csv) > 0) {
                if (++row == 1) continue
                split(line, f, ",")
                for (i = 1; i <= n; i += 4) { want[f[s[i]] SUBSEP s[i + 2]] = f[s[i + 1]]; tol[s[i + 2]] = s[i + 3] }
                rows++
            }
        }
        NR > 1 && (($1 SUBSEP $2) in want) {
            d = $3 - want[$1 SUBSEP $2]; if (d < 0) d = -d
            if (d > tol[$2] * (1 + (want[$1 SUBSEP $2] < 0 ? -want[$1 SUBSEP $2] : want[$1 SUBSEP $2]))) {
                print "step " $1 " " $2 ": event " $3 ", csv " want[$1 SUBSEP $2]; bad = 1
            }
            seen++
        }
        END { if (seen != rows * n / 4) { print seen " values matched, want " rows * n / 4; bad = 1 } exit bad }
    ' "$2"
}
check_csv "$T/a/metrics.csv" "$T/a.view" \
    "2 3 train/loss 1e-6 2 4 train/accuracy 1e-6 2 5 test/loss 1e-6 2 6 test/accuracy 1e-6 2 8 perf/images_per_sec 1e-4" ||
    fail "per-epoch values differ from metrics.csv"
check_csv "$T/a/steps.csv" "$T/a.view" "1 3 train/batch_loss 1e-6 1 4 train/lr 1e-5" ||
    fail "per-step values differ from steps.csv"
[ "$(grep -c ',train/loss,' "$T/a.view")" = 3 ] || fail "want 3 per-epoch points"

# ---- damage is detected ----
ev=$(ls "$T/a"/events.out.tfevents.* | head -1)
size=$(wc -c <"$ev")
flip() { # FILE OFFSET
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf %03o $(((b + 1) & 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
mkdir -p "$T/bad"
# offsets: 10 the first record's length CRC, 20 its data (file_version),
# 40 the second record's length, then the middle and the last byte
for case in "10 record 0 at byte 0: length CRC mismatch" "20 record 0 at byte 0: data CRC mismatch" \
    "40 record 1 at byte 40: length CRC mismatch" "$((size / 2)) CRC mismatch" \
    "$((size - 1)) data CRC mismatch"; do
    set -- $case
    cp "$ev" "$T/bad/events.out.tfevents.1.x"
    flip "$T/bad/events.out.tfevents.1.x" "$1"
    shift
    if tbread "$T/bad" >/dev/null 2>"$T/bad.err"; then
        fail "a changed byte ($case) was not detected"
    else
        grep -q "$*" "$T/bad.err" || fail "changed byte ($case): $(cat "$T/bad.err")"
    fi
done
head -c $((size - 3)) "$ev" >"$T/bad/events.out.tfevents.1.x"
tbread "$T/bad" >/dev/null 2>"$T/bad.err" && fail "a truncated file was accepted"
grep -q "truncated" "$T/bad.err" || fail "truncation: $(cat "$T/bad.err")"

# ---- a resume from an older checkpoint: the stale points are dropped ----
train "$T/b" --stop-after 2 || fail "stop after 2"
cp "$T/b/model.safetensors" "$T/b.w"
cp "$T/b/model.state.safetensors" "$T/b.s"
"$T/small" train --resume "$T/b/model.safetensors" >>"$T/train.log" 2>&1 || fail "resume 1"
# as if that run had died after its last point: back to the epoch-2 checkpoint
cp "$T/b.w" "$T/b/model.safetensors"
cp "$T/b.s" "$T/b/model.state.safetensors"
"$T/small" train --resume "$T/b/model.safetensors" >>"$T/train.log" 2>&1 || fail "resume 2"
tbread "$T/b" >"$T/b.view" 2>"$T/b.err" || fail "reader: $(cat "$T/b.err")"
grep -q "3 files" "$T/b.err" || fail "want 3 event files: $(cat "$T/b.err")"
tbread --raw "$T/b" >"$T/b.raw" 2>/dev/null
[ "$(wc -l <"$T/b.raw")" -gt "$(wc -l <"$T/b.view")" ] || fail "no stale points in the raw files"
grep -v perf/ "$T/a.view" >"$T/a.cmp"
grep -v perf/ "$T/b.view" >"$T/b.cmp"
cmp -s "$T/a.cmp" "$T/b.cmp" || { fail "the resumed run's view differs from the straight run's"; diff "$T/a.cmp" "$T/b.cmp" | head; }
cut -d, -f1-7 "$T/a/metrics.csv" >"$T/a.m"
cut -d, -f1-7 "$T/b/metrics.csv" >"$T/b.m"
cmp -s "$T/a.m" "$T/b.m" || { fail "metrics.csv after the resumes"; diff "$T/a.m" "$T/b.m"; }
cmp -s "$T/a/steps.csv" "$T/b/steps.csv" || { fail "steps.csv after the resumes"; diff "$T/a/steps.csv" "$T/b/steps.csv"; }
finish
