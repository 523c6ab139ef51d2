// demo.js - draw a digit, see what models/mnist.rnet says (make demo).
//
// mnist.wasm is `rnetc models/mnist.rnet --backend llvm --inference-only
// --weights W --target wasm32-unknown-unknown --features +simd128 --emit obj`
// linked by wasm-ld: it exports rnm_mnist_infer(x, logits, work) and its
// memory, and imports nothing.  model.json holds what --emit h says: the
// work size and the input's normalisation.
//
// The drawing is prepared as MNIST's digits were: the ink's bounding box
// scaled to fit 20x20 (keeping its aspect), placed in a 28x28 field with its
// centre of mass at the centre, as 8-bit gray.  window.rnetDemo exposes the
// last 28x28 image and probabilities (for tools/demo_test.js).
'use strict';
const pad = document.getElementById('pad');
const ctx = pad.getContext('2d');
const small = document.getElementById('small');
const sctx = small.getContext('2d');
const status = document.getElementById('status');
const answer = document.getElementById('answer');
const bars = document.getElementById('bars');
const state = { ready: false, runs: 0, pixels: null, probs: null, best: -1, micros: 0 };
window.rnetDemo = state;

for (let k = 0; k < 10; k++)
    bars.insertAdjacentHTML('beforeend', `<div class="bar" id="bar${k}"><b>${k}</b>` +
        '<span class="track"><span class="fill"></span></span><i></i></div>');

function clear() {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    sctx.fillStyle = '#000';
    sctx.fillRect(0, 0, 28, 28);
    answer.textContent = '';
    for (let k = 0; k < 10; k++) {
        const b = document.getElementById(`bar${k}`);
        b.classList.remove('best');
        b.querySelector('.fill').style.width = '0';
        b.querySelector('i').textContent = '';
    }
    state.pixels = state.probs = null;
    state.best = -1;
}

// ---- drawing: thick white strokes, mouse, pen or finger -------------------
let last = null;
function at(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}
pad.addEventListener('pointerdown', (e) => {
    pad.setPointerCapture(e.pointerId);
    last = at(e);
    stroke(last, last);
});
pad.addEventListener('pointermove', (e) => {
    if (!last)
        return;
    const p = at(e);
    stroke(last, p);
    last = p;
});
const end = () => { last = null; };
pad.addEventListener('pointerup', end);
pad.addEventListener('pointercancel', end);
function stroke(a, b) {
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 20;
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
    schedule();
}
document.getElementById('clear').addEventListener('click', clear);

// ---- 280x280 drawing -> 28x28 MNIST-style digit ---------------------------
function prepare() {
    const W = pad.width, H = pad.height;
    const src = ctx.getImageData(0, 0, W, H).data;
    let x0 = W, y0 = H, x1 = -1, y1 = -1;
    for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
            if (src[4 * (y * W + x)] > 0) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    if (x1 < 0)
        return null;
    // the bounding box into 20x20, aspect kept (the canvas smooths it)
    const bw = x1 - x0 + 1, bh = y1 - y0 + 1, s = 20 / Math.max(bw, bh);
    const tw = Math.max(1, Math.round(bw * s)), th = Math.max(1, Math.round(bh * s));
    const box = document.createElement('canvas');
    box.width = tw;
    box.height = th;
    const bctx = box.getContext('2d');
    bctx.imageSmoothingEnabled = true;
    bctx.imageSmoothingQuality = 'high';
    bctx.drawImage(pad, x0, y0, bw, bh, 0, 0, tw, th);
    const b = bctx.getImageData(0, 0, tw, th).data;
    // centre of mass of the box's gray levels -> the field's centre (14, 14)
    let m = 0, mx = 0, my = 0;
    for (let y = 0; y < th; y++)
        for (let x = 0; x < tw; x++) {
            const v = b[4 * (y * tw + x)];
            m += v;
            mx += v * (x + 0.5);
            my += v * (y + 0.5);
        }
    const ox = Math.round(14 - mx / m), oy = Math.round(14 - my / m);
    const px = new Uint8Array(28 * 28);
    for (let y = 0; y < th; y++)
        for (let x = 0; x < tw; x++) {
            const X = x + ox, Y = y + oy;
            if (X >= 0 && X < 28 && Y >= 0 && Y < 28)
                px[Y * 28 + X] = b[4 * (y * tw + x)];
        }
    return px;
}

// ---- the network ----------------------------------------------------------
let net = null;
async function load() {
    const [bin, meta] = await Promise.all([
        fetch('mnist.wasm').then((r) => r.arrayBuffer()),
        fetch('model.json').then((r) => r.json()),
    ]);
    const { instance } = await WebAssembly.instantiate(bin, {});
    const ex = instance.exports;
    const align = (v) => (v + 15) & ~15;
    const xOff = align(ex.__heap_base.value);
    const lOff = align(xOff + 4 * 28 * 28);
    const wOff = align(lOff + 4 * meta.classes);
    const need = wOff + 4 * meta.work_floats - ex.memory.buffer.byteLength;
    if (need > 0)
        ex.memory.grow(Math.ceil(need / 65536));
    // normalisation in float32, as the runtime does: ((v / 255) - mean) / std
    const f = Math.fround, lut = new Float32Array(256);
    for (let v = 0; v < 256; v++)
        lut[v] = f(f(f(v / 255) - f(meta.mean)) / f(meta.std));
    net = {
        infer: ex[`rnm_${meta.name}_infer`],
        x: new Float32Array(ex.memory.buffer, xOff, 28 * 28),
        logits: new Float32Array(ex.memory.buffer, lOff, meta.classes),
        xOff, lOff, wOff, lut,
    };
    state.ready = true;
    status.textContent = `${meta.name}: ${(bin.byteLength / 1024).toFixed(0)} KiB of wasm, ` +
        'weights included; draw in the black square.';
}

function recognise() {
    const px = prepare();
    if (!px) {
        clear();
        return;
    }
    const img = sctx.createImageData(28, 28);
    for (let i = 0; i < 28 * 28; i++) {
        img.data.fill(px[i], 4 * i, 4 * i + 3);
        img.data[4 * i + 3] = 255;
    }
    sctx.putImageData(img, 0, 0);
    for (let i = 0; i < 28 * 28; i++)
        net.x[i] = net.lut[px[i]];
    // time several runs: the clock's resolution is coarser than one
    const reps = 20, t0 = performance.now();
    for (let r = 0; r < reps; r++)
        net.infer(net.xOff, net.lOff, net.wOff);
    const micros = (performance.now() - t0) * 1000 / reps;
    // softmax in double, as predict does
    const z = Array.from(net.logits);
    const top = Math.max(...z);
    const e = z.map((v) => Math.exp(v - top));
    const sum = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / sum);
    const best = p.indexOf(Math.max(...p));
    answer.textContent = `${best}`;
    for (let k = 0; k < 10; k++) {
        const b = document.getElementById(`bar${k}`);
        b.classList.toggle('best', k === best);
        b.querySelector('.fill').style.width = `${(100 * p[k]).toFixed(1)}%`;
        b.querySelector('i').textContent = `${(100 * p[k]).toFixed(2)}%`;
    }
    status.textContent = `${micros.toFixed(0)} \u00b5s per image (mean of ${reps})`;
    Object.assign(state, { pixels: Array.from(px), probs: p, best, micros, runs: state.runs + 1 });
}

// recognise at most once a frame while drawing
let pending = false;
function schedule() {
    if (pending || !net)
        return;
    pending = true;
    requestAnimationFrame(() => {
        pending = false;
        recognise();
    });
}

// for tools/demo_test.js: an MNIST digit (784 gray values) drawn 10x onto the pad
state.paint = (pixels) => {
    clear();
    const img = ctx.createImageData(280, 280);
    for (let y = 0; y < 280; y++)
        for (let x = 0; x < 280; x++) {
            const v = pixels[Math.floor(y / 10) * 28 + Math.floor(x / 10)], i = 4 * (y * 280 + x);
            img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
            img.data[i + 3] = 255;
        }
    ctx.putImageData(img, 0, 0);
    recognise();
};
state.clear = clear;

clear();
load().catch((err) => { status.textContent = `could not load the network: ${err}`; });
