import { describe, expect, it } from 'vitest';
import { type Device, ParameterError, ShapeError, type Tensor, UnsupportedError, roundToF16 } from '@sd-webgpu/tensor';
import {
  ELEMENTWISE, type ElementwiseName, add, div, elementwise, geglu, gelu, linearCombination, mul, permutedAdd, quickGelu, relu, scale,
  silu, sub, tanh,
} from '../../packages/kernels/src/elementwise';
import { permute } from '../../packages/kernels/src/layout';
import { refGeglu, refLinearCombination, refMap } from '../../packages/kernels/src/reference/elementwise';
import { linear } from '../../packages/kernels/src/matmul';
import { createDevice, testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';
import { randn } from '../helpers/random';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
type DT = 'f32' | 'f16';

/** Host data for a tensor of `dtype` (f16: rounded first, so the reference sees exactly what the GPU holds). */
function input(shape: number[], seed: number, dtype: DT, std = 3): Float32Array {
  const x = randn(numel(shape), seed, std);
  return dtype === 'f16' ? roundToF16(x) : x;
}

async function read(t: Tensor): Promise<Float32Array> {
  const d = await t.float32();
  t.dispose();
  return d;
}

/**
 * f32: one f32 op vs the f64 reference rounded once. +,-,* are correctly rounded (exact match); division is allowed
 * 2.5 ulp in Vulkan; exp-based activations inherit exp's (3 + 2|x|) ulp, a few 1e-7 relative; the erfc form of
 * GELU is within half an ulp (checked on the host). 1e-6 abs + 2e-6 rel covers all of them with margin.
 * f16: inputs are f16-exact, the f32 result is rounded once to f16 (≤ 2^-11 = 4.9e-4 relative), plus subnormal
 * spacing near zero: 1e-3 rel + 1e-5 abs.
 */
const TOL: Record<DT, { atol: number; rtol: number }> = { f32: { atol: 1e-6, rtol: 2e-6 }, f16: { atol: 1e-5, rtol: 1e-3 } };

describe('elementwise table', () => {
  const unary: [ElementwiseName, (t: Tensor) => Tensor][] = [
    ['silu', silu], ['gelu', gelu], ['quick_gelu', quickGelu], ['scale', (t) => scale(t, -1.75, 0.3)], ['relu', relu], ['tanh', tanh],
  ];
  const unaryShapes = [[1], [1, 1, 1], [7], [3, 5, 7], [2, 3, 4, 8], [2, 5, 33]];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const [name, fn] of unary) {
      it(`${name} ${dtype} on awkward shapes`, async () => {
        const dev = await testDevice();
        if (dtype === 'f16' && !dev.features.f16) return;
        for (const shape of unaryShapes) {
          const x = input(shape, 3 + shape.length, dtype);
          const p = name === 'scale' ? [-1.75, 0.3] : [];
          const got = await read(fn(dev.tensor(x, shape, dtype)));
          const want = refMap([{ data: x, shape }], (v) => ELEMENTWISE[name].cpu(v, p)).data;
          expectClose(got, dtype === 'f16' ? roundToF16(want) : want, { ...TOL[dtype], shape }, `${name} ${dtype} [${shape}]`);
        }
      });
    }

    const binary: [ElementwiseName, (a: Tensor, b: Tensor) => Tensor][] = [['add', add], ['sub', sub], ['mul', mul], ['div', div]];
    // Same shapes (vec4 and scalar), trailing-dim broadcast (vec loads), per-channel bias (splat), both sides
    // broadcast (outer product, gather), scalars and rank differences.
    const pairs: [number[], number[]][] = [
      [[5], [5]], [[2, 3, 8], [2, 3, 8]], [[2, 3, 5], [5]], [[2, 3, 8], [8]], [[2, 4, 8, 8], [1, 4, 1, 1]],
      [[2, 7, 3, 3], [2, 7, 1, 1]], [[4, 1], [1, 6]], [[3, 1, 8], [1, 5, 8]], [[7], [1]], [[], [2, 3]], [[1, 1, 1], [1]],
    ];
    for (const [name, fn] of binary) {
      it(`${name} ${dtype} with broadcasting`, async () => {
        const dev = await testDevice();
        if (dtype === 'f16' && !dev.features.f16) return;
        for (const [sa, sb] of pairs) {
          const a = input(sa, 11, dtype);
          const b = name === 'div' ? input(sb, 12, dtype).map((v) => v + Math.sign(v || 1) * 0.5) : input(sb, 12, dtype);
          const ta = dev.tensor(a, sa, dtype);
          const tb = dev.tensor(b, sb, dtype);
          const y = fn(ta, tb);
          const want = refMap([{ data: a, shape: sa }, { data: b, shape: sb }], (v) => ELEMENTWISE[name].cpu(v, []));
          expect(y.shape).toEqual(want.shape);
          const got = await read(y);
          expectClose(got, dtype === 'f16' ? roundToF16(want.data) : want.data, { ...TOL[dtype], shape: want.shape },
            `${name} ${dtype} [${sa}] op [${sb}]`);
          ta.dispose();
          tb.dispose();
        }
      });
    }

    it(`geglu ${dtype}: value first, gate second`, async () => {
      const dev = await testDevice();
      if (dtype === 'f16' && !dev.features.f16) return;
      for (const shape of [[2, 17, 256], [1, 5, 14], [3, 2], [2, 3, 10]]) {
        const h = input(shape, 21, dtype);
        const got = await read(geglu(dev.tensor(h, shape, dtype)));
        const want = refGeglu({ data: h, shape });
        expectClose(got, dtype === 'f16' ? roundToF16(want.data) : want.data, { ...TOL[dtype], shape: want.shape }, `geglu [${shape}]`);
      }
    });

    it(`permutedAdd ${dtype} equals permute then add, bit for bit`, async () => {
      const dev = await testDevice();
      if (dtype === 'f16' && !dev.features.f16) return;
      const cases: [number[], number[]][] = [[[2, 12, 8], [0, 2, 1]], [[1, 7, 5], [0, 2, 1]], [[3, 4, 2, 5], [0, 3, 1, 2]]];
      for (const [shape, perm] of cases) {
        const outShape = perm.map((p) => shape[p]!);
        const a = dev.tensor(input(shape, 31, dtype), shape, dtype);
        const b = dev.tensor(input(outShape, 32, dtype), outShape, dtype);
        const fused = await read(permutedAdd(a, perm, b));
        const twoPass = await read(dev.scope(() => add(permute(a, perm), b)));
        expect(Array.from(fused), `[${shape}] perm [${perm}]`).toEqual(Array.from(twoPass));
        expect(() => permutedAdd(a, perm, a)).toThrow(ShapeError);
        expect(() => permutedAdd(a, [0, 0, 1], b)).toThrow(ParameterError);
        a.dispose();
        b.dispose();
      }
    });

    it(`linearCombination ${dtype} with 1..7 terms`, async () => {
      const dev = await testDevice();
      if (dtype === 'f16' && !dev.features.f16) return;
      const shape = [2, 4, 9, 7];
      const coef = [0.9, -1.3, 7.5, -6.5, 0.25, 1e-3, -2];
      const xs = coef.map((_, i) => input(shape, 40 + i, dtype));
      const ts = xs.map((x) => dev.tensor(x, shape, dtype));
      for (let k = 1; k <= coef.length; k++) {
        const got = await read(linearCombination(ts.slice(0, k).map((t, i) => [t, coef[i]!] as const)));
        const want = refLinearCombination(xs.slice(0, k).map((x, i) => [x, coef[i]!] as const));
        // f32: coefficients rounded to f32 and k f32 products/sums of terms up to ~20: 5e-6 abs. f16: one final
        // rounding of the f32 sum (1e-3 rel) plus the f32 error (5e-6) near zero.
        const tol = dtype === 'f32' ? { atol: 5e-6, rtol: 2e-6 } : { atol: 2e-5, rtol: 1e-3 };
        expectClose(got, dtype === 'f16' ? roundToF16(want) : want, { ...tol, shape }, `linearCombination k=${k} ${dtype}`);
      }
      for (const t of ts) t.dispose();
    });
  }

  it('throws typed errors for bad input', async () => {
    const dev = await testDevice();
    const a = dev.tensor(new Float32Array(6), [2, 3]);
    const b = dev.tensor(new Float32Array(4), [4]);
    const ids = dev.tensor([1, 2, 3], [3], 'i32');
    expect(() => add(a, b)).toThrow(ShapeError);
    expect(() => add(a, b)).toThrow(/dims 3 and 4/);
    expect(() => silu(ids)).toThrow(UnsupportedError);
    expect(() => geglu(dev.tensor(new Float32Array(3), [3]))).toThrow(ShapeError);
    expect(() => linearCombination([])).toThrow(ParameterError);
    expect(() => linearCombination([[a, 1], [b, 2]])).toThrow(ShapeError);
    expect(() => linearCombination([[a, NaN]])).toThrow(ParameterError);
    expect(() => scale(a, Infinity)).toThrow(/parameter 's\/b'/);
    expect(() => elementwise('add', [a])).toThrow(/expects 2 inputs/);
    if (dev.features.f16) {
      const h = dev.tensor(new Float32Array(6), [2, 3], 'f16');
      expect(() => mul(a, h)).toThrow(/mixed dtypes/);
      h.dispose();
    }
    for (const t of [a, b, ids]) t.dispose();
  });
});

describe('elementwise fixtures', () => {
  // README section 2: activations 1e-6 (WGSL exp may need 1e-5): exp is allowed (3 + 2|x|) ulp, which at |x| = 10
  // and |y| ≈ 10 is ~2e-5 relative of the exp term but ≤ 1e-6 of y after the division; 1e-6 abs + 1e-6 rel.
  for (const [name, fn] of [['gelu_exact', gelu], ['quick_gelu', quickGelu], ['silu', silu]] as const) {
    it(name, async () => {
      const dev = await testDevice();
      const c = await loadCase(`ops/${name}`);
      const x = c.inputs.x!;
      const got = await read(fn(dev.tensor(x.data as Float32Array, x.shape)));
      expectClose(got, c.outputs.y!.data as Float32Array, { atol: 1e-6, rtol: 1e-6 }, name);
    });
  }

  // The linear before the gate runs on the GPU too (test/kernels/matmul.test.ts covers it on its own).
  for (const name of ['geglu_2x17x32_to128', 'geglu_1x77x40_to160']) {
    it(name, async () => {
      const dev = await testDevice();
      const c = await loadCase(`ops/${name}`);
      const x = c.inputs.x!;
      const w = c.weights['proj.weight']!;
      const b = c.weights['proj.bias']!;
      const h = linear(dev.tensor(x.data as Float32Array, x.shape), dev.tensor(w.data as Float32Array, w.shape),
        dev.tensor(b.data as Float32Array, b.shape));
      const y = geglu(h);
      expect(y.shape).toEqual(c.outputs.y!.shape);
      // README: linear 1e-5 abs + 1e-5 rel (K ≤ 40 here); the gating adds ≤ 1e-6.
      expectClose(await read(y), c.outputs.y!.data as Float32Array, { atol: 1e-5, rtol: 1e-5 }, name);
      h.dispose();
    });
  }
});

describe('elementwise beyond the binding limit', () => {
  /** 64 KiB bindings: every tensor below is 2-16x larger, so each op splits into several windows. */
  async function small(): Promise<Device> {
    return createDevice({ maxStorageBufferBindingSize: 64 * 1024 });
  }

  it('add with broadcasting, silu, geglu and linearCombination split into windows', async () => {
    const dev = await small();
    try {
      const cases: [string, () => Tensor, () => Float32Array][] = [];
      const sa = [2, 40, 33, 17]; // 176 KiB, broadcast against a per-channel [40, 1, 1]
      const a = input(sa, 1, 'f32');
      const b = input([40, 1, 1], 2, 'f32');
      const ta = dev.tensor(a, sa);
      const tb = dev.tensor(b, [40, 1, 1]);
      cases.push(['add bias', () => add(ta, tb), () => refMap([{ data: a, shape: sa }, { data: b, shape: [40, 1, 1] }], (v) => v[0]! + v[1]!).data]);
      const sr = [3, 70, 160]; // row broadcast with vec4 loads: [160] against 131 KiB
      const r = input([160], 3, 'f32');
      const tr = dev.tensor(r, [160]);
      const x = input(sr, 4, 'f32');
      const tx = dev.tensor(x, sr);
      cases.push(['mul row', () => mul(tx, tr), () => refMap([{ data: x, shape: sr }, { data: r, shape: [160] }], (v) => v[0]! * v[1]!).data]);
      const n = 100_003; // 391 KiB, odd: scalar path
      const s = input([n], 5, 'f32');
      const ts = dev.tensor(s, [n]);
      cases.push(['silu odd', () => silu(ts), () => refMap([{ data: s, shape: [n] }], (v) => ELEMENTWISE.silu.cpu(v, [])).data]);
      const sh = [4, 100, 2 * 96]; // 300 KiB
      const h = input(sh, 6, 'f32');
      const th = dev.tensor(h, sh);
      cases.push(['geglu', () => geglu(th), () => refGeglu({ data: h, shape: sh }).data]);
      cases.push(['lincomb', () => linearCombination([[tx, 0.5], [tx, -2], [tx, 1.25]]),
        () => refLinearCombination([[x, 0.5], [x, -2], [x, 1.25]])]);
      for (const [label, gpu, cpu] of cases) {
        const before = dev.dispatchCount;
        const y = gpu();
        expect(dev.dispatchCount - before, `${label} should split`).toBeGreaterThan(1);
        expectClose(await read(y), cpu(), TOL.f32, `${label} (64 KiB bindings)`);
      }
    } finally {
      dev.dispose();
    }
  });
});
