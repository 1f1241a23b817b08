import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipTextModel, type ClipTextConfig, disposeModule, openCheckpoint, rootScope } from '@sd-webgpu/models';
import { ParameterError } from '@sd-webgpu/tensor';
import { testDevice } from '../helpers/device';
import { type FixtureCase, expectClose, loadCase } from '../helpers/fixtures';
import { TINY_PATHS } from '../helpers/tiny';

// generated/clip_act_clipskip: float64 torch HF-CLIP on the tiny-sd text encoder weights (gen_clip_act.py).
// README tolerance for the text encoder: 1e-4 (an f32 run lands ~2e-6 from the f64 reference).
const TOL = { atol: 1e-4, rtol: 0 };

let c: FixtureCase;
const models: Partial<Record<ClipTextConfig['hiddenAct'], ClipTextModel>> = {};
beforeAll(async () => {
  c = await loadCase('generated/clip_act_clipskip');
  const dev = await testDevice();
  for (const act of ['quick_gelu', 'gelu'] as const) {
    const ckpt = await openCheckpoint(TINY_PATHS.folder);
    try {
      const store = await ckpt.loadComponent('text_encoder', dev, 'f32');
      models[act] = new ClipTextModel(rootScope(store).pp('text_model'), { ...ckpt.configs().textEncoder, hiddenAct: act });
      store.finish();
    } finally {
      await ckpt.close();
    }
  }
});
afterAll(() => Object.values(models).forEach((m) => disposeModule(m)));

async function encode(act: ClipTextConfig['hiddenAct'], clipSkip?: number): Promise<Float32Array> {
  const dev = await testDevice();
  const ids = dev.tensor(Int32Array.from(c.inputs.input_ids!.toNumbers()), c.inputs.input_ids!.shape, 'i32');
  const out = models[act]!.forward(ids, undefined, clipSkip);
  ids.dispose();
  try {
    return await out.float32();
  } finally {
    out.dispose();
  }
}

describe('text encoder honours hidden_act and clipSkip', () => {
  for (const [act, skip] of [['quick_gelu', 1], ['gelu', 1], ['quick_gelu', 2], ['gelu', 3]] as const) {
    it(`${act}, clip skip ${skip}`, async () => {
      const want = c.outputs[`${act}_skip${skip}`]!.data as Float32Array;
      expectClose(await encode(act, skip), want, TOL, `${act} skip ${skip}`);
    });
  }

  it('the activation matters at this scale (gelu and quick_gelu outputs differ by far more than the tolerance)', () => {
    const a = c.outputs.gelu_skip1!.data as Float32Array;
    const b = c.outputs.quick_gelu_skip1!.data as Float32Array;
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    expect(d).toBeGreaterThan(100 * TOL.atol);
  });

  it('rejects a clip skip outside 1..layers', async () => {
    await expect(encode('gelu', 0)).rejects.toBeInstanceOf(ParameterError);
    await expect(encode('gelu', 4)).rejects.toThrow(/clipSkip.*1\.\.3/);
  });
});
