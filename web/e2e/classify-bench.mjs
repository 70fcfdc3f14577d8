// Times "Classify your images" with any CLIP folder (e.g. a ViT-B/16) in Debian's chromium.
// usage: node web/e2e/classify-bench.mjs <base-url> <run-url-path> <heads.safetensors> <clip-dir>
//        <image-dir> [webgpu|cpu]
// <run-url-path> is the report's path under <base-url> (e.g. vitb/report.json). Prints the page's
// note (images, seconds, ms per image, model build time, wasm memory) and the wall time.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [base, runPath, heads, clipDir, imageDir, mode = 'cpu'] = process.argv.slice(2);
const args = ['--headless', '--no-sandbox', '--disable-gpu'];
if (mode === 'webgpu') args.push('--enable-unsafe-webgpu');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssr2-bench-'));
const ctx = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true, args });
const page = ctx.pages()[0] || (await ctx.newPage());
page.on('pageerror', (e) => console.log('pageerror', e.message));
const query = mode === 'cpu' ? '&backend=cpu' : '';
await page.goto(`${base}/?run=${runPath}${query}`, { waitUntil: 'load' });
await page.waitForSelector('#clip-files', { state: 'attached', timeout: 60000 });
let t = Date.now();
await page.setInputFiles('#clip-files', ['config.json', 'model.safetensors'].map((f) => path.join(clipDir, f)));
await page.waitForFunction(() => (document.querySelector('#clip-name')?.textContent || '').includes('MB'), null, { timeout: 600000 });
console.log(`CLIP files read: ${(Date.now() - t) / 1000} s (${await page.textContent('#clip-name')})`);
await page.setInputFiles('#heads-file', heads);
const images = fs.readdirSync(imageDir).sort().map((f) => path.join(imageDir, f));
t = Date.now();
await page.setInputFiles('#image-files', images);
await page.waitForFunction((n) => document.querySelector('#gallery')?.dataset.done === 'true'
  && document.querySelectorAll('#gallery .gallery-item').length === n
  || !!document.querySelector('#error'), images.length, { timeout: 1800000, polling: 500 });
const error = await page.$('#error');
console.log(error ? `error: ${await error.textContent()}` : `${mode}: ${await page.textContent('#classify-device')}`);
console.log(`wall: ${(Date.now() - t) / 1000} s for ${images.length} images`);
await ctx.close();
fs.rmSync(dir, { recursive: true, force: true });
