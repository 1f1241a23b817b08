/**
 * Drives the built demo page in headless chromium through playwright-core (only where both are installed; the test
 * skips otherwise): serves the site folder over HTTP on localhost, waits for the page to start, and when WebGPU is
 * available picks the model folder, generates 2 steps and reads the canvas back.
 */
import { readFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

/** The part of playwright-core's API used here (the package is optional, so its types are not imported). */
interface PwPage {
  on(event: 'pageerror', fn: (e: Error) => void): void;
  on(event: 'console', fn: (m: { type(): string; text(): string }) => void): void;
  goto(url: string): Promise<unknown>;
  waitForFunction<A>(fn: (arg: A) => boolean, arg: A, opts: { timeout: number }): Promise<unknown>;
  evaluate<R, A = undefined>(fn: (arg: A) => R, arg?: A): Promise<R>;
  setInputFiles(selector: string, files: string | string[]): Promise<void>;
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
}
interface PwBrowser {
  newPage(): Promise<PwPage>;
  close(): Promise<void>;
}
interface Playwright {
  chromium: { launch(o: { executablePath: string; headless: boolean; args: string[] }): Promise<PwBrowser> };
}

export interface HeadlessResult {
  /** `<body data-state>` once the page has started: 'ready', or 'no-webgpu' where the browser has none. */
  firstState: string;
  /** The state after loading the model and generating (same as firstState without WebGPU). */
  finalState: string;
  /** The page's status line at the end. */
  status: string;
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  /** Console errors (informational: WebGPU warnings land here too). */
  consoleErrors: string[];
  canvas: { width: number; height: number; distinctPixels: number } | null;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  // Served as an opaque file (no Content-Encoding), so fetch() hands the page the gzip bytes it expects.
  '.gz': 'application/gzip',
};

function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith(sep) ? join(path, 'index.html') : path;
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

const stateOf = (page: PwPage) => page.evaluate(() => document.body.dataset.state ?? '');

async function waitForState(page: PwPage, states: string[], timeout: number): Promise<string> {
  await page.waitForFunction((s: string[]) => s.includes(document.body.dataset.state ?? ''), states, { timeout });
  return stateOf(page);
}

export async function loadPageHeadless(opts: { chromium: string; siteDir: string; modelDir: string }): Promise<HeadlessResult> {
  // A computed specifier: playwright-core is optional and not a dependency of the repository.
  const pwId = 'playwright-core';
  const pw = (await import(/* @vite-ignore */ pwId)) as Playwright;
  const server = await serve(opts.siteDir);
  const browser = await pw.chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--ignore-gpu-blocklist', '--no-sandbox'],
  });
  try {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const firstState = await waitForState(page, ['ready', 'no-webgpu', 'error'], 60_000);
    let finalState = firstState;
    let canvas: HeadlessResult['canvas'] = null;
    if (firstState === 'ready') {
      await page.setInputFiles('#model-folder', opts.modelDir); // a directory, for <input webkitdirectory>
      finalState = await waitForState(page, ['loaded', 'error'], 240_000);
      if (finalState === 'loaded') {
        await page.fill('#steps', '2');
        await page.fill('#seed', '42');
        await page.click('#generate');
        finalState = await waitForState(page, ['done', 'error'], 240_000);
        canvas = await page.evaluate(() => {
          const c = document.getElementById('output') as HTMLCanvasElement;
          const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          return { width: c.width, height: c.height, distinctPixels: new Set(new Uint32Array(px.buffer)).size };
        });
      }
    }
    const status = await page.evaluate(() => document.getElementById('status')?.textContent ?? '');
    return { firstState, finalState, status, pageErrors, consoleErrors, canvas };
  } finally {
    await browser.close();
    await new Promise((ok) => server.close(ok));
  }
}
