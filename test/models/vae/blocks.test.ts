/**
 * The VAE's building blocks against the f64 diffusers references in test/fixtures/blocks (README section 6):
 * time-unconditioned resnets (eps 1e-6), the single-head mid-block attention, the pad-right/bottom downsampler,
 * and the posterior kernel against its CPU reference.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Device, type Tensor } from '@sd-webgpu/tensor';
import { disposeModule } from '../../../packages/models/src/nn/module';
import { Downsample2D, VAE_DOWNSAMPLE_PADDING } from '../../../packages/models/src/unet/resample';
import { VaeAttention } from '../../../packages/models/src/vae/attention';
import { vaeResnet } from '../../../packages/models/src/vae/mid_block';
import { LOGVAR_MAX, LOGVAR_MIN, diagonalGaussian, diagonalGaussianReference } from '../../../packages/models/src/vae/posterior';
import { type WeightScope, rootScope } from '../../../packages/models/src/weights/scope';
import { testDevice } from '../../helpers/device';
import { type FixtureCase, asFloat32, expectClose, fixturePath, loadCase } from '../../helpers/fixtures';
import { errorScale, storeFromCase, upload } from '../unet/helpers';

const cases = (prefix: string): string[] =>
  readdirSync(fixturePath('blocks'))
    .filter((f) => f.startsWith(prefix) && f.endsWith('.safetensors'))
    .map((f) => `blocks/${f.replace(/\.safetensors$/, '')}`)
    .sort();

/**
 * Builds the module from the case's weights (strict: every `w.*` must be taken), runs it on `in.x`, compares `out.y`.
 * Tolerance: README section 2, blocks/* at 5e-5 of max(1, max|ref|); the references are f64 evaluations and torch's
 * own f32 run lands within `attrs.f32_vs_f64_maxabs` (≤ ~1e-5) of them.
 */
async function checkBlock(name: string, build: (c: FixtureCase, scope: WeightScope) => { forward(x: Tensor): Tensor }) {
  const dev = await testDevice();
  const c = await loadCase(name);
  const store = storeFromCase(dev, c, 'f32');
  const module = build(c, rootScope(store));
  store.finish();
  const x = upload(dev, c.inputs.x!, 'f32');
  const y = module.forward(x);
  expect(y.shape).toEqual(c.outputs.y!.shape);
  const got = await y.float32();
  for (const t of [x, y]) t.dispose();
  disposeModule(module);
  const want = asFloat32(c.outputs.y!);
  expectClose(got, want, { atol: 5e-5 * errorScale(want), shape: c.outputs.y!.shape }, name);
}

describe('VAE ResnetBlock2D (blocks/resnet_vae_*)', () => {
  const names = cases('resnet_vae_');
  it('has the fixture cases', () => expect(names.length).toBeGreaterThanOrEqual(2));
  for (const name of names) {
    it(name, () =>
      checkBlock(name, (c, scope) => {
        expect(c.attrs.temb_channels ?? null).toBeNull();
        return vaeResnet(scope, { groups: c.attrs.groups, eps: c.attrs.eps }, c.attrs.in_channels, c.attrs.out_channels);
      }));
  }
});

describe('VaeAttention (blocks/vae_attention_*)', () => {
  const names = cases('vae_attention_');
  it('has the fixture cases', () => expect(names.length).toBeGreaterThanOrEqual(2));
  for (const name of names) {
    it(name, () =>
      checkBlock(name, (c, scope) => {
        expect(c.attrs.heads).toBe(1);
        return new VaeAttention(scope, { channels: c.attrs.channels, groups: c.attrs.groupnorm_groups, eps: c.attrs.eps });
      }));
  }

  it('rejects an input with the wrong channel count', async () => {
    const dev = await testDevice();
    const c = await loadCase(cases('vae_attention_')[0]!);
    const store = storeFromCase(dev, c, 'f32');
    const attn = new VaeAttention(rootScope(store), { channels: c.attrs.channels, groups: 32, eps: 1e-6 });
    const x = dev.empty([1, c.attrs.channels + 32, 2, 2]);
    expect(() => attn.forward(x)).toThrow(/VaeAttention: expected x \[B, \d+, H, W\]/);
    x.dispose();
    disposeModule(attn);
  });
});

describe('VAE Downsample2D (blocks/downsample2d_vae_*)', () => {
  const names = cases('downsample2d_vae_');
  it('has the fixture cases', () => expect(names.length).toBeGreaterThanOrEqual(2));
  for (const name of names) {
    it(name, () =>
      checkBlock(name, (c, scope) => {
        expect(c.attrs.padding).toBe(0); // diffusers' VAE variant: explicit (0, 1, 0, 1) pad, then no conv padding
        return new Downsample2D(scope, c.attrs.channels, VAE_DOWNSAMPLE_PADDING);
      }));
  }
});

describe('diagonalGaussian (posterior kernel)', () => {
  /** Moments spanning both clamp bounds, deterministic. */
  function moments(n: number): Float32Array {
    let s = 12345;
    return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 120 - 60);
  }

  async function check(dev: Device, shape: number[], dtype: 'f32' | 'f16') {
    const n = shape.reduce((a, b) => a * b, 1);
    const host = moments(n);
    const m = dev.tensor(host, shape, dtype);
    const stored = await m.float32(); // f16 rounds the inputs: the reference starts from what the GPU holds
    const { mean, logvar, std } = diagonalGaussian(m);
    const want = diagonalGaussianReference(stored, shape);
    const half = [shape[0]!, shape[1]! / 2, shape[2]!, shape[3]!];
    for (const [label, t, ref] of [['mean', mean, want.mean], ['logvar', logvar, want.logvar], ['std', std, want.std]] as const) {
      expect(t.shape, label).toEqual(half);
      expect(t.dtype).toBe(dtype);
      const got = await t.float32();
      // mean and logvar are copies / clamps (exact up to the storage rounding); std is one f32 exp, which WGSL
      // allows 3 + 2|x| ulp (|x| ≤ 15 here: 33 ulp ≈ 4e-6 relative), plus one f16 rounding in f16 (2^-11 relative, or
      // half the 2^-24 subnormal spacing near exp(-15)).
      const tol = dtype === 'f32' ? { atol: 0, rtol: 4e-6 } : { atol: 2 ** -24, rtol: 1e-3 };
      expectClose(got, Float32Array.from(ref), { ...tol, shape: half }, `${dtype} ${label} ${shape.join('x')}`);
    }
    expect(Math.min(...(await logvar.float32()))).toBe(LOGVAR_MIN);
    expect(Math.max(...(await logvar.float32()))).toBe(LOGVAR_MAX);
    for (const t of [m, mean, logvar, std]) t.dispose();
  }

  it('splits mean / clamped logvar / std like the reference (f32, batch 2, odd sizes)', async () => {
    const dev = await testDevice();
    await check(dev, [2, 8, 5, 7], 'f32');
    await check(dev, [1, 8, 64, 64], 'f32');
  });

  it('f16 storage', async (ctx) => {
    const dev = await testDevice();
    if (!dev.features.f16) ctx.skip('diagonalGaussian f16: no shader-f16 on this adapter');
    await check(dev, [2, 8, 5, 7], 'f16');
  });

  it('rejects moments with an odd channel count', async () => {
    const dev = await testDevice();
    const m = dev.empty([1, 7, 2, 2]);
    expect(() => diagonalGaussian(m)).toThrow(/diagonalGaussian: expected moments \[B, 2L, h, w\]/);
    m.dispose();
  });
});
