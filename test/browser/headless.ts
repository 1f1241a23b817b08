/**
 * Drives the built demo page in Debian's headless chromium through playwright-core (no browser download): serves a
 * site folder over HTTP on 127.0.0.1 (WebGPU needs a secure context), launches chromium with WebGPU on a fresh
 * profile and no network services, and offers the page-level steps headless.test.ts composes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * `--headless=new`: the full browser (WebGPU included); `--enable-unsafe-webgpu`: WebGPU on Linux, where it is off by
 * default (here its adapter is SwiftShader). The rest keep a machine without network quiet and fast to start.
 */
export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  // Served as an opaque file (no Content-Encoding), so fetch() hands the page the gzip bytes it expects.
  '.gz': 'application/gzip',
};

/** A static server for `dir` (GET and HEAD; no Range support: the page's URL loads download each file once). */
export function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith(sep) ? join(path, 'index.html') : path;
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

export const urlOf = (server: Server): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

export interface HeadlessPage {
  page: Page;
  /** Uncaught exceptions and unhandled rejections in the page. */
  pageErrors: string[];
  /** console.error messages. */
  consoleErrors: string[];
  close(): Promise<void>;
}

/** Launches chromium on a fresh profile (removed on close) and opens `url`. */
export async function openPage(url: string): Promise<HeadlessPage> {
  const profile = mkdtempSync(join(tmpdir(), 'sd-chromium-'));
  let context: BrowserContext | null = null;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, acceptDownloads: true, viewport: { width: 900, height: 1300 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    const consoleErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    await page.goto(url);
    const ctx = context;
    return {
      page, pageErrors, consoleErrors,
      async close() {
        await ctx.close();
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
}

export const stateOf = (page: Page): Promise<string> => page.evaluate(() => document.body.dataset.state ?? '');
export const statusOf = (page: Page): Promise<string> => page.evaluate(() => document.getElementById('status')?.textContent ?? '');

/** Waits until `<body data-state>` is one of `states`; the error names the state and status the page stayed in. */
export async function waitForState(page: Page, states: string[], timeout: number): Promise<string> {
  try {
    await page.waitForFunction((s: string[]) => s.includes(document.body.dataset.state ?? ''), states, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`page stayed in '${await stateOf(page)}' (${await statusOf(page)}) waiting ${timeout} ms for ${states.join('|')}: ${(e as Error).message.split('\n')[0]}`);
  }
  return stateOf(page);
}

/** Records every text the status line shows from now on (read back with `statusLog`). */
export async function recordStatus(page: Page): Promise<void> {
  await page.evaluate(() => {
    const el = document.getElementById('status')!;
    const log: string[] = [];
    (window as unknown as { statusLog: string[] }).statusLog = log;
    new MutationObserver(() => log.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
  });
}

export const statusLog = (page: Page): Promise<string[]> =>
  page.evaluate(() => (window as unknown as { statusLog?: string[] }).statusLog ?? []);

/** The canvas as RGBA bytes. */
export async function canvasPixels(page: Page): Promise<{ width: number; height: number; data: Uint8Array }> {
  const r = await page.evaluate(() => {
    const c = document.getElementById('output') as HTMLCanvasElement;
    return { width: c.width, height: c.height, data: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) };
  });
  return { width: r.width, height: r.height, data: Uint8Array.from(r.data) };
}
