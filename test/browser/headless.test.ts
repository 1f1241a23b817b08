/**
 * The demo page for real, in Debian's headless chromium (WebGPU on SwiftShader here: f32, subgroups of 4): it starts
 * with WebGPU and the default sampler selected, loads the tiny model from the folder picker (with a memory estimate),
 * generates a 2-step image equal to the Node library's for the same model and seed (within 1/255: two Vulkan
 * drivers, same kernels up to tile choice), shows shader compilation and it/s, downloads a PNG whose `parameters`
 * chunk is the CLI's text, stops a long run at once, reports a bad setting, loads a model folder URL, and recovers
 * from a forced device loss without a reload (the model reloads on the new device). Screenshots before and after
 * generating go to test/browser/screenshots/ (gitignored).
 *
 * Chromium missing: skipped outside CI, a failure in CI (`.ci/run` installs it). No WebGPU is always a failure.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StableDiffusion, formatParameters } from '@sd-webgpu/pipeline';
import { decodePng, readPngText } from '@sd-webgpu/pipeline/node';
import { buildBrowser } from '../../scripts/build-browser.mjs';
import { testDevice } from '../helpers/device';
import {
  CHROMIUM, type HeadlessPage, canvasPixels, openPage, recordStatus, serve, stateOf, statusLog, statusOf, urlOf, waitForState,
} from './headless';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'test/fixtures/models/tiny-sd');
const SHOTS = join(import.meta.dirname, 'screenshots');
const inCi = process.env.CI === 'true';
const missing = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (missing && inCi) throw new Error(`headless page test: ${missing}; CI must install it (.ci/run)`);

/**
 * The whole test's time limit: 60 s in CI (a 2-core machine of its own; ~25-35 s expected). This shared development
 * machine (2 cores, 8 engineers, load 15-25) runs it 2-4x slower, so outside CI it gets 180 s. phases.json (next to
 * the screenshots) records where the time went.
 */
const LIMIT_MS = inCi ? 60_000 : 180_000;

const PROMPT = 'a red apple on a table';
const SEED = 42;
const STEPS = 2;

describe('demo page in headless chromium', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sd-headless-'));
  let server: Server | null = null;
  let hp: HeadlessPage | null = null;
  afterAll(async () => {
    await hp?.close();
    await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
    rmSync(tmp, { recursive: true, force: true });
  });

  it.skipIf(missing !== null)(`generates, downloads, stops, reports errors, recovers from device loss${missing ? ` (skipped: ${missing})` : ''}`, async () => {
    // The same model and seed through the library in Node: the reference image.
    // Every wait is capped by what is left of the test's time, so a slow phase fails naming the state it stalled in.
    const deadline = Date.now() + LIMIT_MS - 3_000;
    const upTo = (ms: number) => Math.max(1, Math.min(ms, deadline - Date.now()));
    // Seconds per phase, written next to the screenshots (the test must stay under 60 s on CI machines).
    const phases: Record<string, number> = {};
    let since = Date.now();
    const phase = (name: string) => {
      phases[name] = (Date.now() - since) / 1000;
      since = Date.now();
      writeFileSync(join(SHOTS, 'phases.json'), `${JSON.stringify(phases, null, 2)}\n`);
    };
    mkdirSync(SHOTS, { recursive: true });
    // (computed while chromium starts and loads the model)
    const reference = (async () => {
      const sd = await StableDiffusion.load(TINY, { device: await testDevice(), dtype: 'f32' });
      try {
        return (await sd.txt2img({ prompt: PROMPT, steps: STEPS, seed: SEED, scheduler: 'dpmpp_2m_karras' }))[0]!;
      } finally {
        sd.dispose();
      }
    })();
    void reference.catch(() => undefined); // awaited below; a failure before that is not an unhandled rejection

    await buildBrowser({ outdir: join(tmp, 'dist') });
    copyFileSync(join(ROOT, 'examples/browser/index.html'), join(tmp, 'index.html'));
    mkdirSync(join(tmp, 'models'));
    symlinkSync(TINY, join(tmp, 'models/tiny-sd'));
    server = await serve(tmp);
    phase('build');
    hp = await openPage(urlOf(server));
    const { page } = hp;

    phase('launch');
    // 1. WebGPU found, the default sampler really selected (what the select shows and the page reads).
    expect(await waitForState(page, ['ready', 'no-webgpu', 'error'], upTo(15_000)), await statusOf(page)).toBe('ready');
    expect(await page.inputValue('#scheduler')).toBe('dpmpp_2m_karras');
    await page.screenshot({ path: join(SHOTS, '1-start.png') });

    phase('start');
    // 2. The tiny model from the folder picker, with a memory estimate shown first.
    await page.setInputFiles('#model-folder', TINY); // a directory, for <input webkitdirectory>
    expect(await waitForState(page, ['loaded', 'error'], upTo(60_000))).toBe('loaded');
    expect(await page.textContent('#memory')).toMatch(/^tiny-sd needs about [\d.]+ MB of GPU memory: .* f32 weights/);

    phase('load');
    // 3. Generate: shader compilation is shown, then it/s; the image matches the Node library's within 1/255.
    await recordStatus(page);
    await page.fill('#prompt', PROMPT);
    await page.fill('#steps', String(STEPS));
    await page.fill('#seed', String(SEED));
    const ref = await reference;
    phase('node reference (waited)');
    await page.click('#generate');
    expect(await waitForState(page, ['done', 'error'], upTo(120_000))).toBe('done');
    await page.screenshot({ path: join(SHOTS, '2-generated.png') });
    const log = await statusLog(page);
    // The page stays live while the GPU process compiles: the count moves (polled every 250 ms).
    const compiling = new Set(log.filter((s) => /^compiling shaders \(\d+\/\d+\)/.test(s)).map((s) => s.split(')')[0]));
    expect(compiling.size, log.join('\n')).toBeGreaterThanOrEqual(2);
    expect(log.some((s) => /^step 2\/2, [\d.]+ (it\/s|s\/it), ETA/.test(s)), log.join('\n')).toBe(true);
    const px = await canvasPixels(page);
    expect([px.width, px.height]).toEqual([ref.width, ref.height]);
    let maxDiff = 0;
    for (let i = 0; i < px.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(px.data[i]! - ref.data[i]!));
    expect(maxDiff).toBeLessThanOrEqual(1);

    phase('generate');
    // 4. The download: a PNG of the canvas pixels carrying the CLI's parameters text.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const png = new Uint8Array(readFileSync((await download.path())!));
    expect(readPngText(png).parameters).toBe(formatParameters(ref.params));
    expect(Buffer.from(decodePng(png).data).equals(Buffer.from(px.data))).toBe(true);

    phase('download');
    // 5. Stop answers at once (even mid-step); Generate comes back once the running step has ended.
    await page.fill('#steps', '200');
    await page.click('#generate');
    await page.waitForFunction(() => /step [1-9]\d*\/200/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: upTo(10_000) });
    await page.click('#stop');
    expect(await waitForState(page, ['stopped', 'error'], upTo(2_000))).toBe('stopped');
    expect(await statusOf(page)).toMatch(/^stopped after step \d+\/200$/);
    await page.waitForFunction(() => !(document.getElementById('generate') as HTMLButtonElement).disabled, null, { timeout: upTo(10_000) });

    phase('stop');
    // 6. A bad setting is reported in the status line before any GPU work.
    await page.fill('#steps', '0');
    await page.click('#generate');
    expect(await waitForState(page, ['error'], upTo(2_000))).toBe('error');
    expect(await statusOf(page)).toBe("ParameterError: page: parameter 'steps' must be an integer in 1..1000 (got '0')");

    phase('bad setting');
    // 7. A diffusers folder URL (served next to the page): the model is replaced; the device's pipelines are reused.
    await page.fill('#model-url', 'models/tiny-sd/');
    await page.click('#load-url');
    // the page is still in step 6's 'error' state until the click's handler runs: wait for the load to start first
    expect(await waitForState(page, ['loading', 'loaded'], upTo(5_000))).toMatch(/^load(ing|ed)$/);
    expect(await waitForState(page, ['loaded', 'error'], upTo(60_000))).toBe('loaded');
    expect(await statusOf(page)).toMatch(/^loaded tiny-sd in [\d.]+s \(f32, the folder's tokenizer\)$/);
    phase('url load');

    // 8. A lost device: a plain message, Generate disabled, and a new device (with the model reloaded) on request.
    await page.evaluate(() => (window as unknown as { sdDemo: { loseDevice(): void } }).sdDemo.loseDevice());
    expect(await waitForState(page, ['lost'], upTo(5_000))).toBe('lost');
    expect(await statusOf(page)).toBe('the GPU device was lost (destroyed): make a new GPU device below or reload the page; if it happens again, choose f32 or a smaller size');
    expect(await page.isDisabled('#generate')).toBe(true);
    await page.click('#new-device');
    expect(await waitForState(page, ['loaded', 'error'], upTo(60_000))).toBe('loaded');
    expect(await page.isEnabled('#generate')).toBe(true);

    phase('device loss');
    expect(hp.pageErrors).toEqual([]);
    // The only console error is the page logging the ParameterError of step 6 (no favicon 404, no WebGPU error).
    expect(hp.consoleErrors.filter((m) => !m.includes("parameter 'steps'"))).toEqual([]);
    expect(await stateOf(page)).toBe('loaded');
  }, LIMIT_MS);
});
