/**
 * The tiny random SD 1.x UNet (test/fixtures/models/tiny-sd/unet, README section 7) against the f64 diffusers
 * references: every unet_* case with its recorded intermediate activations, from the diffusers folder and from the
 * original single file, in f32 and f16.
 */
import { describe, expect, it } from 'vitest';
import { type Device, type Tensor } from '@sd-webgpu/tensor';
import { UNet2DConditionModel } from '../../../packages/models/src/unet/unet';
import type { WeightDType } from '../../../packages/models/src/weights/store';
import { loadTiny, type TinySource } from '../../helpers/tiny';
import { testDevice } from '../../helpers/device';
import { type FixtureCase, asFloat32, expectClose, loadCase } from '../../helpers/fixtures';
import { TapRecorder, errorScale, upload } from './helpers';

const CASES = ['unet_8x8_t1', 'unet_8x8_t500', 'unet_8x8_t999', 'unet_8x16_t1', 'unet_8x16_t500', 'unet_8x16_t999', 'unet_12x10_t500'];

/**
 * README 2 and 7.4: the UNet output within 1e-3 of max(1, max|ref|) (f32 kernels vs an f64 reference; torch's own f32
 * run is ~2e-6 away), except unet_8x8_t500 where torch f32 itself lands ~7e-4 away (GroupNorm over 2 values at the
 * 1x1 level amplifies rounding): 2e-3.
 */
const f32Tolerance = (name: string) => (name === 'unet_8x8_t500' ? 2e-3 : 1e-3);
/**
 * Intermediate activations get the output's bound relative to their own scale, except in unet_8x8_t500 from the
 * 1x1 level on (down_blocks.3 to conv_norm_out): there the 2-value GroupNorms amplify f32 rounding to ~2.5e-3 of the
 * scale (measured: 1.8e-2 at down_blocks.3, scale 7), which the following blocks attenuate again down to ~1.4e-4 at
 * the output, as torch's own f32 run does (its output lands 6.9e-4 from the f64 reference, ours 6.3e-4): 5e-3 there.
 */
const DEEP = new Set(['down_blocks.3', 'mid_block', 'up_blocks.0', 'up_blocks.1', 'up_blocks.2', 'up_blocks.3', 'conv_norm_out']);
const actTolerance = (name: string, act: string) => (name === 'unet_8x8_t500' && DEEP.has(act) ? 5e-3 : f32Tolerance(name));
/** README 2: an f16-storage / f32-accumulate UNet within 3e-2 of max(1, max|ref|). */
const F16_TOLERANCE = 3e-2;

/** The tiny UNet from `source` ('folder' or 'single'), loaded once per source and dtype, strictly accounted. */
function tinyUNet(dev: Device, source: TinySource, dtype: WeightDType): Promise<UNet2DConditionModel> {
  return loadTiny(dev, 'unet', source, dtype, (scope, configs) => new UNet2DConditionModel(scope, configs.unet));
}

interface Run {
  sample: Float32Array;
  shape: readonly number[];
  acts: Map<string, Float32Array>;
}

async function runCase(dev: Device, unet: UNet2DConditionModel, c: FixtureCase, dtype: WeightDType, withTaps: boolean): Promise<Run> {
  const rec = new TapRecorder();
  const [t] = c.inputs.timestep!.toNumbers();
  const out: Tensor = dev.scope(() =>
    unet.forward(upload(dev, c.inputs.sample!, dtype), t!, upload(dev, c.inputs.encoder_hidden_states!, dtype), withTaps ? rec.taps : undefined),
  );
  const sample = await out.float32();
  const shape = out.shape;
  out.dispose();
  await dev.sync();
  return { sample, shape, acts: await rec.results() };
}

describe('tiny UNet from the diffusers folder, f32', () => {
  for (const name of CASES) {
    it(`${name}: out.sample and every out.act.*`, async () => {
      const dev = await testDevice();
      const unet = await tinyUNet(dev, 'folder', 'f32');
      const c = await loadCase(`models/${name}`);
      const run = await runCase(dev, unet, c, 'f32', true);
      const tol = f32Tolerance(name);
      const actNames = Object.keys(c.outputs).filter((k) => k.startsWith('act.')).map((k) => k.slice(4));
      // Compare in forward order so that the first failure names the first block that drifts.
      const order = ['time_proj', 'time_embedding', 'conv_in', ...[0, 1, 2, 3].map((i) => `down_blocks.${i}`), 'mid_block',
        ...[0, 1, 2, 3].map((i) => `up_blocks.${i}`), 'conv_norm_out', 'conv_out'];
      expect([...actNames].sort()).toEqual([...order].sort());
      for (const act of order) {
        const ref = c.outputs[`act.${act}`]!;
        const got = run.acts.get(act);
        expect(got, `tap ${act}`).toBeDefined();
        const want = asFloat32(ref);
        expectClose(got!, want, { atol: actTolerance(name, act) * errorScale(want), shape: ref.shape }, `${name} act.${act}`);
      }
      const want = asFloat32(c.outputs.sample!);
      expect(run.shape).toEqual(c.outputs.sample!.shape);
      expectClose(run.sample, want, { atol: tol * errorScale(want), shape: run.shape }, `${name} out.sample`);
    });
  }
});

describe('tiny UNet from the original single file', () => {
  it('loads through the checkpoint API and gives the folder model\'s output (unet_12x10_t500, unet_8x16_t999)', async () => {
    const dev = await testDevice();
    const folder = await tinyUNet(dev, 'folder', 'f32');
    const single = await tinyUNet(dev, 'single', 'f32');
    expect(single.parameterCount()).toBe(folder.parameterCount());
    for (const name of ['unet_12x10_t500', 'unet_8x16_t999']) {
      const c = await loadCase(`models/${name}`);
      const a = await runCase(dev, folder, c, 'f32', false);
      const b = await runCase(dev, single, c, 'f32', false);
      // Same f16-exact weights, same kernels, same dispatches: the results are bit-identical.
      expectClose(b.sample, a.sample, { atol: 0, shape: b.shape }, `${name} single file vs folder`);
      const want = asFloat32(c.outputs.sample!);
      expectClose(b.sample, want, { atol: f32Tolerance(name) * errorScale(want), shape: b.shape }, `${name} single file`);
    }
  });
});

describe('tiny UNet in f16', () => {
  for (const name of CASES) {
    it(`${name}: out.sample within ${F16_TOLERANCE}`, async (ctx) => {
      const dev = await testDevice();
      if (!dev.features.f16) ctx.skip('tiny UNet f16: no shader-f16 on this adapter');
      const unet = await tinyUNet(dev, 'folder', 'f16');
      expect(unet.dtype).toBe('f16');
      const c = await loadCase(`models/${name}`);
      const run = await runCase(dev, unet, c, 'f16', false);
      const want = asFloat32(c.outputs.sample!);
      expectClose(run.sample, want, { atol: F16_TOLERANCE * errorScale(want), shape: run.shape }, `${name} f16 out.sample`);
    });
  }
});

describe('UNet2DConditionModel input checks', () => {
  it('rejects a wrong sample, context, timestep list or dtype with a message naming it', async () => {
    const dev = await testDevice();
    const unet = await tinyUNet(dev, 'folder', 'f32');
    dev.scope(() => {
      const ctx = dev.empty([2, 77, 64]);
      expect(() => unet.forward(dev.empty([2, 3, 8, 8]), 1, ctx)).toThrow(/expected sample \[B, 4, h, w\]/);
      expect(() => unet.forward(dev.empty([2, 4, 8, 8]), 1, dev.empty([1, 77, 64]))).toThrow(/expected context \[2, L, 64\]/);
      expect(() => unet.forward(dev.empty([2, 4, 8, 8]), [1, 2, 3], ctx)).toThrow(/timestep.*3 entries for a batch of 2/);
      expect(() => unet.forward(dev.empty([2, 4, 8, 8]), Number.NaN, ctx)).toThrow(/timestep.*NaN/);
      if (dev.features.f16) {
        expect(() => unet.forward(dev.empty([2, 4, 8, 8], 'f16'), 1, ctx)).toThrow(/sample is f16 but the weights are f32/);
      }
    });
  });

  it('per-sample timesteps: row i of forward(x, [1, 999]) is row i of forward(x, t_i)', async () => {
    const dev = await testDevice();
    const unet = await tinyUNet(dev, 'folder', 'f32');
    const c = await loadCase('models/unet_8x8_t500');
    const x = upload(dev, c.inputs.sample!, 'f32');
    const ctx = upload(dev, c.inputs.encoder_hidden_states!, 'f32');
    const [both, at1, at999] = [unet.forward(x, [1, 999], ctx), unet.forward(x, 1, ctx), unet.forward(x, 999, ctx)];
    const row = 4 * 8 * 8;
    const [b, r1, r999] = [await both.float32(), await at1.float32(), await at999.float32()];
    // Rows never mix (per-sample norms, attention and time embedding), so only the time embedding differs: 1e-6.
    expectClose(b.subarray(0, row), r1.subarray(0, row), { atol: 1e-6 }, 'row 0 at t=1');
    expectClose(b.subarray(row), r999.subarray(row), { atol: 1e-6 }, 'row 1 at t=999');
    for (const t of [x, ctx, both, at1, at999]) t.dispose();
  });
});
