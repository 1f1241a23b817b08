/**
 * matmul / linear: batched matrix products with torch.matmul broadcasting, an optional transposed B (the PyTorch
 * `[out, in]` Linear layout, the fast path) and a fused bias epilogue; f32 or f16 storage, f32 accumulation.
 *
 * Kernels are generated in ./matmul/wgsl.ts (subgroup-broadcast kernel on CPU adapters such as lavapipe, plain
 * register-tiled 8x8 workgroups on GPUs), tiles come from the measured table in ./matmul/tiles.ts, and
 * ./matmul/plan.ts splits operands larger than one storage binding into aligned windows.
 */
import {
  debugLog,
  BYTES_PER_ELEMENT, type BufferWindow, type Device, type Kernel, type Tensor, ShapeError, UnsupportedError, checkFloat, shapeStr,
} from '@sd-webgpu/tensor';
import { broadcastBatch, planMatmul, type BatchDim, type PlannedDispatch } from './matmul/plan.js';
import { chooseTile, type MatmulLayout } from './matmul/tiles.js';
import { type MatmulMode, matmulKernel, tileOf } from './matmul/wgsl.js';
import { cachedPlan } from './plans.js';

export { type MatmulMode, type MatmulVariant, matmulKernel, variantName as matmulVariantName } from './matmul/wgsl.js';

/** Overrides the tile-table choice (benchmarks and tests). */
export interface MatmulTile {
  mode?: MatmulMode;
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

const modes = new WeakMap<Device, MatmulMode>();

/**
 * `subgroup` on CPU adapters whose subgroups are exactly 8 lanes (lavapipe with 256-bit vectors), where the kernel
 * shares A loads by subgroup broadcasts; `direct` everywhere else.
 */
export function matmulMode(device: Device): MatmulMode {
  let m = modes.get(device);
  if (!m) {
    const info = (device.gpu as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } })
      .adapterInfo;
    const a = device.adapterInfo;
    const cpu = /llvmpipe|lavapipe|swiftshader|software|\bcpu\b/i.test(`${a.architecture} ${a.device} ${a.description}`);
    m = device.features.subgroups && cpu && info?.subgroupMinSize === 8 && info?.subgroupMaxSize === 8
      ? 'subgroup' : 'direct';
    modes.set(device, m);
  }
  return m;
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

/** One planned dispatch with its kernel. */
interface MatmulDispatch extends PlannedDispatch {
  readonly kernel: Kernel;
}

/** Records the planned dispatches (planned once per geometry, dtype, bias and forced tile: see ./plans.ts). */
function record(a: Tensor, b: Tensor, y: Tensor, bias: Tensor | undefined, g: Geometry, force?: MatmulTile): void {
  const device = a.device;
  const batch = g.batch.map((d) => `${d.size}:${d.sa}:${d.sb}`).join();
  const forced = force ? `${force.mode}:${force.rows}:${force.cols}` : '';
  const key = `${a.dtype}|${g.M},${g.N},${g.K},${g.transB}|${batch}|${!!bias}|${forced}`;
  const plan = cachedPlan(device, 'matmul', key, () => planRecord(device, a.dtype as 'f32' | 'f16', g, !!bias, force));
  for (const d of plan) dispatch(device, d, a, b, y, bias);
}

/** Picks the variant and plans the dispatches. */
function planRecord(device: Device, dtype: 'f32' | 'f16', g: Geometry, hasBias: boolean, force?: MatmulTile): MatmulDispatch[] {
  const mode = force?.mode ?? matmulMode(device);
  const kVec = g.K % 4 === 0;
  const nVec = !g.transB && g.N % 4 === 0;
  const layout: MatmulLayout = g.transB ? 'tb' : nVec ? 'n4' : 'n1';
  const picked = chooseTile(mode, layout, g.M, g.N);
  const rows = force?.rows ?? picked.rows;
  const cols = force?.cols ?? picked.cols;
  if (mode === 'subgroup' && (rows % 8 !== 0 || rows < 8)) {
    throw new UnsupportedError('matmul', `subgroup tiles need rows that are a multiple of 8 (got ${rows})`);
  }
  if (mode === 'subgroup' && !device.features.subgroups) {
    throw new UnsupportedError('matmul', 'subgroup mode needs the device feature "subgroups"');
  }
  const base = { dtype, mode, kVec, transB: g.transB, nVec, rows, cols };
  const tile = tileOf({ ...base, bias: false, accumulate: false });
  const plan = planMatmul(
    { M: g.M, N: g.N, K: g.K, transB: g.transB, batch: g.batch, bytesPerElement: BYTES_PER_ELEMENT[dtype], bias: hasBias },
    { rowsPerGroup: tile.rowsPerGroup, colsPerGroup: tile.colsPerGroup, colUnit: tile.colUnit, kUnit: kVec ? 4 : 1 },
    {
      maxBinding: device.limits.maxStorageBufferBindingSize,
      offsetAlignment: device.limits.minStorageBufferOffsetAlignment,
      maxGroups: device.limits.maxComputeWorkgroupsPerDimension,
    },
  );
  if (plan.length > 1) debugLog('matmul', () => `[${g.M}x${g.K}]·[${g.K}x${g.N}] split into ${plan.length} dispatches (binding limit)`);
  return plan.map((d) => ({ ...d, kernel: matmulKernel({ ...base, bias: !!d.bias, accumulate: d.accumulate }) }));
}

function dispatch(device: Device, d: MatmulDispatch, a: Tensor, b: Tensor, y: Tensor, bias?: Tensor): void {
  const bindings: Record<string, BufferWindow> = {
    a: { tensor: a, offset: d.a.offset, size: d.a.size },
    b: { tensor: b, offset: d.b.offset, size: d.b.size },
    y: { tensor: y, offset: d.y.offset, size: d.y.size },
  };
  if (d.bias && bias) bindings.bias = { tensor: bias, offset: d.bias.offset, size: d.bias.size };
  device.run(d.kernel, { bindings, uniforms: d.uniforms, workgroups: d.workgroups });
}
