/**
 * The tiny random SD 1.x VAE (test/fixtures/models/tiny-sd/vae, README section 7) against the f64 diffusers
 * references: vae_decode_* and vae_encode_* with their recorded intermediate activations, from the diffusers folder
 * (F32 weights) and from the original single file (F16 weights, CompVis names, 1x1-conv attention), in f32 and f16.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { type Device, type Tensor } from '@sd-webgpu/tensor';
import { openCheckpoint } from '../../../packages/models/src/checkpoint';
import { AutoencoderKL } from '../../../packages/models/src/vae/vae';
import { rootScope } from '../../../packages/models/src/weights/scope';
import type { WeightDType } from '../../../packages/models/src/weights/store';
import { loadTiny, type TinySource } from '../../helpers/tiny';
import { createDevice, testDevice } from '../../helpers/device';
import { type FixtureCase, asFloat32, expectClose, fixturePath, loadCase } from '../../helpers/fixtures';
import { TapRecorder, errorScale, upload } from '../unet/helpers';

const DECODE = ['vae_decode_8x8', 'vae_decode_8x12'];
const ENCODE = ['vae_encode_64x64', 'vae_encode_48x80'];

/**
 * README 2: VAE decode / encode within 1e-4 of max(1, max|ref|) for f32 kernels against the f64 reference (torch's own
 * f32 run lands ~2e-6 away, `attrs.f32_vs_f64_maxabs`); intermediate activations get the same bound relative to
 * their own scale.
 */
const F32_TOLERANCE = 1e-4;
/** README 2: an f16-storage / f32-accumulate VAE within 2e-2 of max(1, max|ref|). */
const F16_TOLERANCE = 2e-2;

/** The tiny VAE from `source` ('folder' or 'single'), loaded once per source and dtype, strictly accounted. */
function tinyVae(dev: Device, source: TinySource, dtype: WeightDType): Promise<AutoencoderKL> {
  return loadTiny(dev, 'vae', source, dtype, (scope, configs) => new AutoencoderKL(scope, configs.vae));
}

interface Run {
  outputs: Map<string, { data: Float32Array; shape: readonly number[] }>;
  acts: Map<string, Float32Array>;
}

async function readAll(named: [string, Tensor][]): Promise<Run['outputs']> {
  const out: Run['outputs'] = new Map();
  for (const [name, t] of named) {
    out.set(name, { data: await t.float32(), shape: t.shape });
    t.dispose();
  }
  return out;
}

/** Decodes `in.z` (or `in.latents` through `decodeLatents`) → outputs `image`. */
async function runDecode(dev: Device, vae: AutoencoderKL, c: FixtureCase, dtype: WeightDType, o: { taps?: boolean; fromLatents?: boolean } = {}): Promise<Run> {
  const rec = new TapRecorder();
  const taps = o.taps ? rec.taps : undefined;
  const x = upload(dev, o.fromLatents ? c.inputs.latents! : c.inputs.z!, dtype);
  const image = o.fromLatents ? vae.decodeLatents(x, taps) : vae.decode(x, taps);
  x.dispose();
  const outputs = await readAll([['image', image]]);
  await dev.sync();
  return { outputs, acts: await rec.results() };
}

/** Encodes `in.image` → outputs `mean`, `logvar`, `std`. */
async function runEncode(dev: Device, vae: AutoencoderKL, c: FixtureCase, dtype: WeightDType, withTaps: boolean): Promise<Run> {
  const rec = new TapRecorder();
  const x = upload(dev, c.inputs.image!, dtype);
  const { mean, logvar, std } = vae.encode(x, withTaps ? rec.taps : undefined);
  x.dispose();
  const outputs = await readAll([['mean', mean], ['logvar', logvar], ['std', std]]);
  await dev.sync();
  return { outputs, acts: await rec.results() };
}

/**
 * Every `out.<name>` of the run and, for a run with taps, every `out.act.*` of the case (which must all have been
 * tapped).
 */
function compareRun(c: FixtureCase, run: Run, tol: number, label: string, o: { acts: boolean }): void {
  for (const [name, got] of run.outputs) {
    const ref = c.outputs[name]!;
    expect(got.shape, `${label} ${name} shape`).toEqual(ref.shape);
    const want = asFloat32(ref);
    expectClose(got.data, want, { atol: tol * errorScale(want), shape: ref.shape }, `${label} out.${name}`);
  }
  if (!o.acts) return;
  for (const key of Object.keys(c.outputs).filter((k) => k.startsWith('act.'))) {
    const act = key.slice(4);
    const got = run.acts.get(act);
    expect(got, `${label}: tap ${act}`).toBeDefined();
    const want = asFloat32(c.outputs[key]!);
    expectClose(got!, want, { atol: tol * errorScale(want), shape: c.outputs[key]!.shape }, `${label} act.${act}`);
  }
}

describe('tiny VAE from the diffusers folder, f32', () => {
  for (const name of DECODE) {
    it(`${name}: out.image and out.act.*`, async () => {
      const dev = await testDevice();
      const vae = await tinyVae(dev, 'folder', 'f32');
      const c = await loadCase(`models/${name}`);
      const run = await runDecode(dev, vae, c, 'f32', { taps: true });
      if (name === 'vae_decode_8x8') {
        // The recorded activations: post_quant_conv, decoder conv_in, mid_block, up_blocks.0 and .1.
        expect(Object.keys(c.outputs).filter((k) => k.startsWith('act.')).length).toBe(5);
      }
      compareRun(c, run, F32_TOLERANCE, name, { acts: true });
      // Taps beyond the recorded ones exist and have the decoder's shapes.
      expect(run.acts.get('decoder.up_blocks.3')!.length).toBe(32 * c.outputs.image!.shape[2]! * c.outputs.image!.shape[3]!);
      expect(run.acts.has('decoder.conv_norm_out')).toBe(true);
    });
  }

  it('decodeLatents(in.latents) = decode(in.z) up to the scaling rounding (vae_decode_8x12)', async () => {
    const dev = await testDevice();
    const vae = await tinyVae(dev, 'folder', 'f32');
    expect(vae.cfg.scalingFactor).toBe(0.18215);
    const c = await loadCase('models/vae_decode_8x12');
    const run = await runDecode(dev, vae, c, 'f32', { fromLatents: true });
    compareRun(c, run, F32_TOLERANCE, 'vae_decode_8x12 from latents', { acts: false });
  });

  for (const name of ENCODE) {
    it(`${name}: out.mean, out.logvar, out.std, out.moments and out.act.*`, async () => {
      const dev = await testDevice();
      const vae = await tinyVae(dev, 'folder', 'f32');
      const c = await loadCase(`models/${name}`);
      const run = await runEncode(dev, vae, c, 'f32', true);
      expect(Object.keys(c.outputs).filter((k) => k.startsWith('act.')).length).toBe(9);
      compareRun(c, run, F32_TOLERANCE, name, { acts: true });
      // out.moments is the quant_conv output (also recorded as act.quant_conv).
      const want = asFloat32(c.outputs.moments!);
      expectClose(run.acts.get('quant_conv')!, want, { atol: F32_TOLERANCE * errorScale(want) }, `${name} out.moments`);
    });
  }
});

describe('encode input: the PNG decodes to the stored in.image', () => {
  for (const name of ENCODE) {
    it(`${name}: png/255*2-1 (f32, as torch computes it) equals in.image exactly`, async (ctx) => {
      let PNG: { sync: { read(b: Buffer): { width: number; height: number; data: Buffer } } } | null = null;
      try {
        ({ PNG } = await import('pngjs'));
      } catch (e) {
        // a devDependency: `npm ci` installs it, so in CI its absence is a failure
        if (process.env.CI) throw e;
        ctx.skip('pngjs is not installed');
      }
      const c = await loadCase(`models/${name}`);
      const png = PNG!.sync.read(await readFile(fixturePath(c.attrs.png)));
      const [, , h, w] = c.inputs.image!.shape as [number, number, number, number];
      expect([png.height, png.width]).toEqual([h, w]);
      const f = Math.fround;
      const fromPng = new Float32Array(3 * h * w);
      const hwc = c.inputs.image_u8_hwc!.toNumbers();
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let ch = 0; ch < 3; ch++) {
            const u8 = png.data[(y * w + x) * 4 + ch]!;
            expect(u8).toBe(hwc[(y * w + x) * 3 + ch]);
            fromPng[ch * h * w + y * w + x] = f(f(f(u8 / 255) * 2) - 1);
          }
        }
      }
      // Same f32 operations in the same order as torch (u8 → f32, / 255, * 2, - 1): bit-identical.
      expectClose(fromPng, asFloat32(c.inputs.image!), { atol: 0 }, `${name} in.image from the PNG`);
    });
  }
});

describe('tiny VAE from the original single file', () => {
  it('loads through the checkpoint API and gives the folder model\'s outputs (decode 8x12, encode 48x80)', async () => {
    const dev = await testDevice();
    const folder = await tinyVae(dev, 'folder', 'f32');
    const single = await tinyVae(dev, 'single', 'f32');
    expect(single.parameterCount()).toBe(folder.parameterCount());
    // The single file's mid attention came as [C, C, 1, 1] conv kernels; the keymap squeezed them.
    expect(single.decoder.mid_block.attentions[0].to_q.weight.shape).toEqual([64, 64]);
    const dc = await loadCase('models/vae_decode_8x12');
    const ec = await loadCase('models/vae_encode_48x80');
    const runs = [
      [dc, await runDecode(dev, folder, dc, 'f32'), await runDecode(dev, single, dc, 'f32')],
      [ec, await runEncode(dev, folder, ec, 'f32', false), await runEncode(dev, single, ec, 'f32', false)],
    ] as const;
    for (const [c, a, b] of runs) {
      // Same f16-exact weights, same kernels, same dispatches: the results are bit-identical.
      for (const [name, got] of b.outputs) {
        expectClose(got.data, a.outputs.get(name)!.data, { atol: 0, shape: got.shape }, `${c.name} ${name} single file vs folder`);
      }
      compareRun(c, b, F32_TOLERANCE, `${c.name} single file`, { acts: false });
    }
  });
});

describe('tiny VAE in f16', () => {
  for (const name of [...DECODE, ...ENCODE]) {
    it(`${name} within ${F16_TOLERANCE}`, async (ctx) => {
      const dev = await testDevice();
      if (!dev.features.f16) ctx.skip('tiny VAE f16: no shader-f16 on this adapter');
      const vae = await tinyVae(dev, 'folder', 'f16');
      expect(vae.dtype).toBe('f16');
      const c = await loadCase(`models/${name}`);
      const run = name.startsWith('vae_decode') ? await runDecode(dev, vae, c, 'f16') : await runEncode(dev, vae, c, 'f16', false);
      compareRun(c, run, F16_TOLERANCE, `${name} f16`, { acts: false });
    });
  }
});

describe('tiny VAE with a 256 KiB binding limit', () => {
  it('splits the large tensors (up to 1 MiB here) and still meets the references (decode 8x8, encode 64x64)', async () => {
    const dev = await createDevice({ maxStorageBufferBindingSize: 256 << 10 });
    try {
      const ckpt = await openCheckpoint(fixturePath('models/tiny-sd'));
      const store = await ckpt.loadComponent('vae', dev, 'f32');
      const vae = new AutoencoderKL(rootScope(store), ckpt.configs().vae);
      store.finish();
      await ckpt.close();
      const dc = await loadCase('models/vae_decode_8x8');
      const ec = await loadCase('models/vae_encode_64x64');
      compareRun(dc, await runDecode(dev, vae, dc, 'f32'), F32_TOLERANCE, 'vae_decode_8x8 split', { acts: false });
      compareRun(ec, await runEncode(dev, vae, ec, 'f32', false), F32_TOLERANCE, 'vae_encode_64x64 split', { acts: false });
      vae.dispose();
    } finally {
      dev.dispose();
    }
  });
});

describe('AutoencoderKL input checks', () => {
  it('rejects wrong channels, dtypes and sizes with a message naming them', async () => {
    const dev = await testDevice();
    const vae = await tinyVae(dev, 'folder', 'f32');
    dev.scope(() => {
      expect(() => vae.encode(dev.empty([1, 4, 16, 16]))).toThrow(/AutoencoderKL.encode: expected image \[B, 3, H, W\]/);
      expect(() => vae.encode(dev.empty([1, 3, 4, 16]))).toThrow(/smaller than 8x8/);
      expect(() => vae.decode(dev.empty([1, 3, 8, 8]))).toThrow(/AutoencoderKL.decode: expected z \[B, 4, H, W\]/);
      expect(() => vae.decode(dev.empty([1, 4, 8]))).toThrow(/expected z \[B, 4, H, W\]/);
      if (dev.features.f16) {
        expect(() => vae.decode(dev.empty([1, 4, 8, 8], 'f16'))).toThrow(/z is f16 but the weights are f32/);
      }
    });
  });

  it('a batch of 2 decodes each row like a batch of 1', async () => {
    const dev = await testDevice();
    const vae = await tinyVae(dev, 'folder', 'f32');
    const c = await loadCase('models/vae_decode_8x8');
    const z = asFloat32(c.inputs.z!);
    const twice = new Float32Array(2 * z.length);
    twice.set(z);
    twice.set(z.map((v) => -v), z.length);
    const both = dev.tensor(twice, [2, 4, 8, 8]);
    const one = dev.tensor(z.map((v) => -v), [1, 4, 8, 8]);
    const [yb, y1] = [vae.decode(both), vae.decode(one)];
    const [b, r1] = [await yb.float32(), await y1.float32()];
    const want = asFloat32(c.outputs.image!);
    // Rows never mix (per-sample norms and attention): row 0 meets the reference, row 1 the batch-1 run to 1e-6.
    expectClose(b.subarray(0, want.length), want, { atol: F32_TOLERANCE * errorScale(want) }, 'batch row 0');
    expectClose(b.subarray(want.length), r1, { atol: 1e-6 }, 'batch row 1');
    for (const t of [both, one, yb, y1]) t.dispose();
  });
});
