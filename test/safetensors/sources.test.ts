// Byte sources: Blob/File, HTTP with and without Range support, Node file paths, and openSafetensors dispatch.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BlobSource,
  ByteSourceError,
  MemorySource,
  SafetensorsFormatError,
  UrlSource,
  openSafetensors,
  serializeSafetensors,
} from '../../packages/models/src/safetensors';
import { NodeFileSource } from '../../packages/models/src/safetensors/node';
import { fixturePath } from '../helpers/fixtures';

const values = Float32Array.from({ length: 3000 }, (_, i) => Math.sin(i));
const FILE = serializeSafetensors(
  {
    big: { dtype: 'F32', shape: [3000], data: values },
    half: { dtype: 'F16', shape: [4], data: [1, -2, 0.5, 65504] },
    ids: { dtype: 'I64', shape: [2], data: [7n, -1n] },
  },
  { op: 'test' },
);

interface Log {
  method: string;
  range: string | undefined;
  status: number;
}

/** mode 'range': honours Range; 'ignore': always 200 + full body; 'unknown-total': Content-Range ".../*" (needs HEAD). */
function startServer(mode: 'range' | 'ignore' | 'unknown-total'): Promise<{ server: Server; base: string; log: Log[] }> {
  const log: Log[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, headers: Record<string, string | number>, body?: Uint8Array) => {
      log.push({ method: req.method!, range: req.headers.range, status });
      res.writeHead(status, headers);
      res.end(body && req.method !== 'HEAD' ? Buffer.from(body) : undefined);
    };
    if (req.url !== '/model.safetensors') return send(404, {});
    const m = req.headers.range ? /^bytes=(\d+)-(\d+)$/.exec(req.headers.range) : null;
    if (mode === 'ignore' || !m || req.method === 'HEAD') return send(200, { 'Content-Length': FILE.length }, FILE);
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), FILE.length - 1);
    if (start >= FILE.length) return send(416, { 'Content-Range': `bytes */${FILE.length}` });
    const total = mode === 'unknown-total' ? '*' : String(FILE.length);
    send(206, { 'Content-Range': `bytes ${start}-${end}/${total}` }, FILE.subarray(start, end + 1));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ server, base: `http://127.0.0.1:${port}`, log });
    }),
  );
}

async function expectContents(st: Awaited<ReturnType<typeof openSafetensors>>): Promise<void> {
  expect(st.metadata).toEqual({ op: 'test' });
  expect(await st.readFloat32('big')).toEqual(values);
  expect(Array.from(await st.readFloat32('half'))).toEqual([1, -2, 0.5, 65504]);
  expect(Array.from(await st.readTyped<'I64'>('ids'))).toEqual([7n, -1n]);
}

describe('Blob source', () => {
  it('reads a File by slices', async () => {
    const file = new File([FILE], 'weights.safetensors');
    const st = await openSafetensors(file);
    expect(st.name).toBe('weights.safetensors');
    await expectContents(st);
    const anon = await openSafetensors(new Blob([FILE]), { name: 'anon' });
    expect(anon.name).toBe('anon');
    await expectContents(anon);
  });

  it('rejects ranges outside the blob and reports malformed blobs as format errors', async () => {
    const src = new BlobSource(new Blob([FILE.subarray(0, 100)]));
    await expect(src.read(90, 20)).rejects.toBeInstanceOf(ByteSourceError);
    await expect(src.read(-1, 2)).rejects.toThrow(/invalid range/);
    await expect(openSafetensors(new Blob([FILE.subarray(0, 100)]))).rejects.toBeInstanceOf(SafetensorsFormatError);
  });
});

describe('URL source', () => {
  const servers: Record<string, { server: Server; base: string; log: Log[] }> = {};
  beforeAll(async () => {
    servers.range = await startServer('range');
    servers.ignore = await startServer('ignore');
    servers.unknown = await startServer('unknown-total');
  });
  afterAll(async () => {
    await Promise.all(Object.values(servers).map((s) => new Promise((r) => s.server.close(r))));
  });

  it('uses Range requests and never downloads the whole file', async () => {
    const { base, log } = servers.range!;
    log.length = 0;
    const st = await openSafetensors(`${base}/model.safetensors`, { probeBytes: 64 });
    expect(st.source).toBeInstanceOf(UrlSource);
    expect((st.source as UrlSource).downloadedWhole).toBe(false);
    expect(st.source.size).toBe(FILE.length);
    await expectContents(st);
    expect(log.every((l) => l.method === 'GET' && l.status === 206 && l.range !== undefined)).toBe(true);
    expect(log[0]!.range).toBe('bytes=0-63');
    const bigEntry = st.info('big');
    expect(log.some((l) => l.range === `bytes=${bigEntry.byteOffset}-${bigEntry.byteOffset + bigEntry.byteLength - 1}`)).toBe(true);
  });

  it('serves header reads from the first (probe) response', async () => {
    const { base, log } = servers.range!;
    log.length = 0;
    const st = await openSafetensors(new URL(`${base}/model.safetensors`)); // default probe of 1 MiB covers the file
    await expectContents(st);
    expect(log.length).toBe(1);
  });

  it('falls back to one full download when the server ignores Range', async () => {
    const { base, log } = servers.ignore!;
    log.length = 0;
    const st = await openSafetensors(`${base}/model.safetensors`, { probeBytes: 16 });
    expect((st.source as UrlSource).downloadedWhole).toBe(true);
    await expectContents(st);
    await expectContents(st);
    expect(log.length).toBe(1);
    expect(log[0]!.status).toBe(200);
  });

  it('learns the size with HEAD when Content-Range has an unknown total', async () => {
    const { base, log } = servers.unknown!;
    log.length = 0;
    const st = await openSafetensors(`${base}/model.safetensors`, { probeBytes: 32 });
    expect(st.source.size).toBe(FILE.length);
    await expectContents(st);
    expect(log.filter((l) => l.method === 'HEAD').length).toBe(1);
  });

  it('reports HTTP errors and unreachable servers as ByteSourceError', async () => {
    await expect(openSafetensors(`${servers.range!.base}/missing.safetensors`)).rejects.toThrow(/HTTP 404/);
    await expect(UrlSource.open('http://127.0.0.1:1/x.safetensors')).rejects.toBeInstanceOf(ByteSourceError);
  });

  it('works with an injected fetch (no network)', async () => {
    const calls: string[] = [];
    const fakeFetch = (async (_url: string, init?: RequestInit) => {
      const range = (init?.headers as Record<string, string>).Range!;
      calls.push(range);
      const [a, b] = range.replace('bytes=', '').split('-').map(Number) as [number, number];
      const end = Math.min(b, FILE.length - 1);
      return new Response(FILE.slice(a, end + 1), {
        status: 206,
        headers: { 'Content-Range': `bytes ${a}-${end}/${FILE.length}` },
      });
    }) as typeof fetch;
    const st = await openSafetensors('https://example.invalid/m.safetensors', { fetch: fakeFetch, probeBytes: 100 });
    await expectContents(st);
    expect(calls[0]).toBe('bytes=0-99');
  });
});

describe('Node file source', () => {
  it('opens by path and by file: URL, and closes', async () => {
    const path = fixturePath('ops/matmul_7x13x5.safetensors');
    for (const input of [path, pathToFileURL(path)]) {
      const st = await openSafetensors(input);
      expect(st.source).toBeInstanceOf(NodeFileSource);
      expect(st.info('in.a').shape).toEqual([7, 13]);
      expect((await st.readFloat32('out.y')).length).toBe(35);
      await st.close();
      await expect(st.readRaw('in.a')).rejects.toThrow(/closed/);
      await st.close(); // closing twice is harmless
    }
  });

  it('names the path of a missing file', async () => {
    await expect(openSafetensors('/nonexistent/dir/x.safetensors')).rejects.toThrow(/nonexistent\/dir\/x\.safetensors/);
    await expect(openSafetensors('/nonexistent/dir/x.safetensors')).rejects.toBeInstanceOf(ByteSourceError);
  });

  it('memory source reads are copies', async () => {
    const bytes = FILE.slice();
    const src = new MemorySource(bytes);
    const chunk = await src.read(0, 8);
    chunk[0] = 99;
    expect(bytes[0]).not.toBe(99);
  });
});
