import { describe, expect, it } from 'vitest';
import { type Device, LimitError, ParameterError, ShapeError, UnsupportedError, roundToF16 } from '@sd-webgpu/tensor';
import { attention, attentionTuning, type AttentionTuning } from '../../packages/kernels/src/attention';
import { attentionRef } from '../../packages/kernels/src/reference/attention';
import { KERNEL_ROWS } from '../../packages/kernels/src/table';
import { createDevice, testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';
import { distinctRows, withRow } from '../helpers/rows';
import { randn } from '../helpers/random';

interface Case {
  b: number;
  sq: number;
  sk: number;
  heads: number;
  d: number;
  causal?: boolean;
  scale?: number;
  std?: number;
  tuning?: AttentionTuning;
}

async function check(dev: Device, cs: Case, dtype: 'f32' | 'f16'): Promise<void> {
  const { b, sq, sk, heads, d, causal = false, scale, std = 1 } = cs;
  const c = heads * d;
  const seed = b * 1000 + sq * 31 + sk * 7 + c;
  let [q, k, v] = [randn(b * sq * c, seed, std), randn(b * sk * c, seed + 1, std), randn(b * sk * c, seed + 2)];
  if (dtype === 'f16') [q, k, v] = [roundToF16(q), roundToF16(k), roundToF16(v)];
  const tq = dev.tensor(q, [b, sq, c], dtype);
  const tk = dev.tensor(k, [b, sk, c], dtype);
  const tv = dev.tensor(v, [b, sk, c], dtype);
  const y = attention(tq, tk, tv, { heads, causal, scale }, cs.tuning);
  const got = await y.data();
  const want = attentionRef(q, k, v, { batch: b, sq, sk, channels: c }, { heads, causal, scale });
  // f32: outputs are convex combinations of v (|y| ≲ 4); f32 scores of D ≤ 512 terms with |q·k·scale| ≲ 30 carry
  // ~1e-6 absolute error, which exp turns into ~1e-6 relative weight error: 2e-5 abs.
  // f16: inputs pre-rounded (the reference sees the same values), f32 accumulation, f16 output rounding
  // (≤ 2^-11 relative of |y| ≲ 4): 2e-3 abs + 1e-3 rel.
  const tol = dtype === 'f32' ? { atol: 2e-5, rtol: 1e-5 } : { atol: 2e-3, rtol: 1e-3 };
  expectClose(got, want, { ...tol, shape: [b, sq, c] }, `attention ${dtype} ${JSON.stringify(cs)}`);
  for (const t of [tq, tk, tv, y]) t.dispose();
}

describe('attention', () => {
  const cases: Case[] = [
    { b: 1, sq: 1, sk: 1, heads: 1, d: 1 },
    { b: 2, sq: 13, sk: 7, heads: 3, d: 24 },
    { b: 1, sq: 37, sk: 77, heads: 8, d: 40 }, // cross-attention, Sk = 77, partial key block
    { b: 2, sq: 77, sk: 77, heads: 2, d: 64, causal: true }, // CLIP-like
    { b: 1, sq: 19, sk: 23, heads: 2, d: 13, causal: true }, // D not a multiple of 4 (scalar loads), Sq ≠ Sk
    { b: 1, sq: 50, sk: 41, heads: 2, d: 80 },
    { b: 1, sq: 9, sk: 77, heads: 1, d: 160 },
    { b: 1, sq: 21, sk: 70, heads: 1, d: 512 }, // VAE mid-block: output columns split over workgroups
    { b: 2, sq: 17, sk: 17, heads: 2, d: 12, scale: 0.7, std: 3 }, // explicit scale, peaky scores
    { b: 1, sq: 33, sk: 40, heads: 4, d: 20, std: 40 }, // |scores| up to ~1e4: the running max must hold
  ];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const cs of cases) {
      it(`${dtype} ${JSON.stringify(cs)}`, async () => {
        const dev = await testDevice();
        if (dtype === 'f16' && !dev.features.f16) return;
        await check(dev, cs, dtype);
      });
    }
  }

  it('gives the same result for every launch shape', async () => {
    const dev = await testDevice();
    const tunings: AttentionTuning[] = [
      { mode: 'direct', lanes: 8, rows: 1, keys: 1, chunk: 40 },
      { mode: 'direct', lanes: 4, rows: 3, keys: 5, chunk: 20 },
      { mode: 'direct', lanes: 16, rows: 2, keys: 16, chunk: 8 },
    ];
    if (dev.features.subgroups && attentionTuning(dev, 40).mode === 'subgroup') {
      tunings.push({ mode: 'subgroup', lanes: 8, rows: 3, keys: 8, chunk: 20 }, { mode: 'subgroup', lanes: 8, rows: 1, keys: 8, chunk: 40 });
    }
    for (const tuning of tunings) {
      await check(dev, { b: 2, sq: 29, sk: 31, heads: 2, d: 40, causal: true, tuning }, 'f32');
      await check(dev, { b: 1, sq: 29, sk: 77, heads: 3, d: 40, tuning }, 'f32');
    }
    // The direct mode on the scalar-load path and at D = 512, in f16 too.
    const direct = (d: number): AttentionTuning => ({ mode: 'direct', lanes: 8, rows: 4, keys: 8, chunk: d });
    for (const dtype of dev.features.f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      await check(dev, { b: 1, sq: 19, sk: 23, heads: 2, d: 13, causal: true, tuning: direct(13) }, dtype);
      await check(dev, { b: 1, sq: 21, sk: 70, heads: 1, d: 512, tuning: direct(512) }, dtype);
    }
  });

  // Every row's kernels (flash on the GPU rows) at SD's head dims: 40/80/160 self- and cross-attention (77 keys: a
  // partial last tile), query counts that are not a multiple of the workgroup's rows, CLIP's causal 77x77 at D 64,
  // scalar loads (D 13), batch·heads, and the VAE's single head at D 512 (the GPU rows' direct fallback).
  const rowCases: Case[] = [
    { b: 1, sq: 70, sk: 77, heads: 2, d: 40 },
    { b: 2, sq: 65, sk: 65, heads: 2, d: 40 },
    { b: 1, sq: 33, sk: 77, heads: 1, d: 80 },
    { b: 1, sq: 66, sk: 40, heads: 1, d: 160 },
    { b: 2, sq: 77, sk: 77, heads: 2, d: 64, causal: true },
    { b: 1, sq: 19, sk: 23, heads: 2, d: 13, causal: true },
    { b: 1, sq: 21, sk: 70, heads: 1, d: 512 },
    { b: 1, sq: 33, sk: 40, heads: 2, d: 20, std: 40 },
  ];
  for (const [label, row] of distinctRows('attention')) {
    it(`row ${label}: matches the reference and the fixtures`, async (ctx) => {
      const dev = await testDevice();
      await withRow(ctx, dev, row, async () => {
        for (const cs of rowCases) await check(dev, cs, 'f32');
        // f16 storage (f32 accumulation) on the cross-attention tail, D 160 and the D 512 fallback.
        if (dev.features.f16) for (const i of [0, 3, 6]) await check(dev, rowCases[i]!, 'f16');
        for (const name of ['attention_cross_b1_q64_k77_h8_d40', 'attention_self_b1_q256_k256_h1_d80']) {
          const fx = await loadCase(`ops/${name}`);
          const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => fx.inputs[n]!);
          const [tq, tk, tv] = [q!, k!, v!].map((t) => dev.tensor(t.data as Float32Array, t.shape));
          const y = attention(tq!, tk!, tv!, { heads: fx.attrs.heads, scale: fx.attrs.scale });
          expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: 1e-5, shape: q!.shape }, name); // README §2
          for (const t of [tq!, tk!, tv!, y]) t.dispose();
        }
      }, { gpuRowsOnSwiftShader: true });
    });
  }

  it('sizes the GPU rows\' flash tiles to fit their workgroup memory and runs direct above it', async (ctx) => {
    const dev = await testDevice();
    await withRow(ctx, dev, KERNEL_ROWS.nvidia, async () => {
      const t = (d: number) => attentionTuning(dev, d);
      expect([40, 64, 80, 160].map((d) => [t(d).mode, t(d).keys])).toEqual([['flash', 32], ['flash', 16], ['flash', 16], ['flash', 8]]);
      expect(t(512).mode).toBe('direct');
    });
  });

  it('gives the same result for every flash launch shape', async () => {
    const dev = await testDevice();
    const flash = (lanes: number, rows: number, keys: number, chunk: number): AttentionTuning => ({ mode: 'flash', lanes, rows, keys, chunk });
    for (const tuning of [flash(64, 2, 8, 40), flash(32, 1, 4, 20), flash(16, 3, 16, 8)]) {
      await check(dev, { b: 2, sq: 29, sk: 31, heads: 2, d: 40, causal: true, tuning }, 'f32');
      await check(dev, { b: 1, sq: 70, sk: 77, heads: 3, d: 40, tuning }, 'f32');
    }
    // D 512 with the output split into 128-column slices (a tile of 4 keys: 10 KiB).
    await check(dev, { b: 1, sq: 21, sk: 70, heads: 1, d: 512, tuning: flash(64, 1, 4, 128) }, 'f32');
    const huge: AttentionTuning = { mode: 'flash', lanes: 64, rows: 1, keys: 64, chunk: 512 };
    const q = dev.tensor(new Float32Array(512), [1, 1, 512]);
    expect(() => attention(q, q, q, { heads: 1 }, huge)).toThrow(/workgroup memory/);
    q.dispose();
  });

  const fixtures = [
    'attention_cross_b1_q16_k77_h2_d160',
    'attention_cross_b1_q64_k77_h8_d40',
    'attention_cross_b2_q13_k7_h3_d24',
    'attention_self_b1_q256_k256_h1_d80',
    'attention_self_b1_q64_k64_h1_d64',
    'attention_self_b1_q64_k64_h8_d40',
    'attention_self_b2_q33_k33_h4_d64',
  ];
  it('matches the attention fixtures', async () => {
    const dev = await testDevice();
    for (const name of fixtures) {
      const fx = await loadCase(`ops/${name}`);
      const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => fx.inputs[n]!);
      const [tq, tk, tv] = [q!, k!, v!].map((t) => dev.tensor(t.data as Float32Array, t.shape));
      const y = attention(tq!, tk!, tv!, { heads: fx.attrs.heads, scale: fx.attrs.scale });
      // test/fixtures/README.md section 2: 1e-5.
      expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: 1e-5, shape: q!.shape }, name);
      for (const t of [tq!, tk!, tv!, y]) t.dispose();
    }
  });

  it('matches the f16 fixture', async (ctx) => {
    const dev = await testDevice();
    if (!dev.features.f16) ctx.skip('this adapter has no shader-f16');
    const fx = await loadCase('ops/f16_attention_cross_q64_k77_h8_d40');
    const [q, k, v] = (['q', 'k', 'v'] as const).map((n) => fx.inputs[n]!);
    const [tq, tk, tv] = [q!, k!, v!].map((t) => dev.tensor(t.data as Float32Array, t.shape, 'f16'));
    const y = attention(tq!, tk!, tv!, { heads: fx.attrs.heads });
    const got = await y.data();
    const f32 = fx.outputs.y_f32!.data as Float32Array;
    const scale = f32.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
    // README section 2: f16 attention 5e-3 (of max|ref|); and about 1 f16 ulp of y_f16 (2^-10 relative + a
    // subnormal-sized floor for values near 0).
    expectClose(got, f32, { atol: 5e-3 * scale }, 'f16 attention vs y_f32');
    expectClose(got, fx.outputs.y_f16!.data as Float32Array, { atol: 2 ** -14, rtol: 2 ** -10 }, 'f16 attention vs y_f16');
    for (const t of [tq!, tk!, tv!, y]) t.dispose();
  });

  it('throws typed errors for bad input', async () => {
    const dev = await testDevice();
    const q = dev.tensor(new Float32Array(2 * 3 * 8), [2, 3, 8]);
    const k = dev.tensor(new Float32Array(2 * 5 * 8), [2, 5, 8]);
    const k6 = dev.tensor(new Float32Array(2 * 5 * 6), [2, 5, 6]);
    expect(() => attention(q, k, k, { heads: 3 })).toThrow(ParameterError);
    expect(() => attention(q, k6, k6, { heads: 2 })).toThrow(ShapeError);
    expect(() => attention(q, k, k6, { heads: 2 })).toThrow(/k and v/);
    expect(() => attention(q.reshape([6, 8]), k, k, { heads: 2 })).toThrow(ShapeError);
    expect(() => attention(q, k, k, { heads: 2, scale: Number.NaN })).toThrow(/scale/);
    expect(() => attention(q, k, k, { heads: 2 }, { mode: 'direct', lanes: 8, rows: 1, keys: 8, chunk: 3 })).toThrow(ParameterError);
    expect(() => attention(q, k, k, { heads: 2 }, { mode: 'subgroup', lanes: 8, rows: 1, keys: 4, chunk: 4 })).toThrow(/8 lanes/);
    const k0 = dev.empty([2, 0, 8]);
    expect(() => attention(q, k0, k0, { heads: 2 })).toThrow(/no keys/);
    k0.dispose();
    const ki = dev.tensor(new Int32Array(80), [2, 5, 8], 'i32');
    expect(() => attention(q, ki, k, { heads: 2 })).toThrow(UnsupportedError);
    for (const t of [q, k, k6, ki]) t.dispose();

    const small = await createDevice({ maxStorageBufferBindingSize: 256 });
    try {
      const big = small.tensor(new Float32Array(2 * 40 * 8), [2, 40, 8]);
      expect(() => attention(big, big, big, { heads: 2 })).toThrow(LimitError);
      big.dispose();
    } finally {
      small.dispose();
    }
  });
});
