/**
 * The HTTP layer over a recording fake backend (no GPU): routes, A1111 response shapes, validation before queueing,
 * the body size bound, bearer-token auth, CORS off by default, progress and interrupt.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { type ApiOptions, type GenerationBackend, type QueueState, type ValidJob, createApiServer } from '@sd-webgpu/server';

class FakeBackend implements GenerationBackend {
  jobs: ValidJob[] = [];
  interrupts = 0;
  fail: Error | null = null;
  queue: QueueState = { active: null, running: 0, waiting: 0 };
  async submit(job: ValidJob) {
    if (this.fail) throw this.fail;
    this.jobs.push(job);
    return { id: 'job-1', result: { images: ['iVBORw0K'], infotexts: ['text'], interrupted: false } };
  }
  async state() {
    return this.queue;
  }
  async interrupt() {
    this.interrupts++;
    return 1;
  }
  async close() {}
}

let server: Server | null = null;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function start(opts: Partial<ApiOptions> = {}) {
  const backend = new FakeBackend();
  server = createApiServer({ backend, model: { title: 'tiny', filename: '/m/tiny' }, drawSeed: () => 99, ...opts });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = (path: string, init: RequestInit = {}) => fetch(base + path, init);
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    call(path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  return { backend, call, post };
}

describe('A1111 HTTP API', () => {
  it('answers txt2img with images, the parameters as run and info as JSON text', async () => {
    const { backend, post } = await start();
    const r = await post('/sdapi/v1/txt2img', { prompt: 'a cat', steps: 3, width: 64, height: 64, sampler_name: 'Euler a' });
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.images).toEqual(['iVBORw0K']);
    expect(body.parameters).toMatchObject({ prompt: 'a cat', steps: 3, seed: 99, sampler_name: 'Euler a', width: 64, height: 64, cfg_scale: 7.5, batch_size: 1 });
    const info = JSON.parse(body.info);
    expect(info).toMatchObject({ seed: 99, all_seeds: [99], infotexts: ['text'], sd_model_name: 'tiny', job_id: 'job-1', interrupted: false });
    expect(backend.jobs[0]!.spec).toMatchObject({ mode: 'txt2img', scheduler: 'euler_a', seed: 99 });
  });

  it('refuses an invalid request with 422 naming the field, before anything is queued', async () => {
    const { backend, post } = await start();
    const r = await post('/sdapi/v1/txt2img', { prompt: 'x', cfg_scale: 'high' });
    expect(r.status).toBe(422);
    expect(await r.json()).toMatchObject({ error: 'RequestError', field: 'cfg_scale' });
    const notJson = await post('/sdapi/v1/img2img', '{"prompt": ');
    expect(notJson.status).toBe(422);
    expect((await notJson.json()).detail).toContain('not JSON');
    expect(backend.jobs).toHaveLength(0);
  });

  it('bounds the request size (413)', async () => {
    const { backend, post } = await start({ maxBodyBytes: 1000 });
    const r = await post('/sdapi/v1/txt2img', { prompt: 'x'.repeat(2000) });
    expect(r.status).toBe(413);
    expect((await post('/sdapi/v1/txt2img', { prompt: 'x', width: 64, height: 64 })).status).toBe(200);
    expect(backend.jobs).toHaveLength(1);
  });

  it('requires the bearer token when an API key is set', async () => {
    const { backend, call, post } = await start({ apiKey: 's3cret' });
    expect((await call('/sdapi/v1/samplers')).status).toBe(401);
    expect((await call('/sdapi/v1/samplers', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await post('/sdapi/v1/txt2img', { prompt: 'x' }, { authorization: 'Bearer s3cret!' })).status).toBe(401);
    expect(backend.jobs).toHaveLength(0);
    const ok = await call('/sdapi/v1/samplers', { headers: { authorization: 'Bearer s3cret' } });
    expect(ok.status).toBe(200);
  });

  it('sends no CORS headers by default, and answers preflights for the configured origin', async () => {
    const off = await start();
    const r = await off.call('/sdapi/v1/samplers', { headers: { origin: 'https://evil.example' } });
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    expect((await off.call('/sdapi/v1/txt2img', { method: 'OPTIONS' })).headers.get('access-control-allow-origin')).toBeNull();
    await new Promise<void>((res) => server!.close(() => res()));

    const on = await start({ corsOrigin: 'https://app.example', apiKey: 'k' });
    const pre = await on.call('/sdapi/v1/txt2img', { method: 'OPTIONS', headers: { origin: 'https://app.example' } });
    expect(pre.status).toBe(204); // preflights carry no credentials
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
  });

  it('lists samplers and the model; 404 and 405 for unknown routes and methods', async () => {
    const { call } = await start();
    const samplers = await (await call('/sdapi/v1/samplers')).json();
    expect(samplers.map((s: { name: string }) => s.name)).toEqual(['DDIM', 'PLMS', 'Euler', 'Euler a', 'DPM++ 2M', 'DPM++ 2M Karras', 'LMS']);
    expect(await (await call('/sdapi/v1/sd-models')).json()).toEqual([{ title: 'tiny', model_name: 'tiny', hash: null, sha256: null, filename: '/m/tiny', config: null }]);
    expect((await call('/sdapi/v1/nope')).status).toBe(404);
    const wrong = await call('/sdapi/v1/txt2img');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('reports progress with an ETA and forwards interrupts', async () => {
    const { backend, call } = await start();
    const idle = await (await call('/sdapi/v1/progress')).json();
    expect(idle).toMatchObject({ progress: 0, eta_relative: 0, current_image: null, state: { job_count: 0, sampling_steps: 0 } });
    backend.queue = { active: { id: '7', step: 3, totalSteps: 10, startedAt: Date.now() - 3000 }, running: 2, waiting: 5 };
    const p = await (await call('/sdapi/v1/progress')).json();
    expect(p.progress).toBeCloseTo(0.3);
    expect(p.eta_relative).toBeGreaterThan(6); // 3 s for 30 %: about 7 s to go
    expect(p.eta_relative).toBeLessThan(8);
    expect(p.state).toMatchObject({ job: '7', job_count: 7, sampling_step: 3, sampling_steps: 10 });
    const r = await call('/sdapi/v1/interrupt', { method: 'POST' });
    expect([r.status, await r.json()]).toEqual([200, {}]);
    expect(backend.interrupts).toBe(1);
  });

  it('turns a failed generation into a 500 with the reason', async () => {
    const { backend, post } = await start();
    backend.fail = new Error('device lost');
    const r = await post('/sdapi/v1/txt2img', { prompt: 'x', width: 64, height: 64 });
    expect(r.status).toBe(500);
    expect(await r.json()).toEqual({ error: 'GenerationError', detail: 'device lost', field: null });
  });
});
