/**
 * The built demo page (dist/main.js, as a browser loads it) run in Node against a fake DOM and Dawn's WebGPU: it
 * starts, loads the tiny model from a picked folder (with its own tokenizer, then without, which fetches the
 * vocabulary copied next to the bundle), generates with the page's settings, draws RGBA on the canvas, and reports
 * bad input in the status line. Where chromium is installed, bundle.test.ts also loads the page for real.
 */
import { resolveObjectURL } from 'node:buffer';
import { readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildBrowser } from '../../scripts/build-browser.mjs';
import { readPngText } from '@sd-webgpu/pipeline/node';
import { type FakeAnchor, type FakeCanvas, type FakeElement, type FakeInput, type FakeProgress, installFakeDom } from './fake_dom';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'test/fixtures/models/tiny-sd');
const tmp = mkdtempSync(join(tmpdir(), 'sd-page-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

function pickFolder(keep: (rel: string) => boolean): File[] {
  return walk(TINY)
    .map((p) => relative(TINY, p))
    .filter(keep)
    .map((rel) => {
      const f = new File([readFileSync(join(TINY, rel))], rel.split('/').pop()!);
      Object.defineProperty(f, 'webkitRelativePath', { value: `tiny-sd/${rel}` });
      return f;
    });
}

describe('demo page script, built, on a fake DOM', () => {
  let el: Record<string, FakeElement>;
  let body: { dataset: Record<string, string> };
  const state = () => body.dataset.state ?? '';
  async function until(states: string[], timeoutMs = 120_000): Promise<string> {
    const t0 = Date.now();
    while (!states.includes(state())) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`page stayed in '${state()}' (${el.status!.textContent}), waiting for ${states.join('|')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return state();
  }

  async function untilStatus(re: RegExp, timeoutMs = 10_000): Promise<void> {
    const t0 = Date.now();
    while (!re.test(el.status!.textContent)) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`status stayed '${el.status!.textContent}', waiting for ${re}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    const outdir = join(tmp, 'dist');
    await buildBrowser({ outdir });
    ({ elements: el, body } = installFakeDom(readFileSync(join(ROOT, 'examples/browser/index.html'), 'utf8')));
    await import(/* @vite-ignore */ pathToFileURL(join(outdir, 'main.js')).href);
  }, 120_000);

  it('starts with a WebGPU device and every sampler listed', async () => {
    expect(await until(['ready', 'no-webgpu', 'error'])).toBe('ready');
    expect((el.scheduler as unknown as { options: unknown[] }).options).toHaveLength(7);
    expect(el.scheduler!.value).toBe('dpmpp_2m_karras'); // selected, not only defaultSelected
    expect(el.generate!.disabled).toBe(true); // nothing loaded yet
    expect(el['model-folder']!.disabled).toBe(false);
  });

  it("generates from a picked folder, with the folder's tokenizer and with the bundled vocabulary alike", async () => {
    const images: Buffer[] = [];
    for (const [keep, vocab] of [[() => true, "the folder's tokenizer"], [(r: string) => !r.startsWith('tokenizer/'), 'the bundled CLIP vocabulary']] as const) {
      (el['model-folder'] as FakeInput).files = pickFolder(keep);
      el['model-folder']!.fire('change');
      expect(await until(['loaded', 'error']), el.status!.textContent).toBe('loaded');
      expect(el.status!.textContent).toContain(vocab);
      expect(el.memory!.textContent).toMatch(/^tiny-sd needs about [\d.]+ MB of GPU memory/);
      const loadBar = el.progress as FakeProgress;
      expect(loadBar.max).toBeGreaterThan(1_000_000);
      expect(loadBar.value).toBe(loadBar.max); // every weight byte of the three components uploaded
      el.prompt!.value = 'a red apple on a table';
      el.steps!.value = '3';
      el.seed!.value = '42';
      el.scheduler!.value = 'euler';
      el.generate!.fire('click');
      expect(state()).toBe('generating');
      expect(el.stop!.disabled).toBe(false);
      expect(await until(['done', 'error']), el.status!.textContent).toBe('done');
      const progress = el.progress as FakeProgress;
      expect([progress.value, progress.max]).toEqual([3, 3]);
      const canvas = el.output as FakeCanvas;
      expect([canvas.width, canvas.height, canvas.drawn!.width, canvas.drawn!.height]).toEqual([64, 64, 64, 64]);
      expect(new Set(canvas.drawn!.data).size).toBeGreaterThan(1);
      expect(el.parameters!.textContent).toBe('a red apple on a table\nSteps: 3, Sampler: Euler, CFG scale: 7.5, Seed: 42, Size: 64x64');
      images.push(Buffer.from(canvas.drawn!.data));
      // The download link: a PNG of the canvas with the same parameters text.
      const blob = resolveObjectURL((el.download as FakeAnchor).href)!;
      const png = new Uint8Array(await blob.arrayBuffer());
      expect(readPngText(png).parameters).toBe(el.parameters!.textContent);
    }
    // Same vocabulary either way (tiny-sd ships OpenAI's CLIP BPE): same token ids, same GPU work, same bytes.
    expect(images[1]!.equals(images[0]!)).toBe(true);

    // img2img from the downloaded PNG, at the picked strength.
    const png = await resolveObjectURL((el.download as FakeAnchor).href)!.arrayBuffer();
    (el['init-image'] as FakeInput).files = [new File([png], 'apple.png')];
    el['init-image']!.fire('change');
    await untilStatus(/^img2img from apple\.png \(64x64\)$/);
    el.strength!.value = '0.5';
    el.steps!.value = '4';
    el.generate!.fire('click');
    expect(await until(['done', 'error']), el.status!.textContent).toBe('done');
    expect(el.parameters!.textContent).toBe('a red apple on a table\nSteps: 4, Sampler: Euler, CFG scale: 7.5, Seed: 42, Size: 64x64, Denoising strength: 0.5');
    expect(Buffer.from((el.output as FakeCanvas).drawn!.data).equals(images[0]!)).toBe(false);
    el['clear-image']!.fire('click');
  });

  it('reports bad settings and bad picks in the status line, keeping the loaded model', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    el.steps!.value = '0';
    el.generate!.fire('click');
    expect(state()).toBe('error');
    expect(el.status!.textContent).toBe("ParameterError: page: parameter 'steps' must be an integer in 1..1000 (got '0')");
    expect(el.generate!.disabled).toBe(false);
    el.steps!.value = '3';
    el.width!.value = '100';
    el.generate!.fire('click');
    expect(el.status!.textContent).toBe("ParameterError: page: parameter 'width' must be a multiple of 8 (got '100')");
    el.width!.value = '';
    el.steps!.value = '3';
    // Picks are handled asynchronously (a URL is fetched first): wait for the status line.
    (el['model-file'] as FakeInput).files = [new File([new Uint8Array(4)], 'model.ckpt')];
    el['model-file']!.fire('change');
    await untilStatus(/must be a \.safetensors checkpoint \(got 'model\.ckpt'\)/);
    (el['model-folder'] as FakeInput).files = pickFolder((r) => !r.startsWith('unet/'));
    el['model-folder']!.fire('change');
    await untilStatus(/'tiny-sd' is not a diffusers folder: no unet\/config\.json/);
    el['model-url']!.value = 'ftp://example.org/model.safetensors';
    el['load-url']!.fire('click');
    await untilStatus(/parameter 'url' must be http\(s\) \(got 'ftp:'\)/);
    expect(state()).toBe('error');
    expect(el.generate!.disabled).toBe(false); // the loaded model is kept
    expect(logged).toHaveBeenCalledTimes(5); // the page also logs each error (with its stack) to the console
    logged.mockRestore();
  });
});
