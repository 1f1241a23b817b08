import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '@sd-webgpu/tensor';
import { openCheckpoint, type Checkpoint } from '../../../packages/models/src/checkpoint';
import type { ConfigOverrides } from '../../../packages/models/src/configs';
import { COMPONENTS, type Component } from '../../../packages/models/src/keymap';
import { openSafetensors } from '../../../packages/models/src/safetensors';
import { WeightScope } from '../../../packages/models/src/weights/scope';
import type { TensorStore } from '../../../packages/models/src/weights/store';
import { fixturePath } from '../../helpers/fixtures';
import { testDevice } from '../../helpers/device';
import { clipShapes, describeShapes, unetShapes, vaeShapes } from './shapes';

const FOLDER = fixturePath('models/tiny-sd');
const SINGLE = fixturePath('models/tiny-sd-v1-original.safetensors');
/** What the tiny model's shapes cannot tell (README 7.1): CLIP has 4 heads of 16, sample sizes are 8 / 64. */
const TINY_OVERRIDES: ConfigOverrides = {
  textEncoder: { numAttentionHeads: 4 },
  unet: { sampleSize: 8 },
  vae: { sampleSize: 64 },
};

let device: Device;
let folder: Checkpoint;
let single: Checkpoint;

beforeAll(async () => {
  device = await testDevice();
  folder = await openCheckpoint(FOLDER);
  single = await openCheckpoint(SINGLE, { configs: TINY_OVERRIDES });
});

afterAll(async () => {
  await folder?.close();
  await single?.close();
});

function expectedShapes(ckpt: Checkpoint, c: Component): Map<string, number[]> {
  const cfg = ckpt.configs();
  if (c === 'unet') return unetShapes(cfg.unet);
  if (c === 'vae') return vaeShapes(cfg.vae);
  return clipShapes(cfg.textEncoder);
}

/** Takes every expected weight through a scope, as the network modules will, then checks the accounts. */
function consumeAll(store: TensorStore, expected: Map<string, number[]>): void {
  const root = new WeightScope(store);
  for (const [key, shape] of expected) {
    const parts = key.split('.');
    let s = root;
    for (const p of parts.slice(0, -1)) s = s.pp(p);
    expect(s.key(parts[parts.length - 1]!)).toBe(key);
    const t = s.get(parts[parts.length - 1]!, shape);
    expect(t.shape).toEqual(shape);
    expect(t.dtype).toBe(store.dtype);
  }
  expect(store.unusedKeys()).toEqual([]);
  store.finish();
}

/** Index of the first element whose f32 bits differ (-1 when identical); vitest's deep equality is too slow for 3M. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

function disposeAll(store: TensorStore): void {
  for (const k of store.keys()) {
    const shape = store.shapeOf(k)!;
    store.take(k, shape).dispose();
  }
}

describe('openCheckpoint', () => {
  it('detects both layouts and gives the same configs', () => {
    expect(folder.layout).toBe('diffusers');
    expect(single.layout).toBe('single-file');
    const f = folder.configs();
    const s = single.configs();
    expect(s.unet).toEqual(f.unet);
    expect(s.vae).toEqual(f.vae);
    expect(s.textEncoder).toEqual(f.textEncoder);
    expect(f.unet.numAttentionHeads).toBe(8);
    expect(f.textEncoder.numAttentionHeads).toBe(4);
    expect(f.scheduler?._class_name).toBe('PNDMScheduler');
    expect(f.scheduler?.beta_schedule).toBe('scaled_linear');
    expect(s.scheduler).toBeNull();
  });

  it('reads tokenizer files from folders only', async () => {
    const tok = await folder.tokenizerFiles();
    expect(tok).not.toBeNull();
    expect(JSON.parse(tok!.vocab)['<|startoftext|>']).toBe(49406);
    expect(tok!.merges.split('\n')[1]).toBe('i n');
    expect(await single.tokenizerFiles()).toBeNull();
  });

  it('lists the same component keys and shapes in both layouts, matching the configs', async () => {
    for (const c of COMPONENTS) {
      const fromFolder = await folder.componentShapes(c);
      const fromSingle = await single.componentShapes(c);
      const expected = expectedShapes(folder, c);
      expect(describeShapes(fromFolder), c).toEqual(describeShapes(expected));
      expect(describeShapes(fromSingle), c).toEqual(describeShapes(expected));
    }
  });
});

describe('loadComponent', () => {
  it('loads every component of both layouts with strict accounting (f32)', async () => {
    for (const ckpt of [folder, single]) {
      for (const c of COMPONENTS) {
        const store = await ckpt.loadComponent(c, device, 'f32');
        expect(store.dtype).toBe('f32');
        consumeAll(store, expectedShapes(ckpt, c));
        disposeAll(store);
      }
    }
  });

  it('gives bit-identical tensors in both layouts and equal to the file values', async () => {
    const picks: Record<Component, string[]> = {
      unet: ['conv_in.weight', 'down_blocks.1.resnets.0.conv_shortcut.weight', 'up_blocks.2.upsamplers.0.conv.bias',
        'mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight', 'time_embedding.linear_1.weight'],
      vae: ['decoder.mid_block.attentions.0.to_q.weight', 'decoder.up_blocks.3.resnets.0.conv_shortcut.weight',
        'encoder.conv_norm_out.bias', 'decoder.up_blocks.0.upsamplers.0.conv.weight'],
      text_encoder: ['text_model.embeddings.token_embedding.weight', 'text_model.encoder.layers.2.mlp.fc2.weight'],
    };
    const files: Record<Component, string> = {
      unet: 'unet/diffusion_pytorch_model.safetensors',
      vae: 'vae/diffusion_pytorch_model.safetensors',
      text_encoder: 'text_encoder/model.safetensors',
    };
    for (const c of COMPONENTS) {
      const a = await folder.loadComponent(c, device, 'f32');
      const b = await single.loadComponent(c, device, 'f32');
      const raw = await openSafetensors(`${FOLDER}/${files[c]}`);
      try {
        for (const key of picks[c]) {
          const shape = a.shapeOf(key)!;
          const x = await a.take(key, shape).float32();
          const y = await b.take(key, shape).float32();
          const fileValues = await raw.readFloat32(key);
          expect(x.length).toBe(fileValues.length);
          expect(firstBitDifference(x, y), `${c} ${key}: layouts differ`).toBe(-1);
          expect(firstBitDifference(x, fileValues), `${c} ${key}: differs from the file`).toBe(-1);
        }
      } finally {
        await raw.close();
        disposeAll(a);
        disposeAll(b);
      }
    }
  });

  it('converts to f16 on load (f32 fallback without shader-f16) and the values survive', async () => {
    for (const c of ['vae', 'unet'] as const) {
      const store = await single.loadComponent(c, device, 'f16');
      const ref = await folder.loadComponent(c, device, 'f32');
      expect(store.dtype).toBe(device.features.f16 ? 'f16' : 'f32');
      const key = c === 'vae' ? 'decoder.mid_block.attentions.0.to_v.weight' : 'down_blocks.0.attentions.0.proj_out.weight';
      const shape = store.shapeOf(key)!;
      // The tiny model's weights are exactly representable in f16 (fixtures README 7.1): the conversion is exact.
      const x = await store.take(key, shape).float32();
      expect(firstBitDifference(x, await ref.take(key, shape).float32())).toBe(-1);
      expect(x.some((v) => v !== 0)).toBe(true);
      disposeAll(store);
      disposeAll(ref);
    }
  });

  it('reports progress in file bytes', async () => {
    const seen: number[] = [];
    let total = 0;
    const store = await folder.loadComponent('text_encoder', device, 'f32', {
      onProgress: (done, all) => {
        seen.push(done);
        total = all;
      },
    });
    expect(seen.length).toBe(store.size);
    expect(seen[seen.length - 1]).toBe(total);
    expect(seen.every((v, i) => i === 0 || v > seen[i - 1]!)).toBe(true);
    disposeAll(store);
  });

  it('loads a browser-style file map of the folder', async () => {
    const { readFile, readdir } = await import('node:fs/promises');
    const map = new Map<string, Blob>();
    for (const dir of ['', 'unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler']) {
      for (const name of await readdir(`${FOLDER}/${dir}`, { withFileTypes: true })) {
        if (!name.isFile()) continue;
        const rel = dir ? `${dir}/${name.name}` : name.name;
        map.set(`tiny-sd/${rel}`, new Blob([new Uint8Array(await readFile(`${FOLDER}/${rel}`))]));
      }
    }
    const ckpt = await openCheckpoint(map, { name: 'picked' });
    expect(ckpt.layout).toBe('diffusers');
    expect(ckpt.name).toBe('picked/tiny-sd');
    expect(ckpt.configs().unet).toEqual(folder.configs().unet);
    const store = await ckpt.loadComponent('vae', device, 'f32');
    consumeAll(store, expectedShapes(ckpt, 'vae'));
    disposeAll(store);
    expect((await ckpt.tokenizerFiles())?.merges.length).toBeGreaterThan(1000);
  });

  it('opens a single file given as a File, and a folder and a file served over HTTP ranges', async () => {
    const { readFile } = await import('node:fs/promises');
    const bytes = new Uint8Array(await readFile(SINGLE));
    const asFile = await openCheckpoint(new File([bytes], 'tiny.safetensors'), { configs: TINY_OVERRIDES });
    expect(asFile.layout).toBe('single-file');
    expect(asFile.name).toBe('tiny.safetensors');
    expect(asFile.configs().textEncoder).toEqual(folder.configs().textEncoder);

    // A fake server over the fixture folder that honours Range requests, as the browser path would meet.
    const requested: string[] = [];
    const cache = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();
    const serve = (path: string) => {
      if (!cache.has(path)) cache.set(path, readFile(path).then((b) => new Uint8Array(b)));
      return cache.get(path)!;
    };
    const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      requested.push(url);
      const rel = url.replace('https://models.example/', '');
      const body = await serve(rel === 'single.safetensors' ? SINGLE : `${FOLDER}/${rel}`);
      const range = new Headers(init?.headers).get('range');
      const m = range ? /bytes=(\d+)-(\d+)/.exec(range) : null;
      if (!m) return new Response(body, { status: 200 });
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), body.length - 1);
      return new Response(body.slice(start, end + 1), {
        status: 206,
        headers: { 'content-range': `bytes ${start}-${end}/${body.length}` },
      });
    }) as typeof fetch;
    const remote = await openCheckpoint('https://models.example/single.safetensors', { configs: TINY_OVERRIDES, fetch: fakeFetch });
    const store = await remote.loadComponent('text_encoder', device, 'f32');
    consumeAll(store, expectedShapes(remote, 'text_encoder'));
    disposeAll(store);
    await remote.close();

    const files = ['model_index.json', 'unet/config.json', 'unet/diffusion_pytorch_model.safetensors', 'vae/config.json',
      'vae/diffusion_pytorch_model.safetensors', 'text_encoder/config.json', 'text_encoder/model.safetensors',
      'scheduler/scheduler_config.json'];
    const urlMap = Object.fromEntries(files.map((f) => [f, `https://models.example/${f}`]));
    const remoteFolder = await openCheckpoint(urlMap, { fetch: fakeFetch });
    expect(remoteFolder.configs()).toEqual(folder.configs());
    const unet = await remoteFolder.loadComponent('unet', device, 'f32');
    consumeAll(unet, expectedShapes(remoteFolder, 'unet'));
    disposeAll(unet);
    expect(await remoteFolder.tokenizerFiles()).toBeNull();
    expect(requested).toContain('https://models.example/unet/config.json');
  });

  it('downloads a single file once from a server that ignores Range requests', async () => {
    const { readFile } = await import('node:fs/promises');
    const body = new Uint8Array(await readFile(SINGLE));
    let downloads = 0;
    const noRange = (async () => {
      downloads++;
      return new Response(body, { status: 200 });
    }) as typeof fetch;
    const remote = await openCheckpoint('https://models.example/single.safetensors', { configs: TINY_OVERRIDES, fetch: noRange });
    const store = await remote.loadComponent('text_encoder', device, 'f32');
    consumeAll(store, expectedShapes(remote, 'text_encoder'));
    disposeAll(store);
    await remote.close();
    expect(downloads).toBe(1);
  });
});
