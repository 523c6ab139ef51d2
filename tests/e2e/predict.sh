#!/bin/sh
# predict.sh - `predict` on image files: 20 MNIST test digits are written
# out as PGM (P5 and P2) and PNG (gray, several row filters; RGB; dark on
# light) by a small Python script (zlib for PNG), then classified with the
# trained weights of runs/mnist-s1 (or, without them, a small model trained
# here for a few seconds).  Checks: most predicted classes equal the labels;
# an image gives exactly the IDXFILE:INDEX entry's output (so normalisation
# is the same); a directory gives every image in sorted order; --invert
# undoes dark-on-light; a wrong-size image is refused with a message naming
# it and accepted with --resize; an RGB image is refused, and with --resize
# turned to gray (giving the digit's output); an empty directory and a
# truncated --raw file are refused; --raw --logits on the normalised digit
# matches the image's --logits.
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist || { fail "fetch mnist"; finish; }
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || PY=/usr/bin/python3
command -v "$PY" >/dev/null 2>&1 || { say "note: no python3; predict.sh skipped"; finish; }

IDX=data/mnist/t10k-images-idx3-ubyte.gz
LBL=data/mnist/t10k-labels-idx1-ubyte.gz
W=${RNET_WEIGHTS:-runs/mnist-s1/model.safetensors}
$RNETC models/mnist.rnet -o "$T/mnist" || { fail "build mnist"; finish; }
prog="$T/mnist"
if ! [ -f "$W" ] || ! "$prog" predict --weights "$W" "$IDX:0" >/dev/null 2>&1; then
    say "note: $W is missing or does not fit models/mnist.rnet; training a small model"
    $RNETC tests/e2e/small.rnet -o "$T/small" || { fail "build small"; finish; }
    "$T/small" train --data data/mnist --limit 3000 --threads 2 --save "$T/small.safetensors" \
        >"$T/train.log" 2>&1 || { fail "train"; cat "$T/train.log"; finish; }
    prog="$T/small" W="$T/small.safetensors"
fi

mkdir -p "$T/img" "$T/inv" "$T/big" "$T/empty"
"$PY" - "$IDX" "$LBL" "$T" <<'PYEOF' || { fail "writing the images"; finish; }
import gzip, struct, sys, zlib
idx, lbl, out = sys.argv[1:4]
raw = gzip.open(idx).read()
n, h, w = struct.unpack(">III", raw[4:16])
labels = gzip.open(lbl).read()[8:]
def digit(i):
    return [list(raw[16 + i*h*w + r*w: 16 + i*h*w + (r+1)*w]) for r in range(h)]
def pgm(path, rows, ascii=False):
    hh, ww = len(rows), len(rows[0])
    if ascii:
        body = "\n".join(" ".join(str(v) for v in r) for r in rows)
        open(path, "w").write("P2\n# a comment\n%d %d\n255\n%s\n" % (ww, hh, body))
    else:
        open(path, "wb").write(b"P5\n%d %d\n255\n" % (ww, hh) + bytes(sum(rows, [])))
def png(path, rows, channels=1, filt=0):
    hh, ww = len(rows), len(rows[0]) // channels
    bpp = channels
    data, prev = b"", [0] * len(rows[0])
    for r in rows:
        if filt == 0:   line = r
        elif filt == 1: line = [(r[i] - (r[i-bpp] if i >= bpp else 0)) & 255 for i in range(len(r))]
        elif filt == 2: line = [(r[i] - prev[i]) & 255 for i in range(len(r))]
        elif filt == 3: line = [(r[i] - (((r[i-bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 255 for i in range(len(r))]
        data += bytes([filt] + line)
        prev = r
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    ihdr = struct.pack(">IIBBBBB", ww, hh, 8, 0 if channels == 1 else 2, 0, 0, 0)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                           chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))
with open(out + "/labels", "w") as f:
    for i in range(20):
        d = digit(i)
        name = "%s/img/d%02d" % (out, i)
        if i < 8:    pgm(name + ".pgm", d)
        elif i < 10: pgm(name + ".pgm", d, ascii=True)
        else:        png(name + ".png", d, filt=(i % 4))
        f.write("%d %d\n" % (i, labels[i]))
    for i in range(3):   # dark on light
        png("%s/inv/d%02d.png" % (out, i), [[255 - v for v in r] for r in digit(i)])
    # 32x32: the digit with a 2-pixel border
    d = digit(0)
    big = [[0] * 32 for _ in range(2)] + [[0, 0] + r + [0, 0] for r in d] + [[0] * 32 for _ in range(2)]
    pgm(out + "/big/wide.pgm", big)
    png(out + "/rgb.png", [sum(([v, v, v] for v in r), []) for r in d], channels=3)
    # digit 0 as the network sees it: (x/255 - mean) / std, float32
    vals = [(v / 255.0 - 0.1307) / 0.3081 for r in d for v in r]
    open(out + "/d00.f32", "wb").write(struct.pack("<%df" % len(vals), *vals))
    open(out + "/short.f32", "wb").write(struct.pack("<5f", 1, 2, 3, 4, 5))
    open(out + "/img/notes.txt", "w").write("not an image\n")
PYEOF

# each image alone: the class against the label
right=0
for i in $(seq 0 19); do
    f=$(ls "$T"/img/d$(printf %02d "$i").*)
    "$prog" predict --weights "$W" "$f" >"$T/one" 2>&1 || { fail "predict $f"; cat "$T/one"; continue; }
    got=$(sed -n 's/.*: class \([0-9]*\) .*/\1/p' "$T/one")
    want=$(awk -v i="$i" '$1 == i { print $2 }' "$T/labels")
    [ "$got" = "$want" ] && right=$((right + 1))
    # the IDX entry of the same digit prints the same probabilities
    "$prog" predict --weights "$W" "$IDX:$i" >"$T/idx" 2>&1
    [ "$(sed 's/^[^:]*:[^:]*: //' "$T/idx")" = "$(sed 's/^[^:]*: //' "$T/one")" ] ||
        { fail "$f and $IDX:$i give different outputs"; cat "$T/one" "$T/idx"; }
done
say "$right of 20 digits classified as their labels"
[ "$right" -ge 17 ] || fail "only $right of 20 digits right"

# a directory: every image, sorted, nothing else
"$prog" predict --weights "$W" "$T/img" >"$T/dir" 2>&1 || { fail "predict a directory"; cat "$T/dir"; }
[ "$(grep -c ': class ' "$T/dir")" = 20 ] || { fail "the directory gave $(grep -c ': class ' "$T/dir") lines, want 20"; cat "$T/dir"; }
sed 's/:.*//' "$T/dir" >"$T/order"
sort "$T/order" | cmp -s - "$T/order" || fail "directory inputs are not sorted"
grep -q notes.txt "$T/dir" && fail "the directory listing took notes.txt"
"$prog" predict --weights "$W" "$T/img/" "$IDX:3" >"$T/dir2" 2>&1 && [ "$(wc -l <"$T/dir2")" = 21 ] ||
    { fail "a directory and an IDX entry together"; cat "$T/dir2"; }

# dark on light: --invert gives the original's output
for i in 0 1 2; do
    a=$("$prog" predict --weights "$W" --invert "$T/inv/d0$i.png" 2>&1 | sed 's/^[^:]*: //')
    b=$("$prog" predict --weights "$W" "$IDX:$i" 2>&1 | sed 's/^[^:]*:[^:]*: //')
    [ "$a" = "$b" ] || fail "--invert d0$i.png: '$a', the digit: '$b'"
done

# a wrong size is refused, naming the file; --resize accepts it
expect 1 "$T/big/wide.pgm: the image is 32x32 (H x W), model '.*' takes 28x28 (give --resize" \
    "$prog" predict --weights "$W" "$T/big/wide.pgm"
expect 1 "$T/big/wide.pgm: the image is 32x32" "$prog" predict --weights "$W" "$T/big"
"$prog" predict --weights "$W" --resize "$T/big/wide.pgm" >"$T/rs" 2>&1 && grep -q ': class [0-9]' "$T/rs" ||
    { fail "--resize"; cat "$T/rs"; }
expect 1 "$T/rgb.png: the image has 3 channels, model '.*' takes 1 (convert it to grayscale, or give --resize)" \
    "$prog" predict --weights "$W" "$T/rgb.png"
a=$("$prog" predict --weights "$W" --resize "$T/rgb.png" 2>&1 | sed 's/^[^:]*: //')
b=$("$prog" predict --weights "$W" "$IDX:0" 2>&1 | sed 's/^[^:]*:[^:]*: //')
[ "$a" = "$b" ] || fail "--resize rgb.png (gray in RGB): '$a', the digit: '$b'"
expect 1 "$T/empty: no .png or .pgm files" "$prog" predict --weights "$W" "$T/empty"
expect 1 "$T/nosuch.png: no such file" "$prog" predict --weights "$W" "$T/nosuch.png"

# raw tensors and logits
expect 1 "$T/short.f32: 20 bytes is not a whole number of 1x28x28 float32 inputs" \
    "$prog" predict --weights "$W" --raw "$T/short.f32"
expect 2 "does not apply" "$prog" predict --weights "$W" --raw --invert "$T/d00.f32"
if [ "$prog" = "$T/mnist" ]; then
    "$prog" predict --weights "$W" --raw --logits "$T/d00.f32" >"$T/l1" 2>&1 || { fail "--raw"; cat "$T/l1"; }
    "$prog" predict --weights "$W" --logits "$IDX:0" >"$T/l2" 2>&1 || { fail "--logits"; cat "$T/l2"; }
    paste "$T/l1" "$T/l2" | awk '{ n = (NF - 4) / 2; m = 0
        for (i = 1; i <= n; i++) { d = $(2 + i) - $(4 + n + i); if (d < 0) d = -d; if (d > m) m = d }
        if (n != 10 || m > 1e-4) { print "max difference " m " over " n " logits"; exit 1 } }' ||
        { fail "--raw logits differ from the image's"; cat "$T/l1" "$T/l2"; }
fi
finish
