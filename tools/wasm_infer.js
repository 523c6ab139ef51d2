// wasm_infer.js - run an rnet inference-only wasm32 module in node, on the
// first N images of an uncompressed IDX file (run by tools/cross.sh small).
//
// The module comes from `rnetc M.rnet --backend llvm --inference-only
// --weights W --target wasm32-unknown-unknown --emit obj` linked by wasm-ld
// (--no-entry --export-dynamic): it exports rnm_<name>_infer(x, logits,
// work), its memory and __heap_base, and imports nothing (no libc, no
// heap).  This script places x, logits and the work buffer above
// __heap_base, growing the memory as needed, normalises each digit exactly
// as the runtime does (rn_data_fill_image: ((v / 255) - mean) / std in
// float32), and prints one line per image in the format of `predict
// --logits`, so the output compares line by line with the host's.  It is
// also the smallest example of what a browser page would do.
//
//   node tools/wasm_infer.js MODULE.wasm NAME IDXFILE N MEAN STD WORK_FLOATS
'use strict';
const fs = require('fs');

function fail(msg) {
    process.stderr.write(`wasm_infer: error: ${msg}\n`);
    process.exit(1);
}

const [wasmPath, name, idxPath, nArg, meanArg, stdArg, workArg] = process.argv.slice(2);
if (!workArg)
    fail('usage: node wasm_infer.js MODULE.wasm NAME IDXFILE N MEAN STD WORK_FLOATS');

const mod = new WebAssembly.Module(fs.readFileSync(wasmPath));
const imports = WebAssembly.Module.imports(mod);
if (imports.length)
    fail(`${wasmPath} imports ${imports.map((i) => i.module + '.' + i.name).join(', ')}; ` +
         'an inference-only module should import nothing');
const inst = new WebAssembly.Instance(mod, {});
const ex = inst.exports;
const infer = ex[`rnm_${name}_infer`];
if (typeof infer !== 'function')
    fail(`${wasmPath} exports no rnm_${name}_infer`);
if (!ex.memory || !ex.__heap_base)
    fail(`${wasmPath} exports no memory or __heap_base (link with wasm-ld --export-dynamic)`);

const idx = fs.readFileSync(idxPath);
if (idx.readUInt32BE(0) !== 0x803)
    fail(`${idxPath}: not an uncompressed IDX image file (magic 0x00000803)`);
const count = idx.readUInt32BE(4), h = idx.readUInt32BE(8), w = idx.readUInt32BE(12);
const n = Math.min(Number(nArg), count), hw = h * w;
const classes = 10;

// x, logits, work: float32 arrays above __heap_base, 16-byte aligned
const align = (v) => (v + 15) & ~15;
const xOff = align(ex.__heap_base.value);
const logitsOff = align(xOff + 4 * hw);
const workOff = align(logitsOff + 4 * classes);
const end = workOff + 4 * Number(workArg);
const have = ex.memory.buffer.byteLength;
if (end > have)
    ex.memory.grow(Math.ceil((end - have) / 65536));
const x = new Float32Array(ex.memory.buffer, xOff, hw);
const logits = new Float32Array(ex.memory.buffer, logitsOff, classes);

const f = Math.fround, mean = f(Number(meanArg)), std = f(Number(stdArg));
const lut = new Float32Array(256);
for (let v = 0; v < 256; v++)
    lut[v] = f(f(f(v / 255) - mean) / std);

const t0 = process.hrtime.bigint();
const out = [];
for (let i = 0; i < n; i++) {
    const px = idx.subarray(16 + i * hw, 16 + (i + 1) * hw);
    for (let j = 0; j < hw; j++)
        x[j] = lut[px[j]];
    infer(xOff, logitsOff, workOff);
    out.push(`${idxPath}:${i}: logits ` + Array.from(logits, (v) => v.toPrecision(9)).join(' '));
}
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
process.stdout.write(out.join('\n') + '\n');
process.stderr.write(`wasm_infer: ${n} images in ${ms.toFixed(0)} ms (${(ms / n).toFixed(1)} ms each)\n`);
