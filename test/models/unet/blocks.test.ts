import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Device, type Tensor } from '@sd-webgpu/tensor';
import { type WeightScope, rootScope } from '../../../packages/models/src/weights/scope';
import { disposeModule } from '../../../packages/models/src/nn/module';
import { ResnetBlock2D } from '../../../packages/models/src/unet/resnet';
import { FeedForward, Transformer2DModel } from '../../../packages/models/src/unet/transformer';
import { Downsample2D, Upsample2D, VAE_DOWNSAMPLE_PADDING } from '../../../packages/models/src/unet/resample';
import { TimestepEmbedding, Timesteps } from '../../../packages/models/src/unet/embeddings';
import { testDevice } from '../../helpers/device';
import { type FixtureCase, asFloat32, expectClose, fixturePath, loadCase } from '../../helpers/fixtures';
import { errorScale, storeFromCase, upload } from './helpers';

const cases = (prefix: string, folder = 'blocks'): string[] =>
  readdirSync(fixturePath(folder))
    .filter((f) => f.startsWith(prefix) && f.endsWith('.safetensors'))
    .map((f) => `${folder}/${f.replace(/\.safetensors$/, '')}`)
    .sort();

/**
 * Builds the module from the case's weights (strict: every `w.*` must be taken), runs it, compares `out.y`.
 * Tolerance: README section 2, blocks/* at 5e-5 of max(1, max|ref|); the references are f64 evaluations and torch's
 * own f32 run lands within `attrs.f32_vs_f64_maxabs` (≤ ~1e-5) of them.
 */
async function checkBlock(name: string, run: (dev: Device, c: FixtureCase, scope: WeightScope) => [object, Tensor]) {
  const dev = await testDevice();
  const c = await loadCase(name);
  const store = storeFromCase(dev, c, 'f32');
  const [module, y] = dev.scope(() => {
    const out = run(dev, c, rootScope(store));
    store.finish();
    return out;
  });
  const want = asFloat32(c.outputs.y!);
  expect(y.shape).toEqual(c.outputs.y!.shape);
  const got = await y.float32();
  y.dispose();
  disposeModule(module);
  expectClose(got, want, { atol: 5e-5 * errorScale(want), shape: y.shape }, name);
}

describe('ResnetBlock2D (blocks/resnet_*)', () => {
  for (const name of cases('resnet_')) {
    it(name, () =>
      checkBlock(name, (dev, c, scope) => {
        const a = c.attrs;
        const block = new ResnetBlock2D(scope, {
          inChannels: a.in_channels, outChannels: a.out_channels, tembChannels: a.temb_channels ?? null, groups: a.groups, eps: a.eps,
        });
        const x = upload(dev, c.inputs.x!, 'f32');
        const temb = c.inputs.temb ? upload(dev, c.inputs.temb, 'f32') : null;
        return [block, block.forward(x, temb)];
      }));
  }
});

describe('Transformer2DModel (blocks/transformer2d_sd1_*)', () => {
  for (const name of cases('transformer2d_sd1_')) {
    it(name, () =>
      checkBlock(name, (dev, c, scope) => {
        const a = c.attrs;
        const block = new Transformer2DModel(scope, {
          channels: a.channels, heads: a.heads, crossAttentionDim: a.cross_attention_dim, groups: a.groupnorm_groups,
        });
        return [block, block.forward(upload(dev, c.inputs.x!, 'f32'), upload(dev, c.inputs.context!, 'f32'))];
      }));
  }
});

describe('FeedForward with GEGLU (ops/feedforward_geglu_*)', () => {
  for (const name of cases('feedforward_geglu_', 'ops')) {
    it(name, () =>
      checkBlock(name, (dev, c, scope) => {
        const block = new FeedForward(scope, c.attrs.dim);
        return [block, block.forward(upload(dev, c.inputs.x!, 'f32'))];
      }));
  }
});

describe('Downsample2D (blocks/downsample2d_*)', () => {
  for (const name of cases('downsample2d_')) {
    it(name, () =>
      checkBlock(name, (dev, c, scope) => {
        const padding = c.attrs.padding === 1 ? 1 : VAE_DOWNSAMPLE_PADDING;
        const block = new Downsample2D(scope, c.attrs.channels, padding);
        return [block, block.forward(upload(dev, c.inputs.x!, 'f32'))];
      }));
  }
});

describe('Upsample2D (blocks/upsample2d_*)', () => {
  for (const name of cases('upsample2d_')) {
    it(name, () =>
      checkBlock(name, (dev, c, scope) => {
        const size = c.attrs.output_size ? ([c.attrs.output_size[0], c.attrs.output_size[1]] as const) : undefined;
        const block = new Upsample2D(scope, c.attrs.channels);
        return [block, block.forward(upload(dev, c.inputs.x!, 'f32'), size)];
      }));
  }
});

describe('time embedding (blocks/time_embedding_*)', () => {
  for (const name of cases('time_embedding_')) {
    it(`${name}: MLP`, () =>
      checkBlock(name, (dev, c, scope) => {
        const mlp = new TimestepEmbedding(scope, c.attrs.in_dim, c.attrs.time_embed_dim);
        return [mlp, mlp.forward(upload(dev, c.inputs.t_emb!, 'f32'))];
      }));

    it(`${name}: sinusoidal time_proj matches in.t_emb`, async () => {
      const dev = await testDevice();
      const c = await loadCase(name);
      const ts = c.inputs.timesteps!.toNumbers();
      const t = new Timesteps(c.attrs.in_dim).forward(dev, ts, 'f32');
      const got = await t.float32();
      t.dispose();
      // README section 2: timestep_embedding 2e-4 (f32 argument rounding at t ≈ 1000; values are in [-1, 1]).
      expectClose(got, asFloat32(c.inputs.t_emb!), { atol: 2e-4, shape: t.shape }, `${name} time_proj`);
    });
  }
});

describe('block errors', () => {
  it('a resnet weight of the wrong shape names the full key', async () => {
    const dev = await testDevice();
    const c = await loadCase(cases('resnet_unet_same')[0]!);
    const store = storeFromCase(dev, c, 'f32');
    expect(() => new ResnetBlock2D(rootScope(store).pp('x'), { inChannels: 32, outChannels: 32, tembChannels: 128, groups: 32, eps: 1e-5 }))
      .toThrow(/x\.norm1\.weight/);
    expect(() => new ResnetBlock2D(rootScope(store), { inChannels: 32, outChannels: 32, tembChannels: 64, groups: 32, eps: 1e-5 }))
      .toThrow(/time_emb_proj\.weight.*\[32,128\].*expected \[32,64\]/);
    store.dispose();
  });

  it('a time-conditioned resnet refuses a missing temb, an unconditioned one a given temb', async () => {
    const dev = await testDevice();
    const c = await loadCase(cases('resnet_unet_same')[0]!);
    const store = storeFromCase(dev, c, 'f32');
    const block = new ResnetBlock2D(rootScope(store), { inChannels: 32, outChannels: 32, tembChannels: 128, groups: 32, eps: 1e-5 });
    const x = upload(dev, c.inputs.x!, 'f32');
    expect(() => block.forward(x)).toThrow(/temb is required/);
    const wrong = dev.empty([2, 16, 8, 8]);
    expect(() => block.forward(wrong, x)).toThrow(/expected x \[B, 32, H, W\]/);
    for (const t of [x, wrong]) t.dispose();
    store.dispose();
  });
});
