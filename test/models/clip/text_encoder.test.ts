import { describe, expect, it } from 'vitest';
import { ClipTextModel, RandomStore, rootScope, sd15, parameterCount, disposeModule } from '@sd-webgpu/models';
import { scale } from '@sd-webgpu/kernels';
import type { Tensor } from '@sd-webgpu/tensor';
import { testDevice } from '../../helpers/device';
import { expectClose, loadCase } from '../../helpers/fixtures';
import { loadTiny, type TinySource } from '../../helpers/tiny';

function loadTextEncoder(source: TinySource, dtype: 'f32' | 'f16') {
  return testDevice().then((dev) =>
    loadTiny(dev, 'text_encoder', source, dtype, (scope, c) => new ClipTextModel(scope.pp('text_model'), c.textEncoder)));
}

async function run(model: ClipTextModel) {
  const dev = await testDevice();
  const c = await loadCase('models/text_encoder_last_hidden_state');
  const ids = dev.tensor(Int32Array.from(c.inputs.input_ids!.toNumbers()), c.inputs.input_ids!.shape, 'i32');
  const taps = new Map<string, Tensor>();
  const out = model.forward(ids, (name, t) => taps.set(name, dev.keep(scale(t, 1))));
  const got = { last_hidden_state: await out.float32() } as Record<string, Float32Array>;
  for (const [name, t] of taps) got[name] = await t.float32();
  for (const t of [ids, out, ...taps.values()]) t.dispose();
  return { c, got };
}

describe('CLIP text encoder (tiny, fixture)', () => {
  for (const [layout, source] of [['diffusers folder', 'folder'], ['single file', 'single']] as const) {
    it(`matches last_hidden_state and every layer from the ${layout}`, async () => {
      const model = await loadTextEncoder(source, 'f32');
      const { c, got } = await run(model);
      // README tolerance for the text encoder: 1e-4 (f32 run of torch lands ~2e-6 from the f64 reference)
      for (const name of ['embeddings', 'layer0', 'layer1', 'layer2', 'last_hidden_state']) {
        expectClose(got[name]!, c.outputs[name]!.data as Float32Array, { atol: 1e-4, rtol: 0 }, `text encoder ${name}`);
      }
      disposeModule(model);
    });
  }

  it('f16 weights and activations stay within the f16 tolerance', async (ctx) => {
    const dev = await testDevice();
    if (!dev.features.f16) ctx.skip('this adapter has no shader-f16');
    const model = await loadTextEncoder('folder', 'f16');
    const { c, got } = await run(model);
    // README: f16 storage with f32 accumulation, text encoder 2e-2 (relative to O(1) activations)
    expectClose(got.last_hidden_state!, c.outputs.last_hidden_state!.data as Float32Array, { atol: 2e-2, rtol: 0 }, 'f16 last_hidden_state');
    disposeModule(model);
  });
});

describe('CLIP text encoder (SD 1.5 shapes, random weights)', () => {
  it('has 123 M parameters and runs a batch of 2 within the binding limits', async () => {
    const dev = await testDevice();
    const cfg = sd15().textEncoder;
    const store = new RandomStore(dev, 1, 'f16');
    const model = new ClipTextModel(rootScope(store).pp('text_model'), cfg);
    // HF CLIPTextModel of SD 1.x: 123,060,480 parameters (position_ids is a buffer, not a parameter)
    expect(parameterCount(model)).toBe(123_060_480);
    const ids = dev.tensor(new Int32Array(2 * 77).map((_, i) => (i * 7919) % 49408), [2, 77], 'i32');
    const out = model.forward(ids);
    expect(out.shape).toEqual([2, 77, 768]);
    const data = await out.float32();
    expect(data.every(Number.isFinite)).toBe(true);
    for (const t of [ids, out]) t.dispose();
    disposeModule(model);
  });
});
