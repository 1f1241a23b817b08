/**
 * The HTTP API (node:http): the AUTOMATIC1111 `/sdapi/v1` subset. Requests are authenticated (optional bearer
 * token), size-bounded, parsed and fully checked before a job is queued; errors are JSON `{ error, detail, field }`
 * with FastAPI's status codes (422 for a bad field). CORS headers are sent only when an origin is configured.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { GenerationBackend } from './backend.js';
import { RequestError } from './errors.js';
import type { JobSpec } from './job.js';
import { parseA1111Request } from './request.js';
import { generationResponse, progressResponse } from './response.js';
import { samplerList } from './samplers.js';

export interface ApiOptions {
  backend: GenerationBackend;
  /** The model served, as `/sdapi/v1/sd-models` lists it. */
  model: { title: string; filename: string };
  /** Require `Authorization: Bearer <apiKey>` on every request. */
  apiKey?: string;
  /** Send CORS headers allowing this origin ('*' for any); none by default. */
  corsOrigin?: string;
  /** Largest request body accepted, in bytes (default 32 MiB: a few base64 init images). */
  maxBodyBytes?: number;
  /** Seed source for requests with seed -1 (tests pass a fixed one). */
  drawSeed?: () => number;
  log?: (line: string) => void;
}

export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) return reject(new RequestError(413, null, `request body of ${declared} bytes exceeds the limit of ${limit}`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new RequestError(413, null, `request body exceeds the limit of ${limit} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new RequestError(422, null, `the request body is not JSON (${(e as Error).message})`);
  }
}

function authorized(req: IncomingMessage, key: string): boolean {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const [a, b] = [Buffer.from(m[1]!), Buffer.from(key)];
  return a.length === b.length && timingSafeEqual(a, b);
}

const ROUTES: Record<string, 'GET' | 'POST'> = {
  '/sdapi/v1/txt2img': 'POST',
  '/sdapi/v1/img2img': 'POST',
  '/sdapi/v1/progress': 'GET',
  '/sdapi/v1/interrupt': 'POST',
  '/sdapi/v1/sd-models': 'GET',
  '/sdapi/v1/samplers': 'GET',
};

export function createApiServer(opts: ApiOptions): Server {
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = opts.log ?? (() => undefined);

  async function generate(mode: JobSpec['mode'], req: IncomingMessage, res: ServerResponse): Promise<void> {
    const job = parseA1111Request(mode, parseJson(await readBody(req, limit)), opts.drawSeed);
    const startedAt = Date.now();
    const { id, result } = await opts.backend.submit(job);
    log(`${mode} ${id}: ${result.interrupted ? 'interrupted' : `${result.images.length} image(s)`} in ${Date.now() - startedAt} ms`);
    send(res, 200, generationResponse(job, result, { jobId: id, modelName: opts.model.title, startedAt }));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (opts.corsOrigin) {
      res.setHeader('access-control-allow-origin', opts.corsOrigin);
      res.setHeader('vary', 'origin');
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const method = ROUTES[path];
    if (req.method === 'OPTIONS' && opts.corsOrigin && method) {
      res.writeHead(204, {
        'access-control-allow-methods': `${method}, OPTIONS`,
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '600',
      });
      return void res.end();
    }
    if (!method) throw new RequestError(404, null, `no route ${path}`);
    if (opts.apiKey !== undefined && !authorized(req, opts.apiKey)) {
      res.setHeader('www-authenticate', 'Bearer');
      throw new RequestError(401, null, 'missing or wrong bearer token');
    }
    if (req.method !== method) {
      res.setHeader('allow', method);
      throw new RequestError(405, null, `${path} takes ${method}`);
    }
    switch (path) {
      case '/sdapi/v1/txt2img':
        return generate('txt2img', req, res);
      case '/sdapi/v1/img2img':
        return generate('img2img', req, res);
      case '/sdapi/v1/progress':
        return send(res, 200, progressResponse(await opts.backend.state()));
      case '/sdapi/v1/interrupt':
        await opts.backend.interrupt();
        return send(res, 200, {});
      case '/sdapi/v1/sd-models':
        return send(res, 200, [{ title: opts.model.title, model_name: opts.model.title, hash: null, sha256: null, filename: opts.model.filename, config: null }]);
      case '/sdapi/v1/samplers':
        return send(res, 200, samplerList());
    }
  }

  return createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.destroy();
      if (e instanceof RequestError) {
        if (e.status === 413) res.setHeader('connection', 'close'); // the rest of an oversized body is not read
        return send(res, e.status, { error: e.name, detail: e.message, field: e.field });
      }
      const message = e instanceof Error ? e.message : String(e);
      log(`${req.method} ${req.url}: ${message}`);
      send(res, 500, { error: 'GenerationError', detail: message, field: null });
    });
  });
}
