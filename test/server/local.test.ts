/**
 * Single-process mode on the tiny fixture model: the HTTP API's images are byte-identical to the library's for the
 * same parameters (txt2img and img2img), requests run one at a time in arrival order, and progress and interrupt
 * reach the running generation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { type GenerateOptions, type Img2ImgOptions, StableDiffusion } from '@sd-webgpu/pipeline';
import { type GenerationModel, LocalBackend, createApiServer, parseA1111Request } from '@sd-webgpu/server';
import { testDevice } from '../helpers/device';
import { getProgress, libraryImages, patternPng, postJson } from '../helpers/server';
import { TINY_PATHS } from '../helpers/tiny';

let sd: StableDiffusion;
let server: Server;
let base: string;
const calls: Array<{ seed: unknown; start: number; end: number }> = [];

beforeAll(async () => {
  sd = await StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice() });
  const record = async <T>(seed: unknown, f: () => Promise<T>) => {
    const c = { seed, start: performance.now(), end: 0 };
    calls.push(c);
    try {
      return await f();
    } finally {
      c.end = performance.now();
    }
  };
  const model: GenerationModel = {
    txt2img: (o: GenerateOptions) => record(o.seed, () => sd.txt2img(o)),
    img2img: (o: Img2ImgOptions) => record(o.seed, () => sd.img2img(o)),
  };
  server = createApiServer({ backend: new LocalBackend(model), model: { title: 'tiny-sd', filename: TINY_PATHS.folder } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  sd?.dispose();
});

describe('sd-webgpu-server, single process', () => {
  it('serves txt2img requests in order, one at a time, with the library\'s exact images', async () => {
    const bodies = [
      { prompt: 'a red cube', steps: 2, width: 64, height: 64, seed: 11, sampler_name: 'Euler a' },
      { prompt: 'a blue ball', negative_prompt: 'blurry', steps: 2, width: 64, height: 64, seed: 12, cfg_scale: 1, batch_size: 2, sampler_name: 'DPM++ 2M Karras' },
    ];
    calls.length = 0;
    const results = await Promise.all(bodies.map((b) => postJson(base, '/sdapi/v1/txt2img', b)));
    expect(calls.map((c) => c.seed)).toEqual([11, 12]);
    expect(calls[1]!.start).toBeGreaterThanOrEqual(calls[0]!.end);
    for (const [i, r] of results.entries()) {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.images).toEqual(await libraryImages(sd, parseA1111Request('txt2img', bodies[i]).spec));
    }
    expect(results[1]!.images).toHaveLength(2);
    expect(results[1]!.info).toMatchObject({ seed: 12, all_seeds: [12, 12], negative_prompt: 'blurry', sampler_name: 'DPM++ 2M Karras' });
  });

  it('serves img2img with the library\'s exact image', async () => {
    const body = { prompt: 'a painting', steps: 4, denoising_strength: 0.5, seed: 5, sampler_name: 'DDIM', init_images: [patternPng()] };
    const r = await postJson(base, '/sdapi/v1/img2img', body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.images).toEqual(await libraryImages(sd, parseA1111Request('img2img', body).spec));
    expect(r.parameters).toMatchObject({ denoising_strength: 0.5, width: 64, height: 64, init_images: null });
  });

  it('reports the running job\'s progress and interrupts it after the current step', async () => {
    const long = postJson(base, '/sdapi/v1/txt2img', { prompt: 'x', steps: 400, width: 64, height: 64, seed: 1 });
    let p = await getProgress(base);
    while (!(p.progress > 0)) {
      await new Promise((r) => setTimeout(r, 50));
      p = await getProgress(base);
    }
    expect(p.state).toMatchObject({ job_count: 1 });
    expect(p.eta_relative).toBeGreaterThan(0);
    const stopped = await fetch(`${base}/sdapi/v1/interrupt`, { method: 'POST' });
    expect(stopped.status).toBe(200);
    const r = await long;
    expect(r.status).toBe(200);
    expect(r.images).toEqual([]);
    expect(r.info.interrupted).toBe(true);
    expect((await getProgress(base)).progress).toBe(0);
  });
});
