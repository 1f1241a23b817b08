/**
 * Resampling of RGBA images, for img2img inputs whose size differs from the requested output size.
 *
 * Separable convolution in the manner of Pillow's `Image.resize` (which A1111 uses for img2img inputs):
 * output pixel i samples the input around centre `(i + 0.5)·scale` with `scale = inSize / outSize`; when shrinking
 * the kernel is stretched by `scale` so it also low-pass filters (no aliasing). Weights are normalised to sum 1.
 * Unlike Pillow the intermediate (horizontal) pass is kept in float32 rather than 8-bit, so results can differ from
 * Pillow's by a level here and there. Channels (alpha included) are filtered independently, not premultiplied.
 *
 * Filters: 'lanczos' (Lanczos-3, sinc(x)·sinc(x/3), |x| < 3; sharp, default) and 'bilinear' (triangle, |x| < 1).
 */
import { ParameterError } from '@sd-webgpu/tensor';
import type { RgbaImage } from '../options.js';
import { checkRgbaImage } from './rgba.js';

export type ResizeFilter = 'lanczos' | 'bilinear';

/** Largest output side accepted (the pipeline's maximum is 2048; this leaves room for other uses). */
const MAX_SIDE = 16384;

interface Filter {
  support: number;
  weight(x: number): number;
}

const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

const FILTERS: Record<ResizeFilter, Filter> = {
  lanczos: { support: 3, weight: (x) => (Math.abs(x) < 3 ? sinc(x) * sinc(x / 3) : 0) },
  bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
};

/** For each output index: the first input index and the normalised weights of the inputs it reads. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  /** `maxCount` weights per output index. */
  weights: Float64Array;
  maxCount: number;
}

function computeTaps(inSize: number, outSize: number, filter: Filter): Taps {
  const scale = inSize / outSize;
  const stretch = Math.max(scale, 1);
  const support = filter.support * stretch;
  const maxCount = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * maxCount);
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), inSize);
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const wgt = filter.weight((j + 0.5 - centre) / stretch);
      weights[i * maxCount + (j - lo)] = wgt;
      sum += wgt;
    }
    // sum > 0: the window always holds the main lobe on at least one side of the centre (the sample nearest the
    // centre alone weighs ≥ 0.6), which outweighs Lanczos' negative lobes even when an image edge cuts the window
    for (let j = lo; j < hi; j++) weights[i * maxCount + (j - lo)]! /= sum;
    start[i] = lo;
    count[i] = hi - lo;
  }
  return { start, count, weights, maxCount };
}

function checkSide(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > MAX_SIDE) {
    throw new ParameterError('resizeRgba', name, `must be an integer in 1..${MAX_SIDE} (got ${v})`);
  }
}

/** Resizes an RGBA image to `width`×`height` (a copy even when the size is unchanged). */
export function resizeRgba(image: RgbaImage, width: number, height: number, filter: ResizeFilter = 'lanczos'): RgbaImage {
  checkRgbaImage('resizeRgba', image);
  checkSide('width', width);
  checkSide('height', height);
  const f = FILTERS[filter];
  if (!f) throw new ParameterError('resizeRgba', 'filter', `must be 'lanczos' or 'bilinear' (got '${String(filter)}')`);
  const { width: inW, height: inH, data: src } = image;
  if (inW === width && inH === height) return { width, height, data: new Uint8Array(src) };

  // 1. horizontal pass: inH rows × width columns, float
  const hx = computeTaps(inW, width, f);
  const mid = new Float32Array(inH * width * 4);
  for (let y = 0; y < inH; y++) {
    const row = y * inW * 4;
    for (let x = 0; x < width; x++) {
      const s = hx.start[x]!;
      const n = hx.count[x]!;
      const wo = x * hx.maxCount;
      let r = 0, g = 0, b = 0, a = 0;
      for (let k = 0; k < n; k++) {
        const w = hx.weights[wo + k]!;
        const p = row + (s + k) * 4;
        r += w * src[p]!;
        g += w * src[p + 1]!;
        b += w * src[p + 2]!;
        a += w * src[p + 3]!;
      }
      const o = (y * width + x) * 4;
      mid[o] = r;
      mid[o + 1] = g;
      mid[o + 2] = b;
      mid[o + 3] = a;
    }
  }

  // 2. vertical pass: height rows, rounded and clamped to bytes
  const vy = computeTaps(inH, height, f);
  const out = new Uint8Array(width * height * 4);
  const stride = width * 4;
  for (let y = 0; y < height; y++) {
    const s = vy.start[y]!;
    const n = vy.count[y]!;
    const wo = y * vy.maxCount;
    for (let x = 0; x < stride; x++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += vy.weights[wo + k]! * mid[(s + k) * stride + x]!;
      out[y * stride + x] = acc <= 0 ? 0 : acc >= 255 ? 255 : Math.round(acc);
    }
  }
  return { width, height, data: out };
}
