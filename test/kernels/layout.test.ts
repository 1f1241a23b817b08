import { describe, expect, it } from 'vitest';
import {
  type DType, type Device, ParameterError, ShapeError, type Tensor, UnsupportedError, roundToF16,
} from '@sd-webgpu/tensor';
import { cast, checkEmbeddingIds, concat, embedding, permute, slice, upsampleNearest } from '../../packages/kernels/src/layout';
import {
  refConcat, refEmbedding, refPermute, refSlice, refUpsampleNearest,
} from '../../packages/kernels/src/reference/layout';
import { createDevice, testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Distinct values per element (index-derived, exact in f16 for < 2048 elements), so a misplaced copy shows. */
function values(shape: readonly number[], seed: number, dtype: DType): Float32Array | Int32Array {
  const n = numel(shape);
  if (dtype === 'i32') return Int32Array.from({ length: n }, (_, i) => i * 7 + seed);
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + seed) * 100);
  return dtype === 'f16' ? roundToF16(x) : x;
}

async function read(t: Tensor): Promise<ArrayLike<number>> {
  const d = await t.data();
  t.dispose();
  return d;
}

/** Layout ops copy values: results must be bit-identical (atol 0). */
const EXACT = { atol: 0 };

describe('layout ops vs reference', () => {
  for (const dtype of ['f32', 'f16', 'i32'] as const) {
    it(`permute ${dtype}`, async () => {
      const dev = await testDevice();
      if (dtype === 'f16' && !dev.features.f16) return;
      // NCHW→NHWC with C % 4 == 0 (vec4 stores gathering 4 channels) and C odd (scalar), back again,
      // [B,S,H,D]→[B,H,S,D] (vec4 rows of D), rank 5, rank 1 and 1x1x1.
      const cases: [number[], number[]][] = [
        [[2, 8, 3, 5], [0, 2, 3, 1]], [[2, 3, 5, 7], [0, 2, 3, 1]], [[2, 3, 5, 8], [0, 3, 1, 2]],
        [[2, 7, 3, 40], [0, 2, 1, 3]], [[2, 3, 1, 4, 5], [4, 2, 0, 3, 1]], [[9], [0]], [[1, 1, 1], [2, 0, 1]],
      ];
      for (const [shape, perm] of cases) {
        const x = values(shape, 1, dtype);
        const y = permute(dev.tensor(x, shape, dtype), perm);
        const want = refPermute({ data: x, shape }, perm);
        expect(y.shape).toEqual(want.shape);
        expectClose(await read(y), want.data, EXACT, `permute ${dtype} [${shape}] by [${perm}]`);
      }
    });

    it(`slice and concat ${dtype}`, async () => {
      const dev = await testDevice();
      if (dtype === 'f16' && !dev.features.f16) return;
      const shape = [2, 6, 3, 8];
      const x = values(shape, 2, dtype);
      const tx = dev.tensor(x, shape, dtype);
      for (const [axis, start, end] of [[1, 2, 5], [3, 1, 6], [3, 4, 8], [0, 1, 2], [-1, 0, 8], [2, 1, 1]] as const) {
        const y = slice(tx, axis, start, end);
        const want = refSlice({ data: x, shape }, (axis + 4) % 4, start, end);
        expect(y.shape).toEqual(want.shape);
        expectClose(await read(y), want.data, EXACT, `slice ${dtype} axis ${axis} [${start}, ${end})`);
      }
      for (const axis of [0, 1, 2, 3, -1]) {
        const a = (axis + 4) % 4;
        const shapes = [2, 0, 3].map((k) => shape.map((d, i) => (i === a ? k : d)));
        const parts = shapes.map((s, j) => values(s, 10 + j, dtype));
        const y = concat(parts.map((p, j) => dev.tensor(p, shapes[j]!, dtype)), axis);
        const want = refConcat(parts.map((p, j) => ({ data: p, shape: shapes[j]! })), a);
        expect(y.shape).toEqual(want.shape);
        expectClose(await read(y), want.data, EXACT, `concat ${dtype} axis ${axis}`);
      }
      tx.dispose();
    });
  }

  it('cast f32 <-> f16 rounds to nearest even and widens exactly', async (ctx) => {
    const dev = await testDevice();
    if (!dev.features.f16) ctx.skip('this adapter has no shader-f16');
    for (const shape of [[7], [2, 3, 8], [1, 1, 1]]) {
      const x = Float32Array.from({ length: numel(shape) }, (_, i) => (i - 3) * 1.2345678 * 10 ** ((i % 9) - 4));
      const h = cast(dev.tensor(x, shape), 'f16');
      expect(h.dtype).toBe('f16');
      const back = cast(h, 'f32');
      expectClose(await read(h), roundToF16(x), EXACT, `cast f32->f16 [${shape}]`);
      expectClose(await read(back), roundToF16(x), EXACT, `cast f16->f32 [${shape}]`);
    }
    const same = cast(dev.tensor([1.5, -2], [2]), 'f32');
    expect(Array.from(await read(same))).toEqual([1.5, -2]);
  });

  for (const dtype of ['f32', 'f16'] as const) {
    it(`upsampleNearest ${dtype}`, async () => {
      const dev = await testDevice();
      if (dtype === 'f16' && !dev.features.f16) return;
      const cases: [number[], [number, number]][] = [
        [[1, 4, 5, 7], [10, 14]], [[2, 3, 4, 6], [8, 12]], [[1, 8, 9, 9], [17, 17]], [[1, 4, 3, 4], [5, 7]],
        [[1, 2, 6, 5], [3, 8]], [[1, 1, 1, 1], [3, 4]], [[2, 2, 3, 3], [3, 3]],
      ];
      for (const [shape, size] of cases) {
        const x = values(shape, 3, dtype);
        const y = upsampleNearest(dev.tensor(x, shape, dtype), size);
        const want = refUpsampleNearest({ data: x, shape }, size);
        expect(y.shape).toEqual(want.shape);
        expectClose(await read(y), want.data, EXACT, `upsample ${dtype} [${shape}] -> [${size}]`);
      }
    });

    it(`embedding ${dtype}`, async () => {
      const dev = await testDevice();
      if (dtype === 'f16' && !dev.features.f16) return;
      for (const [V, D] of [[50, 12], [50, 7], [3, 4]]) {
        const table = values([V, D], 4, dtype);
        const ids = Int32Array.from([0, V - 1, 3 % V, 17 % V, 1, 2 % V, V - 2, 5 % V, 0, 9 % V]);
        const y = embedding(dev.tensor(ids, [2, 5], 'i32'), dev.tensor(table, [V, D], dtype));
        const want = refEmbedding({ data: ids, shape: [2, 5] }, { data: table, shape: [V, D] });
        expect(y.shape).toEqual([2, 5, D]);
        expectClose(await read(y), want.data, EXACT, `embedding ${dtype} [${V},${D}]`);
      }
      // Out-of-range ids cannot raise on the GPU: they are clamped into the table.
      const table = values([6, 4], 5, dtype);
      const y = embedding(dev.tensor([-5, 6, 100, 2], [4], 'i32'), dev.tensor(table, [6, 4], dtype));
      const want = refEmbedding({ data: [0, 5, 5, 2], shape: [4] }, { data: table, shape: [6, 4] });
      expectClose(await read(y), want.data, EXACT, 'embedding clamps ids');
    });
  }

  it('throws typed errors for bad input', async () => {
    const dev = await testDevice();
    const x = dev.tensor(new Float32Array(24), [2, 3, 4]);
    expect(() => permute(x, [0, 1])).toThrow(ParameterError);
    expect(() => permute(x, [0, 1, 1])).toThrow(/not a permutation/);
    expect(() => slice(x, 1, 2, 4)).toThrow(ParameterError);
    expect(() => slice(x, 3, 0, 1)).toThrow(/axis/);
    expect(() => concat([x, dev.tensor(new Float32Array(8), [2, 4])], 0)).toThrow(ShapeError);
    expect(() => concat([x, dev.tensor(new Float32Array(16), [2, 2, 4])], 2)).toThrow(/shapes differ outside axis 2/);
    expect(() => concat([], 0)).toThrow(ParameterError);
    expect(() => cast(x, 'i32')).toThrow(UnsupportedError);
    expect(() => upsampleNearest(x, [4, 4])).toThrow(ShapeError);
    expect(() => upsampleNearest(x.reshape([1, 2, 3, 4]), [0, 4])).toThrow(ParameterError);
    const table = dev.tensor(new Float32Array(12), [3, 4]);
    expect(() => embedding(dev.tensor([0, 1], [2]), table)).toThrow(/ids must be i32/);
    expect(() => embedding(dev.tensor([0, 1], [2], 'i32'), x)).toThrow(ShapeError);
    expect(() => checkEmbeddingIds([0, 2, 3], 3, 'clip.embeddings')).toThrow(ParameterError);
    expect(() => checkEmbeddingIds([0, 2, 3], 3, 'clip.embeddings')).toThrow(/clip\.embeddings.*id 3 at index 2/);
    expect(() => checkEmbeddingIds([0, -1], 3)).toThrow(ParameterError);
    expect(() => checkEmbeddingIds([0, 1.5], 3)).toThrow(ParameterError);
    expect(() => checkEmbeddingIds([0, 2, 1], 3)).not.toThrow();
  });
});

describe('layout fixtures', () => {
  for (const name of [
    'upsample_nearest2x_1x4x5x7', 'upsample_nearest2x_2x32x8x8', 'upsample_nearest_size_1x4x3x4_to5x7',
    'upsample_nearest_size_1x8x9x9_to17x17',
  ]) {
    it(name, async () => {
      const dev = await testDevice();
      const c = await loadCase(`ops/${name}`);
      const x = c.inputs.x!;
      const want = c.outputs.y!;
      const y = upsampleNearest(dev.tensor(x.data as Float32Array, x.shape), [want.shape[2]!, want.shape[3]!]);
      expect(y.shape).toEqual(want.shape);
      // A gather of f32 values: exact.
      expectClose(await read(y), want.data as Float32Array, { atol: 0, shape: want.shape }, name);
    });
  }
});

describe('layout beyond the binding limit', () => {
  it('concat, upsample, permute, slice and a big embedding table split into 64 KiB windows', async () => {
    const dev: Device = await createDevice({ maxStorageBufferBindingSize: 64 * 1024 });
    try {
      const sa = [2, 40, 20, 20]; // 125 KiB each
      const a = values(sa, 1, 'f32');
      const b = values(sa, 2, 'f32');
      const ta = dev.tensor(a, sa);
      const tb = dev.tensor(b, sa);
      const su = [1, 2, 96, 90]; // 68 KiB in; one output plane (135 KiB at 2x) spans several windows
      const u = values(su, 3, 'f32');
      const tu = dev.tensor(u, su);
      const V = 1000;
      const D = 24; // 94 KiB table: two table windows
      const table = values([V, D], 4, 'f32');
      const tt = dev.tensor(table, [V, D]);
      const ids = Int32Array.from({ length: 3 * 77 }, (_, i) => (i * 389) % V);
      const ti = dev.tensor(ids, [3, 77], 'i32');
      const t7 = dev.tensor(values([V, 27], 5, 'f32'), [V, 27]); // 105 KiB, scalar rows
      const cases: [string, () => Tensor, () => ArrayLike<number>][] = [
        ['concat axis 1', () => concat([ta, tb], 1), () => refConcat([{ data: a, shape: sa }, { data: b, shape: sa }], 1).data],
        ['concat axis 3', () => concat([ta, tb], 3), () => refConcat([{ data: a, shape: sa }, { data: b, shape: sa }], 3).data],
        ['upsample 2x', () => upsampleNearest(tu, [192, 180]), () => refUpsampleNearest({ data: u, shape: su }, [192, 180]).data],
        ['upsample size', () => upsampleNearest(tu, [131, 150]), () => refUpsampleNearest({ data: u, shape: su }, [131, 150]).data],
        ['permute NCHW->NHWC', () => permute(ta, [0, 2, 3, 1]), () => refPermute({ data: a, shape: sa }, [0, 2, 3, 1]).data],
        ['slice', () => slice(ta, 1, 3, 37), () => refSlice({ data: a, shape: sa }, 1, 3, 37).data],
        ['embedding', () => embedding(ti, tt), () => refEmbedding({ data: ids, shape: [3, 77] }, { data: table, shape: [V, D] }).data],
      ];
      for (const [label, gpu, cpu] of cases) {
        const before = dev.dispatchCount;
        const y = gpu();
        expect(dev.dispatchCount - before, `${label} should split`).toBeGreaterThan(1);
        expectClose(await read(y), cpu(), EXACT, `${label} (64 KiB bindings)`);
      }
      const before = dev.dispatchCount;
      const y7 = embedding(ti, t7);
      expect(dev.dispatchCount - before).toBeGreaterThan(1);
      expectClose(await read(y7), refEmbedding({ data: ids, shape: [3, 77] }, { data: await t7.float32(), shape: [V, 27] }).data,
        EXACT, 'embedding D=27 (64 KiB bindings)');
    } finally {
      dev.dispose();
    }
  });
});
