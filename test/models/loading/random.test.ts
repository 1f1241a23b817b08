import { beforeAll, describe, expect, it } from 'vitest';
import { type Device, ParameterError, type Tensor, UnsupportedError } from '@sd-webgpu/tensor';
import { sd15 } from '../../../packages/models/src/configs';
import { MissingWeightError, UnusedWeightsError, WeightShapeError } from '../../../packages/models/src/weights/errors';
import { RandomStore } from '../../../packages/models/src/weights/random';
import { WeightScope } from '../../../packages/models/src/weights/scope';
import { testDevice } from '../../helpers/device';
import { clipShapes, parameterCount, unetShapes, vaeShapes } from './shapes';

let device: Device;

beforeAll(async () => {
  device = await testDevice();
});

async function values(t: Tensor): Promise<Float32Array> {
  const v = await t.float32();
  t.dispose();
  return v;
}

describe('RandomStore', () => {
  it('is deterministic per (seed, key), independent of request order', async () => {
    const a = new RandomStore(device, 7, 'f32');
    const b = new RandomStore(device, 7, 'f32');
    const c = new RandomStore(device, 8, 'f32');
    const a1 = await values(a.take('x.weight', [16, 8]));
    const a2 = await values(a.take('y.weight', [16, 8]));
    const b2 = await values(b.take('y.weight', [16, 8]));
    const b1 = await values(b.take('x.weight', [16, 8]));
    const c1 = await values(c.take('x.weight', [16, 8]));
    expect(b1).toEqual(a1);
    expect(b2).toEqual(a2);
    expect(a2).not.toEqual(a1);
    expect(c1).not.toEqual(a1);
  });

  it('draws plausible ranges by kind of weight', async () => {
    const s = new RandomStore(device, 1, 'f32');
    const conv = await values(s.take('conv1.weight', [64, 32, 3, 3]));
    const bound = 1 / Math.sqrt(32 * 9);
    expect(Math.max(...conv.map(Math.abs))).toBeLessThanOrEqual(bound);
    // Uniform on ±bound: the largest of 18k draws is within 0.1 % of the bound, the mean near 0
    // (σ of the mean = bound / sqrt(3 · 18432) ≈ 0.0025 · bound; 5σ allowed).
    expect(Math.max(...conv)).toBeGreaterThan(0.99 * bound);
    expect(Math.abs(conv.reduce((a, v) => a + v, 0) / conv.length)).toBeLessThan(0.015 * bound);
    const normW = await values(s.take('norm1.weight', [512]));
    expect(normW.every((v) => v >= 0.9 && v <= 1.1)).toBe(true);
    const bias = await values(s.take('conv1.bias', [512]));
    expect(bias.every((v) => Math.abs(v) <= 0.02)).toBe(true);
    const emb = await values(s.take('text_model.embeddings.token_embedding.weight', [100, 16]));
    expect(emb.every((v) => Math.abs(v) <= 0.02)).toBe(true);
    expect(new Set(conv).size).toBeGreaterThan(1000);
  });

  it('rounds the same draws to f16 (or stays f32 without shader-f16)', async () => {
    const a = new RandomStore(device, 3, 'f32');
    const h = new RandomStore(device, 3, 'f16');
    expect(h.dtype).toBe(device.features.f16 ? 'f16' : 'f32');
    const x = await values(a.take('w.weight', [33, 7]));
    const y = await values(h.take('w.weight', [33, 7]));
    // f16 keeps 11 significant bits: relative rounding error ≤ 2^-11.
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(Math.abs(x[i]!) * 2 ** -11);
  });

  it('checks shapes on repeated takes, and keys when given a key list', async () => {
    const s = new RandomStore(device, 1, 'f32');
    const t = s.take('a.weight', [4, 4]);
    expect(s.take('a.weight', [4, 4])).toBe(t);
    expect(() => s.take('a.weight', [4, 2])).toThrow(WeightShapeError);
    expect(() => s.has('a.weight')).toThrow(UnsupportedError);
    expect(s.unusedKeys()).toEqual([]);
    s.finish();
    t.dispose();

    const k = new RandomStore(device, 1, 'f32', { keys: ['a.weight', 'a.bias'] });
    const scope = new WeightScope(k).pp('a');
    expect(scope.has('weight')).toBe(true);
    expect(scope.has('scale')).toBe(false);
    expect(() => scope.get('scale', [4])).toThrow(MissingWeightError);
    scope.get('weight', [4, 4]).dispose();
    expect(k.unusedKeys()).toEqual(['a.bias']);
    expect(scope.pp('b').pp(3).key('weight')).toBe('a.b.3.weight');
    expect(() => scope.pp('')).toThrow(ParameterError);
    expect(() => scope.key('.weight')).toThrow(/not a key segment/);
    expect(() => k.finish()).toThrow(UnusedWeightsError);
  });

  it('builds full-size SD 1.5 weights with the published parameter counts', async () => {
    const sd = sd15();
    const dtype = device.floatType('f16');
    const expected: [string, Map<string, number[]>, number][] = [
      ['text_encoder', clipShapes(sd.textEncoder), 123_060_480],
      ['vae', vaeShapes(sd.vae), 83_653_863],
      ['unet', unetShapes(sd.unet), 859_520_964],
    ];
    for (const [name, shapes, count] of expected) {
      expect(parameterCount(shapes), name).toBe(count);
      const store = new RandomStore(device, 42, dtype, { keys: shapes.keys() });
      const tensors: Tensor[] = [];
      for (const [key, shape] of shapes) tensors.push(store.take(key, shape));
      store.finish();
      expect(store.parameterCount, name).toBe(count);
      expect(store.byteLength, name).toBe(count * (dtype === 'f16' ? 2 : 4));
      // Spot-check that the biggest tensor was really written (its last element is inside its range, not zero).
      const big = tensors.reduce((a, t) => (t.size > a.size ? t : a));
      const v = await big.float32();
      expect(v[v.length - 1]).not.toBe(0);
      for (const t of tensors) t.dispose();
      device.pool.trim();
    }
  }, 600_000);
});
