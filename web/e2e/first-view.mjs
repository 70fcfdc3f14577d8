// Time to first view of the browser app in Debian's chromium, cold (fresh profile, empty cache):
// from navigation start until the explorer's file input exists (wasm fetched, compiled and
// mounted) and until the header names the device. Prints one JSON line per run.
// usage: node web/e2e/first-view.mjs <url> [runs] [webgpu|cpu]
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [url, runsArg, mode = 'cpu'] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const times = [];
for (let r = 0; r < runs; r++) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssr2-first-view-'));
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-quic',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (mode === 'webgpu') args.push('--enable-unsafe-webgpu');
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true, args });
  const page = ctx.pages()[0] || (await ctx.newPage());
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'commit' });
  await page.waitForSelector('#file-input', { state: 'attached', timeout: 120000 });
  const mounted = Date.now() - t0;
  await page.waitForFunction(() => (document.querySelector('#backend')?.textContent || '').startsWith('device:'),
    null, { timeout: 120000 });
  const device = Date.now() - t0;
  times.push({ mounted_ms: mounted, device_ms: device });
  console.log(JSON.stringify({ url, mode, run: r, mounted_ms: mounted, device_ms: device }));
  await ctx.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
const median = (k) => times.map((t) => t[k]).sort((a, b) => a - b)[Math.floor(times.length / 2)];
console.log(JSON.stringify({ url, mode, median_mounted_ms: median('mounted_ms'), median_device_ms: median('device_ms') }));
