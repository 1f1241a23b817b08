/**
 * conv2d: NCHW cross-correlation with zero padding, weight `[O, I, kh, kw]` in the PyTorch layout, stride 1 or 2,
 * symmetric or `[top, bottom, left, right]` padding (the VAE encoder's downsample pads `[0, 1, 0, 1]`), optional
 * bias; f32 or f16 storage with f32 accumulation.
 *
 * The kernel table (./table.ts) picks the family. On GPUs every convolution is an implicit GEMM on the GEMM core
 * (./gemm/core.ts with the hooks of ./gemm/conv2d.ts), over packed or PyTorch-layout weights. SwiftShader runs the
 * barrier-free uniform-load channel-lane kernel of ./conv2d/wgsl.ts with a small tile (fast to compile there). The
 * lavapipe row keeps the kernels tuned there: ./conv2d/subgroup.ts (a direct implicit GEMM with lanes over output
 * channels, packed weights of ./conv2d/pack.ts, input values loaded by distinct lanes and shared through
 * `subgroupBroadcast`), ./conv2d/pointwise.ts for 1x1 convolutions (lanes over pixels, vec4 loads) and the
 * uniform-load kernel of ./conv2d/wgsl.ts for 1x1 convolutions whose H·W is not a multiple of 4.
 * Tensors beyond one storage binding are split by ./conv2d/plan.ts into batch / output-channel / input-channel
 * chunks bound as aligned windows. Input-channel chunks add into `y`; on f16 storage each chunk's partial sum is
 * rounded to f16 once (one extra half-ulp per chunk, only for tensors above the binding limit).
 */
import {
  BYTES_PER_ELEMENT, type Binding, type Device, type Kernel, ParameterError, ShapeError, type Tensor, UnsupportedError, checkFloat,
  shapeStr,
} from '@sd-webgpu/tensor';
import { type PackedConv2dWeight, conv2dPackWeight, isPackedConv2dWeight } from './conv2d/pack.js';
import { type ByteWindow, type Conv2dGeometry, type Conv2dWeightLayout, chunkWindows, planConv2d } from './conv2d/plan.js';
import { conv2dPointwiseKernel } from './conv2d/pointwise.js';
import { type Conv2dTile, chooseConv2dTile, choosePointwiseTile } from './conv2d/tiles.js';
import { conv2dSubgroupKernel } from './conv2d/subgroup.js';
import { CONV2D_LANES, conv2dKernel } from './conv2d/wgsl.js';
import type { GemmTile } from './gemm/core.js';
import { gemmConv2dHooks } from './gemm/conv2d.js';
import { type AnyGemmTile, tileFootprint, tileKernel } from './gemm/select.js';
import { cachedPlan } from './plans.js';
import { type KernelRow, kernelRow, matrixTile, planTableKey } from './table.js';

export { type Conv2dVariant, conv2dKernel, conv2dSource, conv2dVariantName } from './conv2d/wgsl.js';
export { type Conv2dSubgroupVariant, conv2dSubgroupKernel, conv2dSubgroupSource } from './conv2d/subgroup.js';
export { type Conv2dPointwiseVariant, conv2dPointwiseKernel } from './conv2d/pointwise.js';
export { type PackedConv2dWeight, conv2dPackKernel, conv2dPackWeight, isPackedConv2dWeight } from './conv2d/pack.js';
export { type Conv2dChunk, type Conv2dGeometry, type Conv2dWeightLayout, planConv2d } from './conv2d/plan.js';
export { type Conv2dTile, chooseConv2dTile, choosePointwiseTile } from './conv2d/tiles.js';

/** `[top, bottom, left, right]` zero padding. */
export type Conv2dPadding = readonly [number, number, number, number];

export interface Conv2dOptions {
  stride?: 1 | 2;
  /** Same padding on all four sides, or `[top, bottom, left, right]`. Default 0. */
  padding?: number | Conv2dPadding;
  /**
   * Overrides the kernel table and forces the channel-lane kernel, also for 1x1 (benchmarks and tests); `subgroup: true`
   * selects the subgroup-shared kernel (UnsupportedError on devices without 8-lane subgroups).
   */
  tile?: Conv2dTile;
  /** Overrides the pointwise kernel's tile (benchmarks and tests; lavapipe-like devices only). */
  pointwiseTile?: { rows: number; vec: number };
  /** Forces the GEMM core with this tile (benchmarks and tests; a subgroup-matrix tile for f16). */
  gemm?: AnyGemmTile;
}

/** Largest kernel side accepted (SD uses 3x3 and 1x1; the kernel is generic in the side). */
export const CONV2D_MAX_KERNEL = 7;

/** Resolves `padding` to `[top, bottom, left, right]`, checking that every entry is an integer ≥ 0. */
export function conv2dPadding(padding: number | Conv2dPadding = 0): Conv2dPadding {
  const p: readonly number[] = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
  if (!Array.isArray(p) || p.length !== 4 || !p.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new ParameterError('conv2d', 'padding',
      `must be an integer >= 0 or [top, bottom, left, right] of such integers, got ${JSON.stringify(padding)}`);
  }
  return [p[0]!, p[1]!, p[2]!, p[3]!];
}

/** Output `[N, O, Hout, Wout]` with `Hout = floor((H + top + bottom − kh) / stride) + 1` (likewise Wout). */
export function conv2dOutputShape(
  xShape: readonly number[], wShape: readonly number[], opts: Pick<Conv2dOptions, 'stride' | 'padding'> = {},
): [number, number, number, number] {
  const [n, , h, w] = xShape as [number, number, number, number];
  const [o, , kh, kw] = wShape as [number, number, number, number];
  const stride = opts.stride ?? 1;
  const [t, b, l, r] = conv2dPadding(opts.padding);
  return [n, o, Math.floor((h + t + b - kh) / stride) + 1, Math.floor((w + l + r - kw) / stride) + 1];
}

/** Floating-point operations of a convolution: 2·N·O·I·kh·kw·Hout·Wout. */
export function conv2dFlops(
  xShape: readonly number[], wShape: readonly number[], opts: Pick<Conv2dOptions, 'stride' | 'padding'> = {},
): number {
  const [n, o, ho, wo] = conv2dOutputShape(xShape, wShape, opts);
  return 2 * n * o * wShape[1]! * wShape[2]! * wShape[3]! * ho * wo;
}

function validate(
  x: Tensor, weightArg: Tensor | PackedConv2dWeight, weight: Tensor, wShape: readonly number[], bias: Tensor | null,
  opts: Conv2dOptions,
): void {
  checkFloat('conv2d', x.dtype);
  for (const [what, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && t.dtype !== x.dtype) {
      throw new UnsupportedError('conv2d', `${what} dtype ${t.dtype} differs from x dtype ${x.dtype} (they must match)`);
    }
  }
  if (x.rank !== 4) throw new ShapeError('conv2d', `x must be NCHW (rank 4), got rank ${x.rank}`, [x.shape]);
  if (wShape.length !== 4) {
    throw new ShapeError('conv2d', `weight must be [O, I, kh, kw] (rank 4), got rank ${wShape.length}`, [wShape]);
  }
  if (x.shape.some((d) => d === 0) || wShape.some((d) => d === 0)) {
    throw new ShapeError('conv2d', 'x and weight must not have a zero dimension', [x.shape, wShape]);
  }
  const [o, i, kh, kw] = wShape as [number, number, number, number];
  if (i !== x.shape[1]) {
    throw new ShapeError('conv2d', `weight expects ${i} input channels, x has ${x.shape[1]}`, [x.shape, wShape]);
  }
  if (kh > CONV2D_MAX_KERNEL || kw > CONV2D_MAX_KERNEL) {
    throw new UnsupportedError('conv2d', `kernel ${kh}x${kw} is larger than ${CONV2D_MAX_KERNEL}x${CONV2D_MAX_KERNEL}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== o)) {
    throw new ShapeError('conv2d', `bias must be [${o}] (one per output channel), got ${shapeStr(bias.shape)}`, [bias.shape]);
  }
  const [, , ho, wo] = conv2dOutputShape(x.shape, wShape, opts);
  if (ho < 1 || wo < 1) {
    throw new ShapeError('conv2d', `the ${kh}x${kw} kernel does not fit the padded input (output would be ${ho}x${wo})`,
      [x.shape, wShape]);
  }
  if (isPackedConv2dWeight(weightArg) && (weight.rank !== 2 || weight.shape[0] !== i * kh * kw ||
    weight.shape[1] !== Math.ceil(o / 4) * 4)) {
    throw new ShapeError('conv2d', `packed weight tensor must be [${i * kh * kw}, ${Math.ceil(o / 4) * 4}] for ` +
      `${shapeStr(wShape)}`, [weight.shape]);
  }
  if (opts.tile) {
    const { tileX, tileY, vec } = opts.tile;
    if (![tileX, tileY, vec].every((v) => Number.isInteger(v) && v >= 1 && v <= 32)) {
      throw new ParameterError('conv2d', 'tile', `entries must be integers in [1, 32], got ${JSON.stringify(opts.tile)}`);
    }
    if ((opts.tile.shareRows || opts.tile.x4) && !opts.tile.subgroup) {
      throw new ParameterError('conv2d', 'tile', `shareRows and x4 apply to subgroup tiles only, got ${JSON.stringify(opts.tile)}`);
    }
    if (opts.tile.subgroup && !subgroup8(x)) {
      throw new UnsupportedError('conv2d', 'tile.subgroup needs a device with 8-lane subgroups');
    }
  }
  if (opts.pointwiseTile) {
    const { rows, vec } = opts.pointwiseTile;
    if (![rows, vec].every((v) => Number.isInteger(v) && v >= 1 && v <= 32)) {
      throw new ParameterError('conv2d', 'pointwiseTile', `entries must be integers in [1, 32], got ${JSON.stringify(opts.pointwiseTile)}`);
    }
    if (rows % 8 !== 0 || !subgroup8(x)) {
      throw new UnsupportedError('conv2d', `pointwiseTile needs rows that are a multiple of 8 (got ${rows}) ` +
        'and a device with 8-lane subgroups');
    }
  }
}

/** Whether the device has the 8-lane subgroups of lavapipe's kernels. */
function subgroup8(x: Tensor): boolean {
  const a = x.device.adapterInfo;
  return x.device.features.subgroups && a.subgroupMinSize === 8 && a.subgroupMaxSize === 8;
}

/**
 * `x [N, I, H, W] ⋆ weight [O, I, kh, kw] (+ bias [O])` → `[N, O, Hout, Wout]`. `weight` may also be the result of
 * `conv2dPackWeight` (packed once at load time; a plain weight is packed into a temporary on every call, except for
 * 1x1 convolutions that take the pointwise kernel). Records its dispatches; the caller owns the result. The plan
 * (checks, kernel, chunks, windows, uniforms) depends only on the kernel row, dtypes, shapes, stride and padding, so
 * it is made once per such signature (./plans.ts); a forced tile plans every call.
 */
export function conv2d(
  x: Tensor, weight: Tensor | PackedConv2dWeight, bias?: Tensor | null, opts: Conv2dOptions = {},
): Tensor {
  const packedIn = isPackedConv2dWeight(weight) ? weight : null;
  const wTensor = packedIn ? packedIn.tensor : (weight as Tensor);
  const b = bias ?? null;
  if (wTensor.device !== x.device) throw new UnsupportedError('conv2d', 'weight lives on another device than x');
  if (b && b.device !== x.device) throw new UnsupportedError('conv2d', 'bias lives on another device than x');
  const stride = opts.stride ?? 1;
  if (stride !== 1 && stride !== 2) throw new ParameterError('conv2d', 'stride', `must be 1 or 2, got ${String(stride)}`);
  const pad = conv2dPadding(opts.padding);
  const device = x.device;
  const plan = opts.tile || opts.pointwiseTile || opts.gemm
    ? planConv(x, weight, b, opts, stride, pad)
    : cachedPlan(device, 'conv2d',
      `${planTableKey(device, x.dtype)}|${x.dtype}|${x.shape}|${wTensor.dtype}|${wTensor.shape}|${packedIn ? `p${packedIn.shape}` : 'n'}|` +
        `${b ? `${b.dtype}:${b.shape}` : '-'}|${stride}|${pad}`,
      () => planConv(x, weight, b, opts, stride, pad));
  const y = device.empty(plan.shape, x.dtype);
  const packed = plan.packWeight ? conv2dPackWeight(wTensor) : null;
  const w = packed ? packed.tensor : wTensor;
  try {
    for (const d of plan.dispatches) {
      const bindings: Record<string, Binding> = {
        x: { tensor: x, offset: d.x.offset, size: d.x.size },
        weight: { tensor: w, offset: d.weight.offset, size: d.weight.size },
        y: { tensor: y, offset: d.y.offset, size: d.y.size },
      };
      if (d.bias && b) bindings.bias = b;
      device.run(d.kernel, { bindings, uniforms: d.uniforms, workgroups: d.workgroups });
    }
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    packed?.tensor.dispose();
  }
  return y;
}

/** One dispatch of a convolution: kernel, byte windows of x / weight / y, whether it binds the bias, uniforms. */
interface Conv2dDispatch {
  readonly kernel: Kernel;
  readonly x: ByteWindow;
  readonly weight: ByteWindow;
  readonly y: ByteWindow;
  readonly bias: boolean;
  readonly uniforms: Readonly<Record<string, number>>;
  readonly workgroups: readonly [number, number, number];
}

interface Conv2dPlan {
  readonly shape: readonly [number, number, number, number];
  /** The channel-lane kernel over a plain weight: the weight is packed into a temporary per call. */
  readonly packWeight: boolean;
  readonly dispatches: readonly Conv2dDispatch[];
}

/** Checks the operands, picks the kernel family (table row or override) and plans the dispatches. */
function planConv(
  x: Tensor, weightArg: Tensor | PackedConv2dWeight, bias: Tensor | null, opts: Conv2dOptions, stride: number, pad: Conv2dPadding,
): Conv2dPlan {
  const packedIn = isPackedConv2dWeight(weightArg) ? weightArg : null;
  const wTensor = packedIn ? packedIn.tensor : (weightArg as Tensor);
  const wShape = packedIn ? packedIn.shape : wTensor.shape;
  validate(x, weightArg, wTensor, wShape, bias, opts);
  const [n, cin, h, w] = x.shape as [number, number, number, number];
  const [cout, , kh, kw] = wShape as [number, number, number, number];
  const shape = conv2dOutputShape(x.shape, wShape, { stride: stride as 1 | 2, padding: pad });
  const [, , hout, wout] = shape;
  const env: PlanEnv = {
    dtype: x.dtype as 'f32' | 'f16', limits: x.device.limits, bias: !!bias, stride, pad,
  };

  // A 1x1 convolution without stride or padding is a per-pixel linear over the flattened image.
  const pointwise = kh === 1 && kw === 1 && stride === 1 && pad.every((p) => p === 0);
  const row: KernelRow = kernelRow(x.device);
  const direct = row.conv2d !== 'subgroup' && 'direct' in row.conv2d ? row.conv2d.direct : null;
  const matrix = env.dtype === 'f16' && !opts.tile && !opts.pointwiseTile ? matrixTile(x.device, row) : null;
  const gemm = opts.gemm ?? matrix ?? (opts.tile || opts.pointwiseTile || row.conv2d === 'subgroup' || direct ? null : row.conv2d as GemmTile);
  if (gemm) {
    const g: Conv2dGeometry = { n, cin, h, w, cout, hout, wout, kh, kw };
    return { shape, packWeight: false, dispatches: planGemm(env, g, packedIn ? 'packed' : 'native', pointwise, gemm) };
  }
  const g: Conv2dGeometry = pointwise
    ? { n, cin, h: 1, w: h * w, cout, hout: 1, wout: h * w, kh, kw }
    : { n, cin, h, w, cout, hout, wout, kh, kw };
  if (pointwise && (h * w) % 4 === 0 && !opts.tile && (!direct || opts.pointwiseTile)) {
    const tile = opts.pointwiseTile ?? choosePointwiseTile();
    return { shape, packWeight: false, dispatches: planPointwise(env, g, packedIn ? 'packed' : 'native', tile) };
  }
  const tile = opts.tile ?? direct ?? chooseConv2dTile(pointwise, stride, g.wout);
  return { shape, packWeight: !packedIn, dispatches: planChannelLanes(env, g, tile) };
}

/** What every runner needs besides the geometry. */
interface PlanEnv {
  readonly dtype: 'f32' | 'f16';
  readonly limits: Device['limits'];
  readonly bias: boolean;
  readonly stride: number;
  readonly pad: Conv2dPadding;
}

/**
 * The GEMM core: M = output channels, N = output pixels, K = I·kh·kw, one dispatch per chunk of ./conv2d/plan.ts
 * (weights used in the layout they come in: packed `[I·kh·kw, O4·4]` or PyTorch `[O, I·kh·kw]`).
 */
function planGemm(env: PlanEnv, g: Conv2dGeometry, layout: Conv2dWeightLayout, pointwise: boolean, tile: AnyGemmTile): Conv2dDispatch[] {
  const { dtype, stride, pad: [padTop, , padLeft] } = env;
  const packed = layout === 'packed';
  const { rows, cols } = tileFootprint(tile);
  const tiles = Math.ceil(g.hout * g.wout / cols);
  const k = g.kh * g.kw;
  return planConv2d(g, BYTES_PER_ELEMENT[dtype], env.limits, layout).map((ch) => {
    const first = ch.c0 === 0;
    const win = chunkWindows(g, ch, layout, BYTES_PER_ELEMENT[dtype], env.limits.minStorageBufferOffsetAlignment);
    const hooks = gemmConv2dHooks({
      dtype, kh: g.kh, kw: g.kw, stride, pointwise, bias: env.bias && first, accumulate: !first,
    });
    return {
      kernel: tileKernel('conv2d', hooks, tile), ...win, bias: env.bias && first,
      uniforms: {
        cin: ch.c, h: g.h, w: g.w, cout: ch.o, hout: g.hout, wout: g.wout, pad_t: padTop, pad_l: padLeft,
        x_off: win.x.off, x_nstride: g.cin * g.h * g.w,
        // Packed: rows of O4·4 values, the window starts at row c0·k and holds every output channel.
        // Native: rows of I·k values, the window starts at output channel o0 and holds every input channel.
        w_off: win.weight.off,
        w_k0: packed ? 0 : ch.c0 * k, w_ks: packed ? Math.ceil(g.cout / 4) * 4 : 1,
        w_o0: packed ? ch.o0 : 0, w_ms: packed ? 1 : g.cin * k,
        y_off: win.y.off, y_nstride: g.cout * g.hout * g.wout,
        b_off: ch.o0,
      },
      workgroups: [tiles * Math.ceil(ch.o / rows), 1, ch.n],
    };
  });
}

/** 1x1 / stride 1 / no padding with H·W % 4 == 0: the pixel-lane kernel over vec4 pixel groups. */
function planPointwise(
  env: PlanEnv, g: Conv2dGeometry, layout: Conv2dWeightLayout, tile: { rows: number; vec: number },
): Conv2dDispatch[] {
  const { dtype } = env;
  const packed = layout === 'packed';
  const hw4 = g.w / 4;
  const pgroups = Math.ceil(hw4 / (CONV2D_LANES * tile.vec));
  return planConv2d(g, BYTES_PER_ELEMENT[dtype], env.limits, layout).map((ch) => {
    const first = ch.c0 === 0;
    const win = chunkWindows(g, ch, layout, BYTES_PER_ELEMENT[dtype], env.limits.minStorageBufferOffsetAlignment);
    const oblocks = Math.ceil(ch.o / tile.rows);
    const kernel = conv2dPointwiseKernel({
      dtype, rows: tile.rows, vec: tile.vec, bias: env.bias && first, accumulate: !first,
    });
    return {
      kernel, ...win, bias: env.bias && first,
      uniforms: {
        cin: ch.c, cout: ch.o, hw4, pgroups, oblocks,
        // x and y windows start at whole planes of H·W % 4 == 0 values: their offsets are multiples of 4.
        x_off: win.x.off / 4, x_nstride: g.cin * hw4, y_off: win.y.off / 4, y_nstride: g.cout * hw4,
        w_off: win.weight.off,
        w_ostride: packed ? 1 : g.cin,
        w_cstride: packed ? Math.ceil(g.cout / 4) * 4 : 1,
        w_base: packed ? ch.o0 : ch.c0,
        b_off: ch.o0,
      },
      workgroups: [oblocks * pgroups, 1, ch.n],
    };
  });
}

/** Every other convolution: the channel-lane kernel over packed weights. */
function planChannelLanes(env: PlanEnv, g: Conv2dGeometry, tile: Conv2dTile): Conv2dDispatch[] {
  const { dtype, stride, pad: [padTop, , padLeft] } = env;
  const tilesX = Math.ceil(g.wout / tile.tileX);
  const pgroups = tilesX * Math.ceil(g.hout / tile.tileY);
  return planConv2d(g, BYTES_PER_ELEMENT[dtype], env.limits, 'packed').map((ch) => {
    const first = ch.c0 === 0;
    const { tileX, tileY, vec } = tile;
    const variant = { dtype, kh: g.kh, kw: g.kw, stride, tileX, tileY, vec, bias: env.bias && first, accumulate: !first };
    const win = chunkWindows(g, ch, 'packed', BYTES_PER_ELEMENT[dtype], env.limits.minStorageBufferOffsetAlignment);
    const x4 = !!tile.x4 && !tile.shareRows && g.w % 4 === 0 && (tileX * stride) % 4 === 0 && win.x.off % 4 === 0 &&
      (g.cin * g.h * g.w) % 4 === 0;
    const kernel = tile.subgroup
      ? conv2dSubgroupKernel({ ...variant, shareRows: tile.shareRows, x4: x4 ? { padL: padLeft } : undefined })
      : conv2dKernel(variant);
    const oblocks = Math.ceil(ch.o / (CONV2D_LANES * 4 * vec));
    return {
      kernel, ...win, bias: env.bias && first,
      uniforms: {
        cin: ch.c, h: g.h, w: g.w, cout: ch.o, hout: g.hout, wout: g.wout, pad_t: padTop, pad_l: padLeft,
        tiles_x: tilesX, pgroups, oblocks,
        x_off: win.x.off, x_nstride: g.cin * g.h * g.w,
        // Packed rows are vec4 groups; the window starts at a whole row and chunks at multiples of 4 channels.
        w_off: win.weight.off / 4, w_o4: Math.ceil(g.cout / 4), w_g0: ch.o0 / 4,
        y_off: win.y.off, y_nstride: g.cout * g.hout * g.wout,
        b_off: ch.o0,
      },
      workgroups: [oblocks * pgroups, 1, ch.n],
    };
  });
}
