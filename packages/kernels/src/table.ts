/**
 * The kernel table: one row per adapter class says which kernel family each op runs. The class comes from the
 * adapter's info, features and subgroup sizes (`adapterClass`); `kernelRow(device)` is what ops consult, and
 * `setKernelRow(device, row)` overrides it (callers tuning a device, tests forcing every row on lavapipe).
 *
 * Rows:
 * - `lavapipe`: the subgroup-broadcast kernels tuned on Mesa's CPU driver (8-lane subgroups, every storage load a
 *   per-lane loop): ./matmul/wgsl.ts, ./conv2d/subgroup.ts and ./conv2d/pointwise.ts, subgroup attention.
 *   Its reductions (norms, softmax) are 8-lane workgroups that read all partials (./reduce.ts `serial`).
 * - every other row: the GEMM core (./gemm/core.ts) for matmul/linear and conv2d, with a tile per row. The GPU rows
 *   add 64/256-lane reductions (subgroupAdd/Max where the device has subgroups, else a log-step tree) and flash
 *   attention (K/V tiles in workgroup memory, ./flash.ts). SwiftShader (a CPU driver with 4-lane subgroups and an LLVM-based compiler that took over a
 *   minute per heavily unrolled conv shader) gets a small 64-invocation tile whose rolled loops compile in a second.
 *   The GPU rows (NVIDIA, AMD, Apple, Intel, unknown) use 64- or 256-invocation workgroups; their tiles are starting
 *   points chosen from the hardware's wave sizes and 16 KiB of workgroup memory, checked against the CPU references
 *   on lavapipe, but not yet timed on the GPUs themselves (bench/gpu/run.sh does that; see README). Where the adapter
 *   offers subgroup matrices (tensor cores), their f16 GEMMs run on the subgroup-matrix core instead (`matrix`,
 *   `matrixTile`, `probeMatrixGemm`).
 */
import { type Device, UnsupportedError } from '@sd-webgpu/tensor';
import type { Conv2dTile } from './conv2d/tiles.js';
import type { FlashTile } from './flash.js';
import { type GemmTile, gemmFootprint, gemmSharedBytes } from './gemm/core.js';
import { gemmConv2dHooks } from './gemm/conv2d.js';
import { gemmMatmulHooks } from './gemm/matmul.js';
import { type MatrixTile, matrixInvocations, matrixKernel, matrixSharedBytes } from './gemm/matrix.js';
import { objectId } from './plans.js';
import type { ReductionShape } from './reduce.js';

export type AdapterClass = 'lavapipe' | 'swiftshader' | 'nvidia' | 'amd' | 'apple' | 'intel' | 'default';

export const ADAPTER_CLASSES: readonly AdapterClass[] = ['lavapipe', 'swiftshader', 'nvidia', 'amd', 'apple', 'intel', 'default'];

export interface KernelRow {
  readonly adapter: AdapterClass;
  /** `subgroup`: lavapipe's subgroup-broadcast matmul (needs 8-lane subgroups); else the GEMM core with this tile. */
  readonly matmul: 'subgroup' | GemmTile;
  /**
   * `subgroup`: lavapipe's subgroup-shared direct convolutions; `{ direct }`: the uniform-load channel-lane kernel of
   * ./conv2d/wgsl.ts with that tile for every convolution (no barriers: SwiftShader); else the GEMM core (implicit
   * GEMM) with this tile.
   */
  readonly conv2d: 'subgroup' | { readonly direct: Conv2dTile } | GemmTile;
  /**
   * Attention: `subgroup` / `direct` are the register-tiled kernels of ./attention.ts (how K/V values reach the
   * lanes, see AttentionMode); `{ flash }` stages K/V tiles in workgroup memory (./flash.ts), for head dims whose
   * tile of at least 4 keys fits `tileBytes` (larger ones run `direct`).
   */
  readonly attention: 'subgroup' | 'direct' | { readonly flash: FlashTile };
  /** Group norm and layer norm: workgroup size and reduction (./reduce.ts). */
  readonly norm: ReductionShape;
  /** Softmax: workgroup size and reduction (./reduce.ts). */
  readonly softmax: ReductionShape;
  /**
   * f16 matmul and conv2d on subgroup matrices (./gemm/matrix.ts), candidates in order of preference: the first one
   * `matrixTile(device)` finds usable replaces the `matmul` / `conv2d` GEMM tile for f16 operands. A native tile is
   * usable where the device lists its m×n×k as an f16 → f32 subgroup-matrix config, has subgroups of exactly `lanes`
   * invocations, and `probeMatrixGemm(device)` compiled it; an emulated one (tests) wherever the device has f16.
   */
  readonly matrix?: readonly MatrixTile[];
}

/** 256 invocations, 4x4 outputs each: a 64x64 tile, 8 KiB of workgroup memory (8 NVIDIA warps, 4 AMD waves). */
const WIDE_GPU: GemmTile = { wgX: 16, wgY: 16, rm: 4, rn: 4, tk: 16 };
/** 64 invocations, 4x4 outputs each: a 32x32 tile (2 Apple/NVIDIA SIMD groups, Intel's 8/16/32-wide EUs). */
const SMALL_GPU: GemmTile = { wgX: 8, wgY: 8, rm: 4, rn: 4, tk: 16 };
/**
 * SwiftShader (`npm run bench -- gemm_tiles` there, 256x320x320 linear / 3x3 conv 64@32², f32, GFLOP/s on the loaded
 * shared machine): GEMM core 8x8r4x4k8 0.07 / 0.06, 4x4r4x4k16 0.06 / 0.03, 8x8r4x4k16 0.05 / 0.05, 16x16r4x4k16
 * 0.04 / 0.04, 8x8r2x2k8 0.03 / 0.02 (each pair compiled in 10-27 s). Convolutions take the barrier-free channel-lane
 * kernel instead: 1x4x1 0.14 GFLOP/s (1x8x1 0.28; 1x16x1 and the old table's 2x8x1, 1x8x2 and 1x16x2 took over a
 * minute each to compile there). 1x4x1 is the browser demo's measured choice on main: each of its shaders compiles in
 * under a second (1x8x1: 2.5 s), which is what a page that compiles a dozen of them waits for.
 */
const SWIFTSHADER_GEMM: GemmTile = { wgX: 8, wgY: 8, rm: 4, rn: 4, tk: 8 };
const SWIFTSHADER_CONV: Conv2dTile = { tileX: 4, tileY: 1, vec: 1 };

/**
 * lavapipe's reductions: one 8-lane subgroup per workgroup, every lane reading all partials, several rows per
 * workgroup (bench/norm.ts --tune: 64 lanes 1.5-3x slower, 256 lanes 9-14x slower; layer norm 16 rows per workgroup
 * and softmax 8 beat 1 by 1.5x).
 */
const LAVAPIPE_NORM: ReductionShape = { reduce: 'serial', lanes: 8, wide: 8, rows: 16 };
// SwiftShader takes the same reductions, measured there (`npm run bench -- norm|softmax --quick --row
// swiftshader,nvidia`, bench/results/{norm,softmax}-swiftshader.json, f32 GPU-timer ms): group norm 2x320x64² 52
// vs 697 (GPU row: 256 lanes + subgroupAdd), layer norm 2x4096x320 87 vs 1042, softmax 2x8x1024x77 139 vs 1485,
// 1x8x1024² 270 vs 987. Its 4-lane subgroups and barrier-as-coroutine-switch make wide workgroups 4-14x slower.
const LAVAPIPE_SOFTMAX: ReductionShape = { reduce: 'serial', lanes: 8, wide: 8, rows: 8 };
/**
 * GPU reductions: 64 lanes (two NVIDIA warps, one AMD wave) per row, 256 for rows and group chunks of at least 1024
 * loads (group norm's 4096-value chunks, softmax rows of 4096 keys), one row per workgroup; subgroupAdd/Max where the
 * device has subgroups. Starting points (not yet timed on a GPU; bench/gpu/run.sh times them).
 */
const GPU_REDUCTION: ReductionShape = { reduce: 'subgroup', lanes: 64, wide: 256, rows: 1 };
/**
 * Flash attention on GPUs: 64 lanes, one query row each, K and V tiles of up to 32 keys in 12 KiB of workgroup
 * memory (D 40: 32 keys, D 64/80: 16, D 160: 8; the VAE's D 512 would get 3 keys, so it runs `direct`).
 */
const GPU_FLASH: FlashTile = { lanes: 64, rows: 1, keys: 32, tileBytes: 12288 };
// SwiftShader keeps `direct` attention, measured there (`npm run bench -- attention --quick --row swiftshader,nvidia`,
// bench/results/attention-swiftshader.json, f32 GFLOP/s): self 1x8x1024² D 40 direct 0.25 vs flash 0.16, cross
// 1024x77 0.24 vs 0.12, CLIP causal 0.29 vs 0.10 (a CPU driver gains nothing from staging: its barriers cost more).
// On lavapipe the flash kernel runs at 1.0-1.2 GFLOP/s against the subgroup kernel's 8-9.5
// (bench/results/attention-lavapipe.json): it is for GPUs, checked here for correctness only.

/**
 * Subgroup-matrix tiles for the GPU rows, both 64x64 outputs per workgroup of 4 subgroups (128 invocations) with a
 * 32-deep k slice, 12 KiB of workgroup memory: 16x16x16 f16 matrices (NVIDIA's and AMD's cooperative-matrix shape
 * under Vulkan) at 2x2 per subgroup, or 8x8x8 (Apple's simdgroup matrices) at 4x4. Starting points, checked on
 * lavapipe through the emulated builtins; no adapter that offers the feature has timed them yet (bench/gpu/run.sh).
 */
const GPU_MATRIX: readonly MatrixTile[] = [
  { kind: 'matrix', m: 16, n: 16, k: 16, sgX: 2, sgY: 2, fm: 2, fn: 2, tk: 32, lanes: 32 },
  { kind: 'matrix', m: 8, n: 8, k: 8, sgX: 2, sgY: 2, fm: 4, fn: 4, tk: 32, lanes: 32 },
];

const gpuRow = (adapter: AdapterClass, tile: GemmTile): KernelRow => ({
  adapter, matmul: tile, conv2d: tile, attention: { flash: GPU_FLASH }, norm: GPU_REDUCTION, softmax: GPU_REDUCTION,
  matrix: GPU_MATRIX,
});

export const KERNEL_ROWS: Readonly<Record<AdapterClass, KernelRow>> = {
  lavapipe: {
    adapter: 'lavapipe', matmul: 'subgroup', conv2d: 'subgroup', attention: 'subgroup', norm: LAVAPIPE_NORM, softmax: LAVAPIPE_SOFTMAX,
  },
  swiftshader: {
    adapter: 'swiftshader', matmul: SWIFTSHADER_GEMM, conv2d: { direct: SWIFTSHADER_CONV }, attention: 'direct',
    norm: LAVAPIPE_NORM, softmax: LAVAPIPE_SOFTMAX,
  },
  nvidia: gpuRow('nvidia', WIDE_GPU),
  amd: gpuRow('amd', WIDE_GPU),
  apple: gpuRow('apple', SMALL_GPU),
  intel: gpuRow('intel', SMALL_GPU),
  default: gpuRow('default', SMALL_GPU),
};

/** What the classification looks at (Device.adapterInfo plus features). */
export interface AdapterFacts {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly subgroupMinSize?: number;
  readonly subgroupMaxSize?: number;
  readonly subgroups: boolean;
}

/**
 * The adapter class: lavapipe needs subgroups of exactly 8 lanes (its kernels broadcast across 8 lanes; an llvmpipe
 * build without them is `default`), SwiftShader is recognised by name, GPUs by vendor name or PCI vendor id.
 */
export function adapterClass(a: AdapterFacts): AdapterClass {
  const text = `${a.vendor} ${a.architecture} ${a.device} ${a.description}`.toLowerCase();
  if (/llvmpipe|lavapipe/.test(text)) {
    return a.subgroups && a.subgroupMinSize === 8 && a.subgroupMaxSize === 8 ? 'lavapipe' : 'default';
  }
  if (/swiftshader/.test(text)) return 'swiftshader';
  const vendor = a.vendor.toLowerCase();
  if (/nvidia|^0x10de$|^10de$/.test(vendor) || /nvidia|geforce|quadro|tesla/.test(text)) return 'nvidia';
  if (/^amd$|^ati$|advanced micro|^0x1002$|^1002$/.test(vendor) || /radeon/.test(text)) return 'amd';
  if (/apple/.test(vendor) || /^apple|metal-3/.test(a.architecture.toLowerCase())) return 'apple';
  if (/intel|^0x8086$|^8086$/.test(vendor)) return 'intel';
  return 'default';
}

/** The facts of a live device. */
export function deviceFacts(device: Device): AdapterFacts {
  return { ...device.adapterInfo, subgroups: device.features.subgroups };
}

/** Throws UnsupportedError when `row` cannot run on `device` (subgroup kernels without 8-lane subgroups, limits). */
export function checkKernelRow(device: Device, row: KernelRow): void {
  const f = deviceFacts(device);
  const needs8 = row.matmul === 'subgroup' || row.conv2d === 'subgroup' || row.attention === 'subgroup';
  if (needs8 && !(f.subgroups && f.subgroupMinSize === 8 && f.subgroupMaxSize === 8)) {
    throw new UnsupportedError('kernel table', `row '${row.adapter}' uses subgroup kernels that need 8-lane subgroups ` +
      `(this adapter: ${f.subgroups ? `${f.subgroupMinSize ?? '?'}-${f.subgroupMaxSize ?? '?'} lanes` : 'no subgroups'})`);
  }
  const maxLanes = device.limits.maxComputeInvocationsPerWorkgroup;
  for (const [op, r] of [['norm', row.norm], ['softmax', row.softmax]] as const) {
    for (const lanes of [r.lanes, r.wide]) {
      if (!Number.isInteger(lanes) || lanes < 1 || lanes > maxLanes || (r.reduce === 'tree' || r.reduce === 'subgroup') && (lanes & (lanes - 1)) !== 0) {
        throw new UnsupportedError('kernel table', `row '${row.adapter}': ${op} workgroups of ${lanes} lanes ` +
          `(need 1-${maxLanes}, a power of two for the '${r.reduce}' reduction)`);
      }
    }
  }
  if (typeof row.attention === 'object') {
    const f = row.attention.flash;
    if (f.lanes > maxLanes || f.tileBytes > device.limits.maxComputeWorkgroupStorageSize) {
      throw new UnsupportedError('kernel table', `row '${row.adapter}': flash attention with ${f.lanes} lanes and ` +
        `${f.tileBytes} B of K/V tiles exceeds this device's limits (${maxLanes} invocations, ` +
        `${device.limits.maxComputeWorkgroupStorageSize} B)`);
    }
  }
  for (const t of [row.matmul, row.conv2d]) {
    if (t === 'subgroup' || 'direct' in t) continue;
    const lanes = t.wgX * t.wgY;
    if (lanes > device.limits.maxComputeInvocationsPerWorkgroup || gemmSharedBytes(t) > device.limits.maxComputeWorkgroupStorageSize) {
      const { rows, cols } = gemmFootprint(t);
      throw new UnsupportedError('kernel table', `row '${row.adapter}': a ${rows}x${cols} GEMM tile with ${lanes} invocations ` +
        `and ${gemmSharedBytes(t)} B of workgroup memory exceeds this device's limits ` +
        `(${device.limits.maxComputeInvocationsPerWorkgroup} invocations, ${device.limits.maxComputeWorkgroupStorageSize} B)`);
    }
  }
}

/** Why `tile` cannot run on `device` natively or emulated (null: it can, once a native tile is probed). */
export function matrixTileProblem(device: Device, tile: MatrixTile): string | null {
  if (!device.features.f16) return 'the device has no shader-f16';
  const lanes = matrixInvocations(tile);
  if (lanes > device.limits.maxComputeInvocationsPerWorkgroup || matrixSharedBytes(tile) > device.limits.maxComputeWorkgroupStorageSize) {
    return `${lanes} invocations and ${matrixSharedBytes(tile)} B of workgroup memory exceed this device's limits ` +
      `(${device.limits.maxComputeInvocationsPerWorkgroup} invocations, ${device.limits.maxComputeWorkgroupStorageSize} B)`;
  }
  if (tile.emulate) return null;
  const configs = device.features.subgroupMatrix;
  if (!configs.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === tile.m && c.N === tile.n && c.K === tile.k)) {
    return `the device offers no f16 -> f32 ${tile.m}x${tile.n}x${tile.k} subgroup matrix (configs: ` +
      `${configs.length ? configs.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ') : 'none'})`;
  }
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = device.adapterInfo;
  if (!device.features.subgroups || lo !== tile.lanes || hi !== tile.lanes) {
    return `the tile is built for subgroups of exactly ${tile.lanes} invocations (this device: ${lo ?? '?'}-${hi ?? '?'})`;
  }
  return null;
}

/** Native tiles that compiled on a device (probeMatrixGemm). */
const probed = new WeakMap<Device, Set<MatrixTile>>();

/**
 * The subgroup-matrix tile f16 GEMMs use on `device` under `row`: its first candidate that runs there (a native one
 * only once probeMatrixGemm compiled it), or null (the scalar GEMM tile).
 */
export function matrixTile(device: Device, row: KernelRow = kernelRow(device)): MatrixTile | null {
  for (const t of row.matrix ?? []) {
    if (matrixTileProblem(device, t) === null && (t.emulate || probed.get(device)?.has(t))) return t;
  }
  return null;
}

/**
 * Compiles the row's native subgroup-matrix candidates on `device` (a linear and a 3x3 convolution kernel each) and
 * marks the first that compiles as usable: an adapter that lists the feature but whose driver rejects a kernel keeps
 * the scalar GEMM instead of failing at run time. Returns the tile now in use (or null) and, per candidate tried, why
 * it was not taken. StableDiffusion.fromWeights calls it for f16 models; call it after setKernelRow for a custom row.
 */
export async function probeMatrixGemm(device: Device, row: KernelRow = kernelRow(device)): Promise<{ tile: MatrixTile | null; skipped: string[] }> {
  const skipped: string[] = [];
  for (const t of row.matrix ?? []) {
    const problem = matrixTileProblem(device, t);
    if (problem) {
      skipped.push(`${t.m}x${t.n}x${t.k}: ${problem}`);
      continue;
    }
    if (t.emulate || probed.get(device)?.has(t)) return { tile: t, skipped };
    const linear = gemmMatmulHooks({ dtype: 'f16', kVec: true, transB: true, bias: true, accumulate: false });
    const conv = gemmConv2dHooks({ dtype: 'f16', kh: 3, kw: 3, stride: 1, pointwise: false, bias: true, accumulate: false });
    const err = await device.tryCompile(matrixKernel(linear, t)) ?? await device.tryCompile(matrixKernel(conv, t));
    if (err) {
      skipped.push(`${t.m}x${t.n}x${t.k}: does not compile: ${err.message.split('\n').slice(0, 2).join(' ')}`);
      continue;
    }
    let set = probed.get(device);
    if (!set) probed.set(device, set = new Set());
    set.add(t);
    return { tile: t, skipped };
  }
  return { tile: null, skipped };
}

/** What a cached matmul/conv2d plan depends on in the table: the row, and for f16 the subgroup-matrix tile. */
export function planTableKey(device: Device, dtype: string): string {
  const tile = dtype === 'f16' ? matrixTile(device) : null;
  return `${objectId(kernelRow(device))}:${tile ? objectId(tile) : '-'}`;
}

const chosen = new WeakMap<Device, KernelRow>();

/** The row a device runs: the override if one was set, else its class's row (or `default` where that cannot run). */
export function kernelRow(device: Device): KernelRow {
  let row = chosen.get(device);
  if (!row) {
    row = KERNEL_ROWS[adapterClass(deviceFacts(device))];
    try {
      checkKernelRow(device, row);
    } catch {
      row = KERNEL_ROWS.default;
    }
    chosen.set(device, row);
  }
  return row;
}

/**
 * Overrides the row of `device` (a class name or a custom row); `null` returns to the automatic choice. Throws
 * UnsupportedError, before any GPU work, when the row cannot run here.
 */
export function setKernelRow(device: Device, row: AdapterClass | KernelRow | null): void {
  if (row === null) {
    chosen.delete(device);
    return;
  }
  const r = typeof row === 'string' ? KERNEL_ROWS[row] : row;
  if (!r) throw new UnsupportedError('kernel table', `unknown adapter class '${String(row)}' (one of ${ADAPTER_CLASSES.join(', ')})`);
  checkKernelRow(device, r);
  chosen.set(device, r);
}

/** The rows that can run on `device` (tests force each in turn). */
export function runnableRows(device: Device): KernelRow[] {
  return ADAPTER_CLASSES.map((c) => KERNEL_ROWS[c]).filter((r) => {
    try {
      checkKernelRow(device, r);
      return true;
    } catch {
      return false;
    }
  });
}
