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
  BYTES_PER_ELEMENT, type Device, type Tensor, ShapeError, UnsupportedError, checkFloat, shapeStr,
} from '@sd-webgpu/tensor';
import { broadcastBatch, planMatmul, type BatchDim, type PlannedDispatch } from './matmul/plan.js';
import { chooseTile, type MatmulLayout } from './matmul/tiles.js';
import { matmulKernel, tileOf } from './matmul/wgsl.js';
import { type GemmTile, checkGemmTile, gemmFootprint, gemmKernel } from './gemm/core.js';
import { gemmMatmulHooks } from './gemm/matmul.js';
import { KERNEL_ROWS, checkKernelRow, kernelRow } from './table.js';

export { type MatmulVariant, matmulKernel, variantName as matmulVariantName } from './matmul/wgsl.js';

/**
 * Overrides the kernel table (benchmarks and tests): `gemm` runs the GEMM core with that tile; `rows`/`cols` run the
 * subgroup kernel with that tile (UnsupportedError without 8-lane subgroups).
 */
export interface MatmulTile {
  gemm?: GemmTile;
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
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  const transB = opts.transB ?? false;
  checkFloat(op, a.dtype);
  if (b.dtype !== a.dtype) throw new UnsupportedError(op, `operands have dtypes ${a.dtype} and ${b.dtype}`);
  if (a.device !== b.device) throw new UnsupportedError(op, 'operands live on different devices');
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
  const bias = opts.bias;
  if (bias) {
    if (bias.dtype !== a.dtype) throw new UnsupportedError(op, `bias dtype ${bias.dtype} differs from operands' ${a.dtype}`);
    if (bias.device !== a.device) throw new UnsupportedError(op, 'bias lives on another device than the operands');
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
  const y = a.device.empty([...outBatch, M, N], a.dtype);
  try {
    record(a, b, y, bias, { M: rows, N, K, transB, batch }, opts.tile);
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
  const outF = weight.shape[0]!;
  const x2 = x.reshape([x.shape.slice(0, -1).reduce((s, d) => s * d, 1), inF]);
  try {
    const y = matmul(x2, weight, { transB: true, bias });
    const out = y.reshape([...x.shape.slice(0, -1), outF]);
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

/** Picks the kernel (table row or override), plans the dispatches and records them. */
function record(a: Tensor, b: Tensor, y: Tensor, bias: Tensor | undefined, g: Geometry, force?: MatmulTile): void {
  const device = a.device;
  const row = kernelRow(device);
  const subgroup = force ? force.gemm === undefined : row.matmul === 'subgroup';
  if (force?.gemm && (force.rows !== undefined || force.cols !== undefined)) {
    throw new UnsupportedError('matmul', 'tile: give either gemm or rows/cols, not both');
  }
  if (subgroup) {
    if (force) checkKernelRow(device, KERNEL_ROWS.lavapipe);
    recordSubgroup(a, b, y, bias, g, force);
  } else {
    recordGemm(a, b, y, bias, g, force?.gemm ?? (row.matmul as GemmTile));
  }
}

const limitsOf = (device: Device) => ({
  maxBinding: device.limits.maxStorageBufferBindingSize,
  offsetAlignment: device.limits.minStorageBufferOffsetAlignment,
  maxGroups: device.limits.maxComputeWorkgroupsPerDimension,
});

/** lavapipe: the subgroup-broadcast kernel with a tile from ./matmul/tiles.ts. */
function recordSubgroup(a: Tensor, b: Tensor, y: Tensor, bias: Tensor | undefined, g: Geometry, force?: MatmulTile): void {
  const device = a.device;
  const dtype = a.dtype as 'f32' | 'f16';
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
    { M: g.M, N: g.N, K: g.K, transB: g.transB, batch: g.batch, bytesPerElement: BYTES_PER_ELEMENT[dtype], bias: !!bias },
    { rowsPerGroup: tile.rowsPerGroup, colsPerGroup: tile.colsPerGroup, colUnit: tile.colUnit, kUnit: kVec ? 4 : 1 },
    limitsOf(device),
  );
  if (plan.length > 1) debugLog('matmul', () => `[${g.M}x${g.K}]·[${g.K}x${g.N}] split into ${plan.length} dispatches (binding limit)`);
  for (const d of plan) {
    const kernel = matmulKernel({ ...base, bias: !!d.bias, accumulate: d.accumulate });
    device.run(kernel, { bindings: bindingsOf(d, a, b, y, bias), uniforms: d.uniforms, workgroups: d.workgroups });
  }
}

/** Every other adapter: the GEMM core; the tile grid is flattened into x (run() folds it past the limit). */
function recordGemm(a: Tensor, b: Tensor, y: Tensor, bias: Tensor | undefined, g: Geometry, tile: GemmTile): void {
  const device = a.device;
  const dtype = a.dtype as 'f32' | 'f16';
  const kVec = g.K % 4 === 0;
  const { rows, cols } = gemmFootprint(checkGemmTile(tile));
  const plan = planMatmul(
    { M: g.M, N: g.N, K: g.K, transB: g.transB, batch: g.batch, bytesPerElement: BYTES_PER_ELEMENT[dtype], bias: !!bias },
    { rowsPerGroup: rows, colsPerGroup: cols, colUnit: 1, kUnit: kVec ? 4 : 1 },
    limitsOf(device),
  );
  if (plan.length > 1) debugLog('matmul', () => `[${g.M}x${g.K}]·[${g.K}x${g.N}] split into ${plan.length} dispatches (binding limit)`);
  for (const d of plan) {
    const hooks = gemmMatmulHooks({ dtype, kVec, transB: g.transB, bias: !!d.bias, accumulate: d.accumulate });
    const [wx, wy, wz] = d.workgroups;
    device.run(gemmKernel(hooks, tile), { bindings: bindingsOf(d, a, b, y, bias), uniforms: d.uniforms, workgroups: [wx * wy, 1, wz] });
  }
}

function bindingsOf(d: PlannedDispatch, a: Tensor, b: Tensor, y: Tensor, bias?: Tensor): Record<string, { tensor: Tensor; offset: number; size: number }> {
  const bindings: Record<string, { tensor: Tensor; offset: number; size: number }> = {
    a: { tensor: a, ...d.a },
    b: { tensor: b, ...d.b },
    y: { tensor: y, ...d.y },
  };
  if (d.bias && bias) bindings.bias = { tensor: bias, ...d.bias };
  return bindings;
}
