/**
 * conv2d: NCHW cross-correlation with zero padding, weight `[O, I, kh, kw]` in the PyTorch layout, stride 1 or 2,
 * symmetric or `[top, bottom, left, right]` padding (the VAE encoder's downsample pads `[0, 1, 0, 1]`), optional
 * bias; f32 or f16 storage with f32 accumulation.
 *
 * The kernel (./conv2d/wgsl.ts) is a direct implicit GEMM tuned for lavapipe; 1x1 convolutions without padding run
 * over the flattened image so their tiles never straddle rows. Tensors beyond one storage binding are split by
 * ./conv2d/plan.ts into batch / output-channel / input-channel chunks bound as aligned windows.
 */
import { type Device, ParameterError, ShapeError, type Tensor, UnsupportedError, checkFloat, shapeStr } from '@sd-webgpu/tensor';
import { type Conv2dGeometry, chunkBindings, planConv2d } from './conv2d/plan';
import { type Conv2dTile, chooseConv2dTile } from './conv2d/tiles';
import { CONV2D_LANES, conv2dKernel } from './conv2d/wgsl';

export { type Conv2dVariant, conv2dKernel, conv2dSource, conv2dVariantName } from './conv2d/wgsl';
export { type Conv2dChunk, type Conv2dGeometry, planConv2d } from './conv2d/plan';
export { type Conv2dTile, chooseConv2dTile } from './conv2d/tiles';

/** `[top, bottom, left, right]` zero padding. */
export type Conv2dPadding = readonly [number, number, number, number];

export interface Conv2dOptions {
  stride?: 1 | 2;
  /** Same padding on all four sides, or `[top, bottom, left, right]`. Default 0. */
  padding?: number | Conv2dPadding;
  /** Overrides the tile table (benchmarks and tests). */
  tile?: Conv2dTile;
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
  xShape: readonly number[], wShape: readonly number[], opts: Omit<Conv2dOptions, 'tile'> = {},
): [number, number, number, number] {
  const [n, , h, w] = xShape as [number, number, number, number];
  const [o, , kh, kw] = wShape as [number, number, number, number];
  const stride = opts.stride ?? 1;
  const [t, b, l, r] = conv2dPadding(opts.padding);
  return [n, o, Math.floor((h + t + b - kh) / stride) + 1, Math.floor((w + l + r - kw) / stride) + 1];
}

/** Floating-point operations of a convolution: 2·N·O·I·kh·kw·Hout·Wout. */
export function conv2dFlops(xShape: readonly number[], wShape: readonly number[], opts: Omit<Conv2dOptions, 'tile'> = {}): number {
  const [n, o, ho, wo] = conv2dOutputShape(xShape, wShape, opts);
  return 2 * n * o * wShape[1]! * wShape[2]! * wShape[3]! * ho * wo;
}

function validate(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions): void {
  checkFloat('conv2d', x.dtype);
  for (const [what, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && t.dtype !== x.dtype) {
      throw new UnsupportedError('conv2d', `${what} dtype ${t.dtype} differs from x dtype ${x.dtype} (they must match)`);
    }
    if (t && t.device !== x.device) throw new UnsupportedError('conv2d', `${what} lives on another device than x`);
  }
  if (x.rank !== 4) throw new ShapeError('conv2d', `x must be NCHW (rank 4), got rank ${x.rank}`, [x.shape]);
  if (weight.rank !== 4) {
    throw new ShapeError('conv2d', `weight must be [O, I, kh, kw] (rank 4), got rank ${weight.rank}`, [weight.shape]);
  }
  if (x.shape.some((d) => d === 0) || weight.shape.some((d) => d === 0)) {
    throw new ShapeError('conv2d', 'x and weight must not have a zero dimension', [x.shape, weight.shape]);
  }
  const [o, i, kh, kw] = weight.shape as [number, number, number, number];
  if (i !== x.shape[1]) {
    throw new ShapeError('conv2d', `weight expects ${i} input channels, x has ${x.shape[1]}`, [x.shape, weight.shape]);
  }
  if (kh > CONV2D_MAX_KERNEL || kw > CONV2D_MAX_KERNEL) {
    throw new UnsupportedError('conv2d', `kernel ${kh}x${kw} is larger than ${CONV2D_MAX_KERNEL}x${CONV2D_MAX_KERNEL}`);
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== o)) {
    throw new ShapeError('conv2d', `bias must be [${o}] (one per output channel), got ${shapeStr(bias.shape)}`, [bias.shape]);
  }
  const stride = opts.stride ?? 1;
  if (stride !== 1 && stride !== 2) throw new ParameterError('conv2d', 'stride', `must be 1 or 2, got ${String(stride)}`);
  const [, , ho, wo] = conv2dOutputShape(x.shape, weight.shape, opts);
  if (ho < 1 || wo < 1) {
    throw new ShapeError('conv2d', `the ${kh}x${kw} kernel does not fit the padded input (output would be ${ho}x${wo})`,
      [x.shape, weight.shape]);
  }
  if (opts.tile) {
    const { tileX, tileY, vec } = opts.tile;
    if (![tileX, tileY, vec].every((v) => Number.isInteger(v) && v >= 1 && v <= 32)) {
      throw new ParameterError('conv2d', 'tile', `entries must be integers in [1, 32], got ${JSON.stringify(opts.tile)}`);
    }
  }
}

/**
 * `x [N, I, H, W] ⋆ weight [O, I, kh, kw] (+ bias [O])` → `[N, O, Hout, Wout]`. Records its dispatches; the caller
 * owns the result.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  validate(x, weight, bias ?? null, opts);
  const device: Device = x.device;
  const stride = opts.stride ?? 1;
  const [pt, pb, pl, pr] = conv2dPadding(opts.padding);
  const [n, cin, h, w] = x.shape as [number, number, number, number];
  const [cout, , kh, kw] = weight.shape as [number, number, number, number];
  const [, , hout, wout] = conv2dOutputShape(x.shape, weight.shape, opts);
  const y = device.empty([n, cout, hout, wout], x.dtype);

  // A 1x1 convolution without stride or padding is a per-pixel linear: view the image as one row of H·W pixels.
  const pointwise = kh === 1 && kw === 1 && stride === 1 && pt + pb + pl + pr === 0;
  const g: Conv2dGeometry = pointwise
    ? { n, cin, h: 1, w: h * w, cout, hout: 1, wout: h * w, kh, kw }
    : { n, cin, h, w, cout, hout, wout, kh, kw };
  const tile = opts.tile ?? chooseConv2dTile(pointwise, g.wout);
  const align = device.limits.minStorageBufferOffsetAlignment;
  const bytes = x.dtype === 'f16' ? 2 : 4;
  const tilesX = Math.ceil(g.wout / tile.tileX);
  const pgroups = tilesX * Math.ceil(g.hout / tile.tileY);

  for (const ch of planConv2d(g, bytes, device.limits)) {
    const first = ch.c0 === 0;
    const kernel = conv2dKernel({
      dtype: x.dtype as 'f32' | 'f16', kh, kw, stride, ...tile, bias: !!bias && first, accumulate: !first,
    });
    const b = chunkBindings(g, ch, x, weight, y, align);
    const oblocks = Math.ceil(ch.o / (CONV2D_LANES * 4 * tile.vec));
    device.run(kernel, {
      bindings: { x: b.x, weight: b.weight, y: b.y, ...(bias && first ? { bias } : {}) },
      uniforms: { ...b.uniforms, pad_t: pt, pad_l: pl, tiles_x: tilesX, pgroups, oblocks },
      workgroups: [oblocks * pgroups, 1, ch.n],
    });
  }
  return y;
}
