/**
 * matmul / linear: batched matrix products with torch.matmul broadcasting, an optional transposed B (the PyTorch
 * `[out, in]` Linear layout, the fast path) and a fused bias epilogue; f32 or f16 storage, f32 accumulation.
 *
 * The kernel table (./table.ts) picks the family: lavapipe's subgroup-broadcast kernels (./matmul/wgsl.ts, tiles from
 * the measured table in ./matmul/tiles.ts) or the GEMM core (./gemm/core.ts with the hooks of ./gemm/matmul.ts) on
 * every other adapter. ./matmul/plan.ts splits operands larger than one storage binding into aligned windows for both.
 */
import {
  debugLog,
  BYTES_PER_ELEMENT, type BufferWindow, type Device, type Kernel, type Tensor, ShapeError, UnsupportedError, checkFloat, shapeStr,
} from '@sd-webgpu/tensor';
import { broadcastBatch, planMatmul, type BatchDim, type Window } from './matmul/plan.js';
import { chooseTile, type MatmulLayout } from './matmul/tiles.js';
import { matmulKernel, tileOf } from './matmul/wgsl.js';
import type { GemmTile } from './gemm/core.js';
import { gemmMatmulHooks } from './gemm/matmul.js';
import { type AnyGemmTile, tileFootprint, tileKernel } from './gemm/select.js';
import { cachedPlan } from './plans.js';
import { KERNEL_ROWS, checkKernelRow, kernelRow, matrixTile, planTableKey } from './table.js';

export { type MatmulVariant, matmulKernel, variantName as matmulVariantName } from './matmul/wgsl.js';

/**
 * Overrides the kernel table (benchmarks and tests): `gemm` runs the GEMM core with that tile (a subgroup-matrix tile:
 * the f16 subgroup-matrix core); `rows`/`cols` run the subgroup kernel with that tile (UnsupportedError without
 * 8-lane subgroups).
 */
export interface MatmulTile {
  gemm?: AnyGemmTile;
  rows?: number;
  cols?: number;
}

export interface MatmulOptions {
  /** B is `[...B, N, K]` (e.g. a PyTorch Linear weight `[out, in]`). */
  transB?: boolean;
  /** `[N]`, added in the epilogue. */
  bias?: Tensor;
  tile?: MatmulTile;
}

/** Floating-point operations of a (batched) matmul: 2·M·N·K per batch entry. */
export function matmulFlops(m: number, n: number, k: number, batch = 1): number {
  return 2 * m * n * k * batch;
}

/**
 * `a [...A, M, K] · b [...B, K, N]` (`b [...B, N, K]` with transB) → `[...broadcast(A, B), M, N]`, plus `bias [N]`.
 * The plan (checks, kernel, windows, uniforms) depends only on the kernel row, the dtypes and the shapes, so it is made
 * once per such signature (./plans.ts); a forced tile plans every call.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transB = opts.transB ?? false;
  const bias = opts.bias;
  if (a.device !== b.device) throw new UnsupportedError('matmul', 'operands live on different devices');
  if (bias && bias.device !== a.device) throw new UnsupportedError('matmul', 'bias lives on another device than the operands');
  const device = a.device;
  const force = opts.tile;
  const plan = force
    ? planMatmulCall(a, b, transB, bias, force)
    : cachedPlan(device, 'matmul',
      `${planTableKey(device, a.dtype)}|${a.dtype}|${a.shape}|${b.dtype}|${b.shape}|${transB}|${bias ? `${bias.dtype}:${bias.shape}` : '-'}`,
      () => planMatmulCall(a, b, transB, bias));
  const y = device.empty(plan.shape, a.dtype);
  try {
    for (const d of plan.dispatches) {
      const bindings: Record<string, BufferWindow> = {
        a: { tensor: a, offset: d.a.offset, size: d.a.size },
        b: { tensor: b, offset: d.b.offset, size: d.b.size },
        y: { tensor: y, offset: d.y.offset, size: d.y.size },
      };
      if (d.bias && bias) bindings.bias = { tensor: bias, offset: d.bias.offset, size: d.bias.size };
      device.run(d.kernel, { bindings, uniforms: d.uniforms, workgroups: d.workgroups });
    }
  } catch (e) {
    y.dispose();
    throw e;
  }
  return y;
}

/** `x [..., in] · weightᵀ + bias` with a PyTorch Linear `weight [out, in]` → `[..., out]`. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  if (x.rank < 1 || weight.rank !== 2) {
    throw new ShapeError('linear', `expected x [..., in] and weight [out, in]`, [x.shape, weight.shape]);
  }
  const inF = x.shape[x.rank - 1]!;
  if (weight.shape[1] !== inF) {
    throw new ShapeError('linear', `x has ${inF} input features, weight is [${weight.shape.join(',')}] ([out, in])`, [
      x.shape, weight.shape,
    ]);
  }
  // rank >= 2: matmul folds x's (contiguous) batch dims into M against the shared weight, the same single GEMM as
  // over the flattened rows, without the two reshaped views
  if (x.rank >= 2) return matmul(x, weight, { transB: true, bias });
  const x2 = x.reshape([1, inF]);
  try {
    const y = matmul(x2, weight, { transB: true, bias });
    const out = y.reshape([weight.shape[0]!]);
    y.dispose();
    return out;
  } finally {
    x2.dispose();
  }
}

interface Geometry {
  M: number;
  N: number;
  K: number;
  transB: boolean;
  batch: BatchDim[];
}

/** One recorded dispatch of a matmul: its kernel, the operands' windows, uniforms and workgroups. */
interface MatmulDispatch {
  readonly kernel: Kernel;
  readonly a: Window;
  readonly b: Window;
  readonly y: Window;
  readonly bias?: Window;
  readonly uniforms: Readonly<Record<string, number>>;
  readonly workgroups: readonly [number, number, number];
}

interface MatmulPlan {
  /** Output shape `[...broadcast(A, B), M, N]`. */
  readonly shape: readonly number[];
  readonly dispatches: readonly MatmulDispatch[];
}

/** Checks the operands, then picks the kernel (table row or override) and plans the dispatches. */
function planMatmulCall(a: Tensor, b: Tensor, transB: boolean, bias: Tensor | undefined, force?: MatmulTile): MatmulPlan {
  const op = 'matmul';
  checkFloat(op, a.dtype);
  if (b.dtype !== a.dtype) throw new UnsupportedError(op, `operands have dtypes ${a.dtype} and ${b.dtype}`);
  if (a.rank < 2 || b.rank < 2) {
    throw new ShapeError(op, `operands need rank >= 2 (got ${a.rank} and ${b.rank})`, [a.shape, b.shape]);
  }
  const M = a.shape[a.rank - 2]!;
  const K = a.shape[a.rank - 1]!;
  const kb = b.shape[b.rank - (transB ? 1 : 2)]!;
  const N = b.shape[b.rank - (transB ? 2 : 1)]!;
  if (kb !== K) {
    throw new ShapeError(op, `inner dims differ: a has K=${K}, b${transB ? ' (transB)' : ''} has K=${kb}`, [a.shape, b.shape]);
  }
  if (bias) {
    if (bias.dtype !== a.dtype) throw new UnsupportedError(op, `bias dtype ${bias.dtype} differs from operands' ${a.dtype}`);
    if (bias.rank !== 1 || bias.shape[0] !== N) {
      throw new ShapeError(op, `bias must be [${N}] (got ${shapeStr(bias.shape)})`, [a.shape, b.shape, bias.shape]);
    }
  }
  const { outBatch, dims } = broadcastBatch(op, a.shape, b.shape, M, K, N);
  // A weight shared by every batch entry: fold A's batch into M (rows stay contiguous in A and the output).
  let rows = M;
  let batch: BatchDim[] = dims;
  if (dims.length === 1 && dims[0]!.sb === 0 && dims[0]!.sa === M * K) {
    rows = M * dims[0]!.size;
    batch = [];
  }
  const g: Geometry = { M: rows, N, K, transB, batch };
  const device = a.device;
  const dtype = a.dtype as 'f32' | 'f16';
  const row = kernelRow(device);
  const subgroup = force ? force.gemm === undefined : row.matmul === 'subgroup';
  if (force?.gemm && (force.rows !== undefined || force.cols !== undefined)) {
    throw new UnsupportedError('matmul', 'tile: give either gemm or rows/cols, not both');
  }
  if (subgroup && force) checkKernelRow(device, KERNEL_ROWS.lavapipe);
  const dispatches = subgroup
    ? planSubgroup(device, dtype, g, !!bias, force)
    : planGemm(device, dtype, g, !!bias, force?.gemm ?? (dtype === 'f16' ? matrixTile(device, row) : null) ?? (row.matmul as GemmTile));
  return { shape: [...outBatch, M, N], dispatches };
}

const limitsOf = (device: Device) => ({
  maxBinding: device.limits.maxStorageBufferBindingSize,
  offsetAlignment: device.limits.minStorageBufferOffsetAlignment,
  maxGroups: device.limits.maxComputeWorkgroupsPerDimension,
});

/** lavapipe: the subgroup-broadcast kernel with a tile from ./matmul/tiles.ts. */
function planSubgroup(device: Device, dtype: 'f32' | 'f16', g: Geometry, bias: boolean, force?: MatmulTile): MatmulDispatch[] {
  const kVec = g.K % 4 === 0;
  const nVec = !g.transB && g.N % 4 === 0;
  const layout: MatmulLayout = g.transB ? 'tb' : nVec ? 'n4' : 'n1';
  const picked = chooseTile(layout, g.M, g.N);
  const rows = force?.rows ?? picked.rows;
  const cols = force?.cols ?? picked.cols;
  if (rows % 8 !== 0 || rows < 8 || !Number.isInteger(cols) || cols < 1) {
    throw new UnsupportedError('matmul', `subgroup tiles need rows that are a multiple of 8 and cols >= 1 (got ${rows}x${cols})`);
  }
  const base = { dtype, mode: 'subgroup' as const, kVec, transB: g.transB, nVec, rows, cols };
  const tile = tileOf({ ...base, bias: false, accumulate: false });
  const plan = planMatmul(
    { M: g.M, N: g.N, K: g.K, transB: g.transB, batch: g.batch, bytesPerElement: BYTES_PER_ELEMENT[dtype], bias },
    { rowsPerGroup: tile.rowsPerGroup, colsPerGroup: tile.colsPerGroup, colUnit: tile.colUnit, kUnit: kVec ? 4 : 1 },
    limitsOf(device),
  );
  if (plan.length > 1) debugLog('matmul', () => `[${g.M}x${g.K}]·[${g.K}x${g.N}] split into ${plan.length} dispatches (binding limit)`);
  return plan.map((d) => ({ ...d, kernel: matmulKernel({ ...base, bias: !!d.bias, accumulate: d.accumulate }) }));
}

/** Every other adapter: the GEMM core; the tile grid is flattened into x (run() folds it past the limit). */
function planGemm(device: Device, dtype: 'f32' | 'f16', g: Geometry, bias: boolean, tile: AnyGemmTile): MatmulDispatch[] {
  const kVec = g.K % 4 === 0;
  const { rows, cols } = tileFootprint(tile);
  const plan = planMatmul(
    { M: g.M, N: g.N, K: g.K, transB: g.transB, batch: g.batch, bytesPerElement: BYTES_PER_ELEMENT[dtype], bias },
    { rowsPerGroup: rows, colsPerGroup: cols, colUnit: 1, kUnit: kVec ? 4 : 1 },
    limitsOf(device),
  );
  if (plan.length > 1) debugLog('matmul', () => `[${g.M}x${g.K}]·[${g.K}x${g.N}] split into ${plan.length} dispatches (binding limit)`);
  return plan.map((d) => {
    const hooks = gemmMatmulHooks({ dtype, kVec, transB: g.transB, bias: !!d.bias, accumulate: d.accumulate });
    const [wx, wy, wz] = d.workgroups;
    return { ...d, kernel: tileKernel('matmul', hooks, tile), workgroups: [wx * wy, 1, wz] as const };
  });
}
