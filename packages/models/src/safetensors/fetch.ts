/**
 * URL source over HTTP(S) with Range requests.
 *
 * The first request asks for the first `probeBytes` bytes with `Range: bytes=0-…`; a 206 answer gives the total size
 * (Content-Range) and usually the whole header, which is cached. Later reads request exactly the bytes they need.
 * When the server ignores Range (200 with the full body), the body is kept and every read is served from memory, so
 * the file is downloaded once, never once per tensor.
 */
import { ByteSourceError } from './errors.js';
import { checkRange, type ByteSource } from './source.js';

export interface UrlSourceOptions {
  /** fetch implementation (defaults to the global one). */
  fetch?: typeof fetch;
  /** Extra request headers (authorisation, ...). */
  headers?: Record<string, string>;
  /** Size of the first request; the cached prefix serves the header reads. Default 1 MiB. */
  probeBytes?: number;
}

interface Cached {
  offset: number;
  bytes: Uint8Array;
}

export class UrlSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  private readonly url: string;
  private readonly fetchFn: typeof fetch;
  private readonly headers: Record<string, string>;
  /** The probed prefix (Range server) or the whole body (server without Range support). */
  private cached: Cached;
  private wholeBody: boolean;

  private constructor(url: string, size: number, opts: UrlSourceOptions, cached: Cached, wholeBody: boolean) {
    this.url = url;
    this.name = url;
    this.size = size;
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.headers = opts.headers ?? {};
    this.cached = cached;
    this.wholeBody = wholeBody;
  }

  static async open(url: string | URL, opts: UrlSourceOptions = {}): Promise<UrlSource> {
    const href = String(url);
    const fetchFn = opts.fetch ?? globalThis.fetch?.bind(globalThis);
    if (!fetchFn) throw new ByteSourceError(href, 'no fetch implementation is available');
    const probe = Math.max(1, Math.floor(opts.probeBytes ?? 1 << 20));
    const res = await request(fetchFn, href, { ...opts.headers, Range: `bytes=0-${probe - 1}` });

    if (res.status === 200) {
      const body = await readBody(res, href);
      return new UrlSource(href, body.length, opts, { offset: 0, bytes: body }, true);
    }
    if (res.status === 206) {
      const range = parseContentRange(res.headers.get('content-range'), href);
      const body = await readBody(res, href);
      const total = range.total ?? (await headSize(fetchFn, href, opts.headers ?? {}));
      const expected = Math.min(probe, total);
      if (range.start !== 0 || body.length !== expected) {
        throw new ByteSourceError(
          href,
          `range request for bytes 0-${expected - 1} returned ${body.length} bytes starting at ${range.start}`,
        );
      }
      return new UrlSource(href, total, opts, { offset: 0, bytes: body }, false);
    }
    if (res.status === 416) {
      // Nothing to return for bytes=0-…: the resource is empty (Content-Range "bytes (star)/0").
      const range = parseContentRange(res.headers.get('content-range'), href);
      await res.body?.cancel();
      const total = range.total ?? (await headSize(fetchFn, href, opts.headers ?? {}));
      if (total !== 0) throw new ByteSourceError(href, `server refused range 0-${probe - 1} of a ${total}-byte file`);
      return new UrlSource(href, 0, opts, { offset: 0, bytes: new Uint8Array(0) }, true);
    }
    await res.body?.cancel();
    throw new ByteSourceError(href, `HTTP ${res.status} ${res.statusText}`);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const c = this.cached;
    if (offset >= c.offset && offset + length <= c.offset + c.bytes.length) {
      return c.bytes.slice(offset - c.offset, offset - c.offset + length);
    }
    if (length === 0) return new Uint8Array(0);
    if (this.wholeBody) {
      throw new ByteSourceError(this.name, `range [${offset}, ${offset + length}) is not in the downloaded body`);
    }
    const res = await request(this.fetchFn, this.url, {
      ...this.headers,
      Range: `bytes=${offset}-${offset + length - 1}`,
    });
    if (res.status === 206) {
      const range = parseContentRange(res.headers.get('content-range'), this.name);
      const body = await readBody(res, this.name);
      if (range.start !== offset || body.length !== length) {
        throw new ByteSourceError(
          this.name,
          `range [${offset}, ${offset + length}) returned ${body.length} bytes starting at ${range.start}`,
        );
      }
      return body;
    }
    if (res.status === 200) {
      // The server stopped honouring Range: keep the full body and serve everything from memory from now on.
      const body = await readBody(res, this.name);
      if (body.length !== this.size) {
        throw new ByteSourceError(this.name, `size changed from ${this.size} to ${body.length} bytes`);
      }
      this.cached = { offset: 0, bytes: body };
      this.wholeBody = true;
      return body.slice(offset, offset + length);
    }
    await res.body?.cancel();
    throw new ByteSourceError(this.name, `HTTP ${res.status} ${res.statusText} for bytes ${offset}-${offset + length - 1}`);
  }

  /** True when the server ignored Range and the whole file is held in memory. */
  get downloadedWhole(): boolean {
    return this.wholeBody;
  }
}

async function request(fetchFn: typeof fetch, url: string, headers: Record<string, string>): Promise<Response> {
  try {
    return await fetchFn(url, { headers });
  } catch (e) {
    throw new ByteSourceError(url, `fetch failed: ${(e as Error).message}`);
  }
}

async function readBody(res: Response, name: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new ByteSourceError(name, `reading the response body failed: ${(e as Error).message}`);
  }
}

interface ContentRange {
  /** First byte of the returned range (undefined for an unsatisfied-range answer). */
  start: number | undefined;
  /** Resource size, undefined when the server sent "/*". */
  total: number | undefined;
}

// Parses "bytes a-b/total", "bytes a-b/(star)" and "bytes (star)/total".
function parseContentRange(header: string | null, name: string): ContentRange {
  const m = header ? /^\s*bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)\s*$/i.exec(header) : null;
  if (!m) throw new ByteSourceError(name, `missing or unusable Content-Range header '${header ?? ''}'`);
  const start = m[1] === undefined ? undefined : Number(m[1]);
  const total = m[2] === '*' ? undefined : Number(m[2]);
  if (total !== undefined && !Number.isSafeInteger(total)) {
    throw new ByteSourceError(name, `Content-Range total '${m[2]}' is too large`);
  }
  return { start, total };
}

/** Size from a HEAD request's Content-Length (for servers that answer ranges with an unknown total). */
async function headSize(fetchFn: typeof fetch, url: string, headers: Record<string, string>): Promise<number> {
  let res: Response;
  try {
    res = await fetchFn(url, { method: 'HEAD', headers });
  } catch (e) {
    throw new ByteSourceError(url, `HEAD request failed: ${(e as Error).message}`);
  }
  const len = res.headers.get('content-length');
  const n = len === null ? NaN : Number(len);
  if (!res.ok || !Number.isSafeInteger(n) || n < 0) {
    throw new ByteSourceError(url, `cannot learn the size: HEAD gave HTTP ${res.status}, Content-Length '${len ?? ''}'`);
  }
  return n;
}
