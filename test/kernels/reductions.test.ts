// Group norm, layer norm and softmax on every kernel-table row (forced on the test device, see test/helpers/rows.ts),
// plus the GPU rows' `tree` reduction (what they run on devices without subgroups): each against its CPU reference
// and the fixtures, on shapes that exercise the narrow and the wide workgroups, rows and groups that are not
// multiples of the workgroup, multi-chunk groups, large offsets, f32 and f16.
import { describe, it } from 'vitest';
import { type Device, roundToF16 } from '@sd-webgpu/tensor';
import { groupNorm, layerNorm } from '../../packages/kernels/src/norm';
import { softmax } from '../../packages/kernels/src/softmax';
import { groupNormRef, layerNormRef } from '../../packages/kernels/src/reference/norm';
import { softmaxRef } from '../../packages/kernels/src/reference/softmax';
import { KERNEL_ROWS, type KernelRow } from '../../packages/kernels/src/table';
import { testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';
import { distinctRows, withRow } from '../helpers/rows';
import { normal } from '../helpers/random';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
/** f32 and (where the device has it) f16; only f32 for the `tree` variant (its reduction is f32 either way). */
const dtypesOf = (dev: Device, label = '') =>
  (dev.features.f16 && !label.includes('tree') ? (['f32', 'f16'] as const) : (['f32'] as const));
// f32: f32 accumulation relative to an f64 reference, |y| ≲ 6; f16: inputs pre-rounded so only the f16 output
// rounding (≤ 2^-11 relative) remains (as in norm.test.ts / softmax.test.ts).
const normTol = (dtype: 'f32' | 'f16') => (dtype === 'f32' ? { atol: 2e-5, rtol: 1e-5 } : { atol: 1e-3, rtol: 1e-3 });

/** The rows with distinct reductions for `op`, and the GPU row's reduction without subgroups (`tree`). */
function rowsFor(op: 'norm' | 'softmax'): [string, KernelRow][] {
  const tree: KernelRow = { ...KERNEL_ROWS.nvidia, [op]: { ...KERNEL_ROWS.nvidia[op], reduce: 'tree' } };
  return [...distinctRows(op), ['nvidia (tree, no subgroups)', tree]];
}

async function checkGroupNorm(
  dev: Device, shape: number[], groups: number, silu: boolean, dtype: 'f32' | 'f16', offset = 0, std = 1,
): Promise<void> {
  const c = shape[1]!;
  let [x, w, b] = [normal(numel(shape), 7 + c, offset, std), normal(c, 11, 1, 0.5), normal(c, 13, 0, 0.5)];
  if (dtype === 'f16') [x, w, b] = [roundToF16(x), roundToF16(w), roundToF16(b)];
  const [tx, tw, tb] = [dev.tensor(x, shape, dtype), dev.tensor(w, [c], dtype), dev.tensor(b, [c], dtype)];
  const y = groupNorm(tx, tw, tb, { groups, eps: 1e-6, silu });
  const want = groupNormRef(x, shape, w, b, { groups, eps: 1e-6, silu });
  // A large offset (mean 1000, std 1e-3) quantises x to 6e-5 = 0.06 std; the shifted two-pass variance keeps the
  // result within the f32 error of (x - mean)·rstd: ~1e-4 of |y| ≲ 5 (a one-pass E[x²]-E[x]² would be off by O(1)).
  const tol = offset ? { atol: 2e-4, rtol: 1e-4 } : normTol(dtype);
  expectClose(await y.data(), want, { ...tol, shape }, `groupNorm ${dtype} [${shape}] offset ${offset}`);
  for (const t of [tx, tw, tb, y]) t.dispose();
}

describe('reductions on every kernel-table row', () => {
  for (const [label, row] of rowsFor('norm')) {
    it(`group norm: ${label}`, async (ctx) => {
      const dev = await testDevice();
      await withRow(ctx, dev, row, async () => {
        for (const dtype of dtypesOf(dev, label)) {
          await checkGroupNorm(dev, [2, 64, 5, 7], 32, true, dtype); // 70 scalar loads per group: narrow workgroup
          await checkGroupNorm(dev, [1, 32, 67, 61], 8, false, dtype); // 16348 values, scalar: 4 wide chunks
          await checkGroupNorm(dev, [2, 40, 48, 48], 8, true, dtype); // vec4, 11520 values: 3 chunks of 960 loads
          await checkGroupNorm(dev, [1, 2, 1, 1], 1, false, dtype);
        }
        await checkGroupNorm(dev, [1, 32, 64, 64], 32, false, 'f32', 1000, 1e-3); // large offset, 1024-load chunk
        await checkGroupNorm(dev, [1, 8, 5, 9], 4, false, 'f32', 1000, 1e-3); // large offset, narrow fused
        for (const name of ['group_norm_1x64x8x8_g32_eps1e-06_offset50_std0.01', 'group_norm_2x320x8x8_g32_eps1e-05']) {
          const fx = await loadCase(`ops/${name}`);
          const x = fx.inputs.x!;
          const [tx, tw, tb] = [x, fx.weights.weight!, fx.weights.bias!].map((t) => dev.tensor(t.data as Float32Array, t.shape));
          const y = groupNorm(tx!, tw!, tb!, { groups: fx.attrs.num_groups, eps: fx.attrs.eps });
          // test/fixtures/README.md section 2: 1e-5, 1e-4 for offset50 (see norm.test.ts).
          expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: name.includes('offset50') ? 1e-4 : 1e-5 }, name);
          for (const t of [tx!, tw!, tb!, y]) t.dispose();
        }
      }, { gpuRowsOnSwiftShader: true });
    });

    it(`layer norm: ${label}`, async (ctx) => {
      const dev = await testDevice();
      await withRow(ctx, dev, row, async () => {
        // Rows of 1, odd, 77x64, 320 and 1280 (80 / 320 vec4 loads: 64 lanes), 4100 (1025 loads: 256 lanes), 3x4099.
        for (const shape of [[1], [3, 7, 41], [2, 77, 64], [5, 320], [2, 9, 1280], [2, 4100], [3, 4099]]) {
          const d = shape[shape.length - 1]!;
          for (const dtype of dtypesOf(dev, label)) {
            for (const offset of dtype === 'f32' ? [2, 1000] : [2]) {
              let [x, w, b] = [normal(numel(shape), 3 + d, offset, offset === 2 ? 3 : 1e-2), normal(d, 5, 1, 0.5), normal(d, 9, 0, 0.5)];
              if (dtype === 'f16') [x, w, b] = [roundToF16(x), roundToF16(w), roundToF16(b)];
              const [tx, tw, tb] = [dev.tensor(x, shape, dtype), dev.tensor(w, [d], dtype), dev.tensor(b, [d], dtype)];
              const y = layerNorm(tx, tw, tb, { eps: 1e-5 });
              // Offset 1000, std 1e-2: x quantised to 6e-5 = 6e-3 std, so f32 (x - mean)·rstd carries ~1e-3 of |y|.
              const tol = offset === 1000 ? { atol: 2e-3, rtol: 1e-3 } : normTol(dtype);
              expectClose(await y.data(), layerNormRef(x, d, w, b, { eps: 1e-5 }), { ...tol, shape }, `layerNorm ${dtype} [${shape}] +${offset}`);
              for (const t of [tx, tw, tb, y]) t.dispose();
            }
          }
        }
        const fx = await loadCase('ops/layer_norm_1x5x768_offset20');
        const x = fx.inputs.x!;
        const [tx, tw, tb] = [x, fx.weights.weight!, fx.weights.bias!].map((t) => dev.tensor(t.data as Float32Array, t.shape));
        const y = layerNorm(tx!, tw!, tb!, { eps: fx.attrs.eps });
        expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: 1e-5 }, 'layer_norm_1x5x768_offset20'); // README §2
        for (const t of [tx!, tw!, tb!, y]) t.dispose();
      }, { gpuRowsOnSwiftShader: true });
    });
  }

  for (const [label, row] of rowsFor('softmax')) {
    it(`softmax: ${label}`, async (ctx) => {
      const dev = await testDevice();
      await withRow(ctx, dev, row, async () => {
        // 77 keys (scalar), 40 (vec4, fewer loads than lanes), 4096 (1024 vec4 loads: 256 lanes), 4097 (scalar, wide).
        for (const shape of [[7], [2, 8, 77], [3, 40], [2, 4096], [3, 4097], [77, 77]]) {
          for (const dtype of dtypesOf(dev, label)) {
            for (const causal of shape.length > 1 && shape[shape.length - 1]! <= 77 ? [false, true] : [false]) {
              let x = normal(numel(shape), numel(shape) + 5, 0, 4);
              if (dtype === 'f16') x = roundToF16(x);
              const tx = dev.tensor(x, shape, dtype);
              const y = softmax(tx, { causal });
              // As softmax.test.ts: f32 1e-6 abs (values ≤ 1); f16 output rounding 1e-3.
              const tol = dtype === 'f32' ? { atol: 1e-6, rtol: 1e-5 } : { atol: 1e-3, rtol: 1e-3 };
              expectClose(await y.data(), softmaxRef(x, shape, { causal }), { ...tol, shape }, `softmax ${dtype} [${shape}]${causal ? ' causal' : ''}`);
              for (const t of [tx, y]) t.dispose();
            }
          }
        }
        // ±6000, -inf and float32 min (excluded), and a row with nothing left (zeros).
        const x = new Float32Array([6000, -6000, 5999, 0, -Infinity, -3.4028234663852886e38, 1, -Infinity, -Infinity, -Infinity]);
        const tx = dev.tensor(x, [2, 5]);
        const y = softmax(tx);
        const e = Math.exp(-1);
        expectClose(await y.data(), new Float32Array([1 / (1 + e), 0, e / (1 + e), 0, 0, 0, 1, 0, 0, 0]), { atol: 1e-7 }, 'softmax extremes');
        for (const t of [tx, y]) t.dispose();
        for (const name of ['softmax_normal_2x8x77', 'softmax_large_neg_4x64', 'softmax_wide_2x4x256']) {
          const fx = await loadCase(`ops/${name}`);
          const tx = dev.tensor(fx.inputs.x!.data as Float32Array, fx.inputs.x!.shape);
          const y = softmax(tx);
          expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: 1e-6 }, name); // README §2: 1e-6
          for (const t of [tx, y]) t.dispose();
        }
      }, { gpuRowsOnSwiftShader: true });
    });
  }
});
