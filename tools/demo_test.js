// demo_test.js - the browser demo in headless Chromium (make demo-test,
// tests/e2e/demo.sh): serve DEMO_DIR, draw digits on the page with mouse
// events ("1" as a vertical stroke, "0" as an ellipse, "7" as two strokes)
// and paint test digits of an IDX file onto it, read what the page shows,
// and write each 28x28 image the page fed the network as a PGM with the
// page's probabilities beside it, for the native program to check
// (tests/e2e/demo.sh compares: same class, probabilities within 1e-4).
// Saves DEMO_DIR/screenshot.png.
//
//   node tools/demo_test.js DEMO_DIR IDXFILE.gz NDIGITS OUTDIR
// PLAYWRIGHT: the playwright-core module (default out/demo-node/...);
// CHROMIUM: the browser (default /usr/bin/chromium).
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const zlib = require('zlib');

const [dir, idxPath, nArg, outDir] = process.argv.slice(2);
if (!outDir) {
    process.stderr.write('usage: node demo_test.js DEMO_DIR IDXFILE.gz NDIGITS OUTDIR\n');
    process.exit(2);
}
const pw = require(process.env.PLAYWRIGHT ||
                   path.resolve(__dirname, '../out/demo-node/node_modules/playwright-core'));

// a static server for the demo's files, on a free port of 127.0.0.1
const types = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json',
                '.wasm': 'application/wasm' };
const server = http.createServer((req, res) => {
    const f = path.join(dir, path.normalize(decodeURIComponent(req.url.split('?')[0])).replace(/^\/+/, '') || 'index.html');
    fs.readFile(f, (err, data) => {
        if (err) {
            res.writeHead(404);
            res.end();
            return;
        }
        res.writeHead(200, { 'Content-Type': types[path.extname(f)] || 'application/octet-stream' });
        res.end(data);
    });
});

async function main() {
    await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
    const url = `http://127.0.0.1:${server.address().port}/`;
    const browser = await pw.chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu'],
    });
    const page = await browser.newPage({ viewport: { width: 760, height: 570 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => window.rnetDemo && window.rnetDemo.ready, null, { timeout: 30000 });
    const box = await page.locator('#pad').boundingBox();

    // a stroke through points of the 280x280 pad, with the mouse
    async function draw(strokes) {
        await page.evaluate(() => window.rnetDemo.clear());
        for (const pts of strokes) {
            await page.mouse.move(box.x + pts[0][0], box.y + pts[0][1]);
            await page.mouse.down();
            for (const [x, y] of pts.slice(1))
                await page.mouse.move(box.x + x, box.y + y, { steps: 2 });
            await page.mouse.up();
        }
        // the page recognises once a frame: wait for the last one
        const runs = await page.evaluate(() => window.rnetDemo.runs);
        await page.waitForFunction((r) => window.rnetDemo.runs > r || window.rnetDemo.probs, runs);
        await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
    }
    const line = (x0, y0, x1, y1, n = 12) =>
        Array.from({ length: n + 1 }, (_, i) => [x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n]);
    const ellipse = (cx, cy, rx, ry, n = 40) =>
        Array.from({ length: n + 1 }, (_, i) => [cx + rx * Math.sin(2 * Math.PI * i / n),
                                                 cy - ry * Math.cos(2 * Math.PI * i / n)]);
    const cases = [];
    async function record(name, label) {
        const s = await page.evaluate(() => ({ pixels: window.rnetDemo.pixels, probs: window.rnetDemo.probs,
                                              best: window.rnetDemo.best, micros: window.rnetDemo.micros }));
        const shown = (await page.locator('#answer').textContent()).trim();
        if (!s.pixels)
            throw new Error(`${name}: the page recognised nothing`);
        if (shown !== String(s.best))
            throw new Error(`${name}: the page shows '${shown}', its probabilities say ${s.best}`);
        const pgm = path.join(outDir, `${name}.pgm`);
        fs.writeFileSync(pgm, Buffer.concat([Buffer.from('P5\n28 28\n255\n'), Buffer.from(s.pixels)]));
        fs.writeFileSync(path.join(outDir, `${name}.probs`), s.probs.map((p) => p.toPrecision(12)).join(' ') + '\n');
        cases.push(name);
        console.log(`${name}: the page answers ${shown}${label === undefined ? '' : ` (label ${label})`}, ` +
                    `p = ${(100 * s.probs[s.best]).toFixed(2)}%, ${s.micros.toFixed(0)} us per image`);
    }

    await draw([line(140, 45, 140, 235)]);
    await record('drawn-1', 1);
    await draw([ellipse(140, 140, 62, 92)]);
    await record('drawn-0', 0);
    await draw([line(75, 60, 205, 60), line(205, 60, 120, 235)]);
    await record('drawn-7', 7);

    // test digits, painted 10x onto the pad
    const idx = zlib.gunzipSync(fs.readFileSync(idxPath));
    const labels = zlib.gunzipSync(fs.readFileSync(idxPath.replace('images-idx3', 'labels-idx1')));
    for (let i = 0; i < Number(nArg); i++) {
        const px = Array.from(idx.subarray(16 + 784 * i, 16 + 784 * (i + 1)));
        await page.evaluate((p) => window.rnetDemo.paint(p), px);
        await record(`test-${i}`, labels[8 + i]);
    }
    await draw([ellipse(140, 140, 62, 92)]);
    await page.screenshot({ path: path.join(dir, 'screenshot.png') });
    if (errors.length)
        throw new Error(`the page threw: ${errors.join('; ')}`);
    await browser.close();
    server.close();
    fs.writeFileSync(path.join(outDir, 'cases'), cases.join('\n') + '\n');
}

main().catch((e) => {
    process.stderr.write(`demo_test: error: ${e.message || e}\n`);
    process.exit(1);
});
