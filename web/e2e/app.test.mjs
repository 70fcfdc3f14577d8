// End-to-end test of the browser app in Debian's chromium (never a downloaded browser).
// usage: node web/e2e/app.test.mjs <base-url> <report.json> <out-dir> [webgpu|cpu ...]
// <base-url> serves dist/ with the report at run/report.json. Writes screenshots and
// results.json to <out-dir>; exits 1 on any failed check.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [base, reportPath, outDir, ...modesArg] = process.argv.slice(2);
const modes = modesArg.length ? modesArg : ['webgpu', 'cpu'];
const report = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
fs.mkdirSync(outDir, { recursive: true });
const failures = [];
const results = {};
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
// The page prints fractions as percentages with one decimal ("–" for none).
const pct = (v) => (v === null || v === undefined ? '–' : (100 * v).toFixed(1));

async function launch(mode) {
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (mode === 'webgpu') args.push('--enable-unsafe-webgpu');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssr2-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium', headless: true, args,
    viewport: { width: 1400, height: 1000 },
  });
  return { ctx, dir };
}

async function runMode(mode) {
  const r = (results[mode] = {});
  const { ctx, dir } = await launch(mode);
  const page = ctx.pages()[0] || (await ctx.newPage());
  // Actions wait for the page longer than Playwright's 30 s: WebGPU runs on SwiftShader here, and
  // in CI beside the lavapipe tests the page's thread can be busy that long between steps.
  page.setDefaultTimeout(120000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  try {
    // Explorer: the report of this CI run, by URL.
    await page.goto(`${base}/?run=run/report.json`, { waitUntil: 'load' });
    await page.waitForSelector('#score-all', { timeout: 60000 });
    const backend = await page.textContent('#backend');
    r.backend = backend;
    // The WebGPU launch must get the WebGPU device (the CPU fallback's header also says "WebGPU").
    check(mode === 'webgpu' ? backend.trim() === 'device: WebGPU' : backend.includes('CPU (flex)'), `[${mode}] backend shown: ${backend}`);
    for (const part of ['all', 'old', 'new']) {
      const shown = (await page.textContent(`#score-${part}`)).trim();
      const want = pct(report.final_scores[part]);
      // Rust rounds exact halves to even, JS away from zero: compare the numbers to 0.05.
      const v = report.final_scores[part];
      const same = v === null ? shown === '–' : Math.abs(Number(shown) - 100 * v) <= 0.05 + 1e-9;
      check(same, `[${mode}] ${part} on the page ${shown} = report.json ${want}`);
    }
    // Both kinds of score, labelled, and the K-estimation curve with its choice.
    const split = (await page.textContent('#score-split')).trim();
    check(split === `transductive (unlabelled train), ${report.final_scores.n} samples`, `[${mode}] transductive label: ${split}`);
    if (report.test_scores) {
      const label = (await page.textContent('#test-score-split')).trim();
      check(label === `inductive (test), ${report.test_scores.n} samples`, `[${mode}] inductive label: ${label}`);
      for (const part of ['all', 'old', 'new']) {
        const shown = (await page.textContent(`#test-score-${part}`)).trim();
        const v = report.test_scores[part];
        const same = v === null ? shown === '–' : Math.abs(Number(shown) - 100 * v) <= 0.05 + 1e-9;
        check(same, `[${mode}] inductive ${part} on the page ${shown} = report.json ${pct(v)}`);
      }
    } else {
      check((await page.$('#test-score-all')) === null, `[${mode}] no inductive rows without test_scores`);
    }
    if (report.k_estimate) {
      const best = (await page.textContent('#k-best')).trim();
      check(best === String(report.k_estimate.best), `[${mode}] chosen K on the page ${best} = report.json ${report.k_estimate.best}`);
      const bars = await page.$$eval('#k-curve rect', (r) => r.length);
      check(bars === report.k_estimate.points.length, `[${mode}] one bar per K tried: ${bars}`);
    } else {
      check((await page.$('#k-best')) === null, `[${mode}] no K curve without k_estimate`);
    }
    await page.waitForFunction(() => {
      const t = document.querySelector('#inference')?.textContent || '';
      return t && !t.startsWith('computing');
    }, null, { timeout: 180000 });
    const inference = await page.textContent('#inference');
    r.inference = inference;
    const n = report.final_scores.n;
    check(inference.startsWith(`agrees: ${n}/${n} predictions, All/Old/New equal`), `[${mode}] in-page inference: ${inference}`);
    const ranOn = mode === 'webgpu' ? 'recomputed on WebGPU' : 'recomputed on CPU (flex)';
    check(inference.trim().endsWith(ranOn), `[${mode}] inference ran where expected: ${ranOn}`);
    // The scatter draws every projected point; every line chart draws its lines.
    const points = await page.$$eval('#scatter circle', (c) => c.length);
    check(points === report.projection.x.length, `[${mode}] scatter draws ${points} of ${report.projection.x.length} points`);
    // (Per-epoch charts: their x axis reads "epoch 0 … N-1".)
    const lineCharts = await page.$$eval('div.chart', (charts) => charts
      .filter((c) => [...c.querySelectorAll('text.tick')].some((t) => t.textContent.includes('epoch')))
      .map((c) => {
        const ps = [...c.querySelectorAll('polyline')];
        const counts = ps.map((p) => (p.getAttribute('points') || '').trim().split(/\s+/).filter(Boolean).length);
        return counts.length ? Math.min(...counts) : 0;
      }));
    check(lineCharts.length >= 2 && lineCharts.every((v) => v === report.history.length),
      `[${mode}] line charts draw one vertex per epoch: ${JSON.stringify(lineCharts)}`);
    // Thumbnails: one decoded image per stored sample, at the stored size.
    if (report.thumbnails) {
      const sizes = await page.$$eval('#thumbnails img.thumb', (imgs) => imgs.map((i) => [i.complete, i.naturalWidth]));
      const side = report.thumbnails.side;
      check(sizes.length === report.thumbnails.samples.length && sizes.every(([ok, w]) => ok && w === side),
        `[${mode}] ${sizes.length} thumbnails of ${report.thumbnails.samples.length}, decoded at ${side} px`);
    }
    await page.hover('#scatter', { position: { x: 200, y: 180 } });
    await page.screenshot({ path: path.join(outDir, `explorer-${mode}.png`), fullPage: true });

    // A corrupt file and a wrong version: clear messages, the report stays on screen.
    await page.setInputFiles('#file-input', { name: 'corrupt.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "ssr2-report", "version": 1, "seed": ') });
    await page.waitForSelector('#error', { timeout: 10000 });
    const corrupt = await page.textContent('#error');
    check(corrupt.startsWith('corrupt.json: not a JSON file'), `[${mode}] corrupt file message: ${corrupt}`);
    const v2 = JSON.stringify({ ...report, version: 2 });
    await page.setInputFiles('#file-input', { name: 'future.json', mimeType: 'application/json', buffer: Buffer.from(v2) });
    await page.waitForFunction(() => (document.querySelector('#error')?.textContent || '').startsWith('future.json'), null, { timeout: 10000 });
    const wrong = await page.textContent('#error');
    check(wrong.includes('report version 2 is not supported'), `[${mode}] wrong version message: ${wrong}`);
    check(Math.abs(Number((await page.textContent('#score-all')).trim()) - 100 * report.final_scores.all) <= 0.05 + 1e-9, `[${mode}] the report stays on screen after bad files`);
    await page.screenshot({ path: path.join(outDir, `explorer-error-${mode}.png`) });

    if (fs.existsSync(imgDir)) await classifyImages(page, mode, r);

    // Playground: train, delta R must rise over the first 50 steps.
    await page.click('#tab-playground');
    await page.waitForSelector('#delta-start-a', { timeout: 60000 });
    // Count GPU compute dispatches (wgpu's WebGPU backend calls the prototype method each time).
    await page.evaluate(() => {
      window.__dispatches = 0;
      if (typeof GPUComputePassEncoder === 'undefined') return;
      const proto = GPUComputePassEncoder.prototype;
      const orig = proto.dispatchWorkgroups;
      proto.dispatchWorkgroups = function (...a) { window.__dispatches++; return orig.apply(this, a); };
    });
    await page.click('#play');
    const t0 = Date.now();
    await page.waitForFunction(() => Number(document.querySelector('#step')?.textContent || 0) >= 50,
      null, { timeout: mode === 'webgpu' ? 400000 : 120000, polling: 250 });
    const start = Number(await page.textContent('#delta-start-a'));
    const now = Number(await page.textContent('#delta-a'));
    r.delta_start = start;
    r.delta_after_50 = now;
    r.seconds_to_50_steps = (Date.now() - t0) / 1000;
    check(now > start, `[${mode}] delta R rises over 50 steps: ${start} -> ${now}`);
    // Let the rate settle a little, then read it (steps of both runs per second).
    await page.waitForTimeout(mode === 'cpu' ? 3000 : 1000);
    r.steps_per_s = Number(await page.textContent('#steps-per-s'));
    r.step = Number(await page.textContent('#step'));
    // Dispatches per training step (both side-by-side runs); 0 on the CPU device.
    await page.click('#play');
    const [d, s] = await page.evaluate(() => [window.__dispatches, Number(document.querySelector('#step').textContent)]);
    r.dispatches_per_step = s > 0 ? Math.round(d / s) : null;
    console.log(`[${mode}] steps/s ${r.steps_per_s} (step ${r.step}), GPU dispatches per step ${r.dispatches_per_step}`);
    if (mode === 'cpu') check(d === 0, `[${mode}] no GPU dispatches on the CPU device: ${d}`);
    else check(r.dispatches_per_step > 0, `[${mode}] the playground dispatches GPU work: ${r.dispatches_per_step} per step`);
    await page.screenshot({ path: path.join(outDir, `playground-${mode}.png`), fullPage: true });

    await lesson(page, mode, r);
    check(errors.length === 0, `[${mode}] no page errors${errors.length ? ': ' + errors.slice(0, 3).join(' | ') : ''}`);
  } catch (e) {
    check(false, `[${mode}] ${e.message.split('\n')[0]}`);
    try { await page.screenshot({ path: path.join(outDir, `failure-${mode}.png`), fullPage: true }); } catch {}
    for (const m of errors.slice(0, 10)) console.log('  page:', m);
  } finally {
    await ctx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Lesson mode: every step renders its title and words; the values are finite and follow the
// knobs as the lesson says; a drag moves a class and R, R_c, ΔR change while the mouse is down.
const LESSON_STEPS = 5;
// Image -> category (site/imgrun, made by scripts/test-web.sh): the tiny CLIP's files, the image
// run's heads and 30 digit PNGs; the page must give every file `ssr2 predict`'s cluster and class,
// and its confidence within 1e-3. Bad inputs first: clear messages in #error.
const imgDir = path.join(path.dirname(path.dirname(reportPath)), 'imgrun');
async function classifyImages(page, mode, r) {
  const expected = JSON.parse(fs.readFileSync(path.join(imgDir, 'expected.json'), 'utf8'));
  const images = fs.readdirSync(path.join(imgDir, 'images')).sort().map((f) => path.join(imgDir, 'images', f));
  const errorStarts = (prefix) => page.waitForFunction((p) => {
    const t = document.querySelector('#error')?.textContent || '';
    return t !== '' && t.startsWith(p);
  }, prefix, { timeout: 60000 });
  await page.goto(`${base}/?run=imgrun/report.json`, { waitUntil: 'load' });
  await page.waitForSelector('#clip-files', { state: 'attached', timeout: 60000 });
  await page.setInputFiles('#clip-files', [path.join(imgDir, 'report.json')]);
  await errorStarts('CLIP files:');
  check((await page.textContent('#error')).includes('config.json and model.safetensors'), `[${mode}] wrong CLIP files refused: ${await page.textContent('#error')}`);
  await page.setInputFiles('#clip-files', ['config.json', 'model.safetensors'].map((f) => path.join(imgDir, 'clip', f)));
  await page.waitForFunction(() => (document.querySelector('#clip-name')?.textContent || '').includes('MB'), null, { timeout: 60000 });
  // The digits run's heads: another run (other clusters, raw pixels as input).
  const otherHeads = path.join(path.dirname(reportPath), 'heads.safetensors');
  await page.setInputFiles('#heads-file', otherHeads);
  await page.waitForFunction((n) => (document.querySelector('#heads-name')?.textContent || '').includes(`(${n} bytes)`), fs.statSync(otherHeads).size, { timeout: 30000 });
  await page.setInputFiles('#image-files', images.slice(0, 2));
  await errorStarts('');
  const mismatch = await page.textContent('#error');
  check(mismatch.includes('another run') || mismatch.includes('projection_dim'), `[${mode}] heads of another run refused: ${mismatch}`);
  // Heads with the right clusters on other features (64 raw pixels, the CLIP gives 24).
  const pixelHeads = path.join(imgDir, 'pixel-heads.safetensors');
  await page.setInputFiles('#heads-file', pixelHeads);
  await page.waitForFunction((n) => (document.querySelector('#heads-name')?.textContent || '').includes(`(${n} bytes)`), fs.statSync(pixelHeads).size, { timeout: 30000 });
  await page.setInputFiles('#image-files', images.slice(0, 2));
  await errorStarts('config.json: projection_dim');
  check((await page.textContent('#error')).includes('24, the run\'s heads take 64-dimensional'), `[${mode}] CLIP of other features refused: ${await page.textContent('#error')}`);
  const heads = path.join(imgDir, 'heads.safetensors');
  await page.setInputFiles('#heads-file', heads);
  await page.waitForFunction((n) => (document.querySelector('#heads-name')?.textContent || '').includes(`(${n} bytes)`), fs.statSync(heads).size, { timeout: 30000 });
  const t0 = Date.now();
  await page.setInputFiles('#image-files', images);
  await page.waitForFunction((n) => document.querySelector('#gallery')?.dataset.done === 'true'
    && document.querySelectorAll('#gallery .gallery-item').length === n, images.length, { timeout: 300000, polling: 200 });
  r.classifySeconds = (Date.now() - t0) / 1000;
  const shown = await page.$$eval('#gallery .gallery-item', (els) => els.map((e) => ({
    file: e.dataset.file, cluster: Number(e.dataset.cluster), cls: e.dataset.class,
    confidence: Number(e.dataset.confidence), group: e.closest('.gallery-group').dataset.category,
  })));
  const byFile = new Map(shown.map((s) => [s.file, s]));
  let same = 0;
  let worst = 0;
  const wrong = [];
  for (const e of expected) {
    const s = byFile.get(path.basename(e.id));
    const d = s ? Math.abs(s.confidence - e.confidence) : Infinity;
    worst = Math.max(worst, d);
    if (s && s.cluster === e.cluster && s.cls === e.class && s.group === e.class && d <= 1e-3) same += 1;
    else wrong.push(`${e.id}: page ${JSON.stringify(s)} vs ${JSON.stringify(e)}`);
  }
  check(expected.length === images.length && same === expected.length,
    `[${mode}] page = ssr2 predict for ${same}/${expected.length} images (cluster, class, group; confidence within ${worst.toExponential(1)}) ${wrong.slice(0, 3).join('; ')}`);
  const groups = await page.$$eval('#gallery .gallery-group', (g) => g.map((x) => x.dataset.category));
  check(groups.length === new Set(expected.map((e) => e.class)).size, `[${mode}] one gallery group per predicted class: ${groups.join(', ')}`);
  const note = await page.textContent('#classify-device');
  r.classifyNote = note;
  check(note.includes(mode === 'webgpu' ? 'embedded on WebGPU' : 'embedded on CPU (flex)'), `[${mode}] classified where expected: ${note}`);
  check((await page.$('#error')) === null, `[${mode}] no error shown after classifying`);
  const progress = await page.$eval('#classify-progress', (p) => [p.value, p.max]);
  check(progress[0] === images.length && progress[1] === images.length, `[${mode}] progress bar full: ${progress.join(' / ')}`);
  await page.locator('#classify').screenshot({ path: path.join(outDir, `classify-${mode}.png`) });
}

async function lesson(page, mode, r) {
  const text = async (sel) => (await page.textContent(sel)).trim();
  const num = async (sel) => Number(await text(sel));
  const values = async () => ({ r: await num('#lesson-r'), rc: await num('#lesson-rc'), dr: await num('#lesson-dr') });
  const finite = (v) => Object.values(v).every(Number.isFinite);
  // ΔR is shown next to R and R_c, each rounded to 3 decimals.
  const gapOk = (v) => Math.abs(v.dr - (v.r - v.rc)) <= 0.0015 + 1e-9;
  // Leptos updates the page after the event: wait (a little) for a shown value to move.
  const moved = async (sel, before) => {
    try {
      await page.waitForFunction(([s, b]) => (document.querySelector(s)?.textContent || '').trim() !== b,
        [sel, before], { timeout: 5000, polling: 50 });
    } catch { /* unchanged: the check below says so */ }
    return text(sel);
  };
  const setRange = async (sel, value) => {
    const before = await text(sel === '#lesson-eps' ? '#lesson-balls' : '#lesson-r');
    await page.$eval(sel, (e, v) => { e.value = v; e.dispatchEvent(new Event('input', { bubbles: true })); }, String(value));
    return before;
  };
  const display = async () => page.$eval('.playground .columns', (e) => getComputedStyle(e).display);
  const box = async () => page.locator('#lesson-canvas').boundingBox();

  await page.click('#lesson');
  await page.waitForSelector('#lesson-title', { timeout: 10000 });
  check((await display()) === 'none', `[${mode}] lesson hides the playground's columns on its first step`);
  const titles = [];
  for (let i = 0; i < LESSON_STEPS; i++) {
    const step = await text('#lesson-step');
    const title = await text('#lesson-title');
    const words = await text('#lesson-text');
    titles.push(title);
    const sentences = words.split(/[.!?](\s|$)/).filter((t) => t && t.trim().length > 10).length;
    check(step === `${i + 1} / ${LESSON_STEPS}` && title.length > 5 && sentences >= 2,
      `[${mode}] lesson step ${step}: "${title}", ${sentences} sentences`);
    const v = await values();
    check(finite(v) && v.r > 0 && v.rc > 0 && gapOk(v), `[${mode}] lesson step ${i + 1} values finite, ΔR = R − R_c: ${JSON.stringify(v)}`);
    if (i === 0) {
      // Smaller ε: more balls to cover the points, and a larger R.
      const balls = Number(await text('#lesson-balls'));
      const r0 = v.r;
      await setRange('#lesson-eps', 0.1);
      const ballsSmall = Number(await moved('#lesson-balls', String(balls)));
      const r1 = await num('#lesson-r');
      check(balls >= 1 && ballsSmall > balls && r1 > r0, `[${mode}] lesson ε² 0.5 -> 0.1: balls ${balls} -> ${ballsSmall}, R ${r0} -> ${r1}`);
      await setRange('#lesson-eps', 0.5);
      await moved('#lesson-r', String(r1.toFixed(3)));
      check(Math.abs((await num('#lesson-r')) - r0) <= 0.0005 + 1e-9, `[${mode}] lesson ε² back to 0.5 gives R back`);
    }
    if (i === 2) {
      // Move a class: R, R_c and ΔR change while the button is still down.
      const b = await box();
      const before = await values();
      await page.mouse.move(b.x + b.width * 0.5 + 40, b.y + b.height * 0.5 - 50);
      await page.mouse.down();
      await page.mouse.move(b.x + b.width * 0.5 + 90, b.y + b.height * 0.5 - 10, { steps: 8 });
      await moved('#lesson-r', before.r.toFixed(3));
      const during = await values();
      await page.mouse.move(b.x + b.width * 0.5 + 130, b.y + b.height * 0.5 + 30, { steps: 8 });
      await page.mouse.up();
      await moved('#lesson-r', during.r.toFixed(3));
      const after = await values();
      r.lesson_drag = { before, during, after };
      check(finite(during) && during.r !== before.r && during.rc !== before.rc && during.dr !== before.dr,
        `[${mode}] lesson drag (button down) changes R, R_c, ΔR: ${JSON.stringify(before)} -> ${JSON.stringify(during)}`);
      check(finite(after) && after.r !== during.r && gapOk(during) && gapOk(after),
        `[${mode}] lesson drag keeps ΔR = R − R_c: ${JSON.stringify(after)}`);
      // Turn a class: its own rate cannot change, so R_c stays and R moves.
      await page.selectOption('#lesson-drag', 'turn');
      await page.mouse.move(b.x + b.width * 0.5 - 60, b.y + b.height * 0.5 + 40);
      await page.mouse.down();
      await page.mouse.move(b.x + b.width * 0.5 - 20, b.y + b.height * 0.5 - 30, { steps: 10 });
      await page.mouse.up();
      await moved('#lesson-r', after.r.toFixed(3));
      const turned = await values();
      r.lesson_turn = turned;
      check(turned.r !== after.r && Math.abs(turned.rc - after.rc) <= 0.001 + 1e-9 && gapOk(turned),
        `[${mode}] lesson turn changes R (${after.r} -> ${turned.r}), keeps R_c (${after.rc} -> ${turned.rc})`);
      await page.selectOption('#lesson-drag', 'move');
      await page.screenshot({ path: path.join(outDir, `lesson-${mode}.png`), fullPage: true });
    }
    if (i === 3) {
      // More labels: fewer points with soft memberships; blurrier guesses: larger R_c^u.
      const nu = Number(await text('#lesson-nu'));
      const rcu = await num('#lesson-rcu');
      await setRange('#lesson-frac', 1.0);
      const nuMore = Number(await moved('#lesson-nu', String(nu)));
      const rcuMore = await num('#lesson-rcu');
      check(Number.isFinite(rcu) && nuMore < nu && rcuMore !== rcu, `[${mode}] lesson labelled fraction up: soft points ${nu} -> ${nuMore}, R_c^u ${rcu} -> ${rcuMore}`);
      const cold = rcuMore;
      await setRange('#lesson-temp', 1.0);
      const hot = Number(await moved('#lesson-rcu', cold.toFixed(3)));
      check(hot > cold, `[${mode}] lesson hotter guesses raise R_c^u: ${cold} -> ${hot}`);
      await page.screenshot({ path: path.join(outDir, `lesson-soft-${mode}.png`), fullPage: true });
    }
    if (i === LESSON_STEPS - 1) {
      // Effective ranks of 3-D features lie in [1, 3]; old and new means of the points, run A, run B.
      const ranks = [];
      for (const id of ['data', 'a', 'b']) ranks.push([await num(`#lesson-rank-${id}`), await num(`#lesson-rank-${id}-new`)]);
      r.lesson_ranks = ranks;
      check(ranks.flat().every((x) => Number.isFinite(x) && x >= 1 && x <= 3), `[${mode}] lesson old/new ranks (points, run A, run B): ${JSON.stringify(ranks)}`);
      check((await display()) !== 'none', `[${mode}] lesson's last step shows both runs`);
      check(await page.isDisabled('#lesson-next'), `[${mode}] lesson ends at step ${LESSON_STEPS}`);
      await page.screenshot({ path: path.join(outDir, `lesson-ranks-${mode}.png`), fullPage: true });
    } else {
      await page.click('#lesson-next');
      await page.waitForFunction((s) => (document.querySelector('#lesson-step')?.textContent || '').startsWith(`${s} /`), i + 2, { timeout: 5000 });
    }
  }
  check(new Set(titles).size === LESSON_STEPS, `[${mode}] lesson steps have ${new Set(titles).size} different titles`);
  await page.click('#lesson-back');
  check((await text('#lesson-step')) === `${LESSON_STEPS - 1} / ${LESSON_STEPS}`, `[${mode}] lesson back goes one step back`);
}

for (const mode of modes) await runMode(mode);
fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify({ results, failures }, null, 2));
console.log(failures.length ? `${failures.length} browser check(s) failed` : 'all browser checks passed');
process.exit(failures.length ? 1 : 0);
