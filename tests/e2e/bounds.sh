#!/bin/sh
# bounds.sh - numbers read from files and flags are checked before anything
# is allocated for them: headers that promise gigabytes (IDX, gzipped IDX,
# safetensors, PNG, PGM), a batch larger than the machine, a layer of 10^9
# channels.  Each gets its named error, under a 2 GiB address-space limit,
# so an attempt to allocate what a header says would show as "out of
# memory" (or a crash) in place of the expected message.  (Under
# AddressSanitizer, whose shadow memory needs more address space than any
# such limit, the messages are still checked, without the limit.)
. "$(dirname "$0")/lib.inc"
tools/fetch_data.sh mnist >/dev/null || { fail "fetch mnist"; finish; }
alpha_model "$T/a.rnet"
$RNETC "$T/a.rnet" -o "$T/a" || { fail "build alpha"; finish; }
"$T/a" train --data data/mnist --epochs 1 --limit 64 --save "$T/w.safetensors" >/dev/null 2>&1 ||
    fail "short training run"

python3 - "$T" <<'EOF' || fail "writing the hostile files"
import gzip, json, os, struct, sys, zlib
T = sys.argv[1]
def idx_dir(name, n, gz=False, body=1000):
    d = os.path.join(T, name); os.makedirs(d)
    im = struct.pack('>BBBBIII', 0, 0, 8, 3, n, 28, 28) + bytes(body)
    lb = struct.pack('>BBBBI', 0, 0, 8, 1, n) + bytes(body)
    for split in ('train', 't10k'):
        for kind, data in (('images-idx3', im), ('labels-idx1', lb)):
            p = os.path.join(d, '%s-%s-ubyte' % (split, kind))
            if gz:
                open(p + '.gz', 'wb').write(gzip.compress(data))
            else:
                open(p, 'wb').write(data)
# 2^31 images: over the loader's 16 GiB limit, refused from the header
idx_dir('idx31', 2**31)
# 2^24 images (13 GB, under the limit): read as the data comes, so the
# short file is "truncated", never a 13 GB allocation
idx_dir('idx24', 2**24)
idx_dir('idx24gz', 2**24, gz=True)
# safetensors: a header length of 2^40; a tensor of 2^62 bytes
open(os.path.join(T, 'hdr.safetensors'), 'wb').write(struct.pack('<Q', 2**40) + b'{}')
h = json.dumps({"x": {"dtype": "F32", "shape": [2**31, 2**31],
                      "data_offsets": [0, 2**62]}}).encode()
open(os.path.join(T, 'shape.safetensors'), 'wb').write(struct.pack('<Q', len(h)) + h + bytes(16))
# images: 100000 x 100000 PGM, (2^31-1)^2 PNG
open(os.path.join(T, 'big.pgm'), 'wb').write(b'P5\n100000 100000\n255\n' + bytes(100))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 2**31 - 1, 2**31 - 1, 8, 0, 0, 0, 0))
       + chunk(b'IDAT', zlib.compress(bytes(100))) + chunk(b'IEND', b''))
open(os.path.join(T, 'big.png'), 'wb').write(png)
EOF

# limited: run "$@" under the 2 GiB limit (not under AddressSanitizer)
limited() {
    if [ -n "${RNET_ASAN:-}" ]; then "$@"; else (ulimit -v 2097152 && exec "$@"); fi
}
a() { limited "$T/a" "$@"; }
expect 1 "idx31/train-images-idx3-ubyte: header says 2147483648x28x28, more than the 16 GiB" \
    a train --data "$T/idx31" --epochs 1
expect 1 "idx24/train-images-idx3-ubyte.*truncated" a train --data "$T/idx24" --epochs 1
expect 1 "idx24gz/train-images-idx3-ubyte.gz.*truncated" a train --data "$T/idx24gz" --epochs 1
expect 1 "idx24/t10k-images-idx3-ubyte.*truncated" a eval --data "$T/idx24" --weights "$T/w.safetensors"
expect 1 "hdr.safetensors: header length 1099511627776 is larger than the rest of the file" \
    a eval --data data/mnist --weights "$T/hdr.safetensors"
expect 1 "shape.safetensors: tensor 'x': data_offsets \[0,4611686018427387904\] run past the end" \
    a predict --weights "$T/shape.safetensors" "$T/big.pgm"
expect 1 "big.pgm: image of 100000 x 100000 pixels exceeds the 67108864-pixel limit" \
    a predict --weights "$T/w.safetensors" "$T/big.pgm"
expect 1 "big.png: image of 2147483647 x 2147483647 pixels exceeds the 67108864-pixel limit" \
    a predict --weights "$T/w.safetensors" "$T/big.png"
big="\-\-batch 2000000000 of model 'alpha' needs .* GiB of buffers, more than this machine's"
expect 1 "$big" a train --data data/mnist --batch 2000000000 --epochs 1
expect 1 "$big" a eval --data data/mnist --weights "$T/w.safetensors" --batch 2000000000
expect 1 "$big" a check --batch 2000000000
expect 2 "has 8004 images, fewer than one batch of 2000000000" a bench --data data/mnist --batch 2000000000
expect 2 "'3000000000' is not an integer" a train --data data/mnist --batch 3000000000

# the compiler: sizes in a .rnet file are refused by the checker, with the line
r() { limited $RNETC "$@"; }
sed 's/conv 3x3 4 stride 2/conv 3x3 1000000000 stride 2/' "$T/a.rnet" >"$T/wide.rnet"
expect 1 "wide.rnet:4:.*1000000000" r "$T/wide.rnet" -o "$T/x"
sed 's/1x28x28/1x100000x100000/' "$T/a.rnet" >"$T/tall.rnet"
expect 1 "tall.rnet:2:.*too large" r "$T/tall.rnet" -o "$T/x"
sed 's/stage 1 x basic 4/stage 1000000000 x basic 4/' "$T/a.rnet" >"$T/deep.rnet"
expect 1 "deep.rnet:5:" r "$T/deep.rnet" -o "$T/x"
[ -e "$T/x" ] && fail "a refused model left an output"
finish
