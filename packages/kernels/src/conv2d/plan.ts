/**
 * Splitting a convolution whose tensors exceed `maxStorageBufferBindingSize`. In NCHW only whole channel planes are
 * contiguous (rows of all channels are not), so the pieces are batch ranges, ranges of output channels (contiguous in
 * `y` and in the weight `[O, I·kh·kw]`) and ranges of input channels (contiguous in `x`; their partial sums are
 * added into `y` one chunk after another; the weight follows the output or the input channels depending on its
 * layout). Every piece is bound as a window `{ tensor, offset, size }` whose offset
 * is rounded down to `minStorageBufferOffsetAlignment`; the kernel gets the remainder as an element offset.
 */
import { BYTES_PER_ELEMENT, type BufferWindow, LimitError, type Tensor } from '@sd-webgpu/tensor';

/** Sizes of one convolution (after padding is resolved). */
export interface Conv2dGeometry {
  readonly n: number;
  readonly cin: number;
  readonly h: number;
  readonly w: number;
  readonly cout: number;
  readonly hout: number;
  readonly wout: number;
  readonly kh: number;
  readonly kw: number;
}

/** One dispatch: batches `[n0, n0+n)`, input channels `[c0, c0+c)`, output channels `[o0, o0+o)`. */
export interface Conv2dChunk {
  readonly n0: number;
  readonly n: number;
  readonly c0: number;
  readonly c: number;
  readonly o0: number;
  readonly o: number;
}

export interface BindingLimits {
  readonly maxStorageBufferBindingSize: number;
  readonly minStorageBufferOffsetAlignment: number;
}

/**
 * `total` split into `ceil(total / max)` nearly equal ranges `[start, count]`; with a granule, every range but the
 * last is a multiple of it (`max` must then be one too, or `max ≥ total`).
 */
export function balancedSplit(total: number, max: number, granule = 1): [number, number][] {
  const parts = Math.ceil(total / max);
  const size = Math.min(max, Math.ceil(total / parts / granule) * granule);
  const out: [number, number][] = [];
  for (let s = 0; s < total; s += size) out.push([s, Math.min(size, total - s)]);
  return out;
}

/**
 * How the weight is laid out: `native` = PyTorch `[O, I·kh·kw]` (an output-channel range is contiguous), `packed` =
 * `[I·kh·kw, O4·4]` of ./pack.ts (an input-channel range is contiguous; output-channel ranges must start at a
 * multiple of 4, a whole vec4 column group).
 */
export type Conv2dWeightLayout = 'native' | 'packed';

/** Elements of the weight that one chunk reads: `[start, start + count)`. */
export function weightRange(g: Conv2dGeometry, ch: Conv2dChunk, layout: Conv2dWeightLayout): [number, number] {
  const k = g.kh * g.kw;
  if (layout === 'native') return [ch.o0 * g.cin * k, ch.o * g.cin * k];
  const row = Math.ceil(g.cout / 4) * 4;
  return [ch.c0 * k * row, ch.c * k * row];
}

/**
 * The dispatches of a convolution: one when `x`, `y` and the weight each fit one binding; else batch ranges when
 * one batch entry fits; else, per batch entry, output-channel ranges × input-channel ranges (input-channel chunks
 * of one output range are consecutive, the first one writing and the others accumulating).
 */
export function planConv2d(g: Conv2dGeometry, bytes: number, limits: BindingLimits, layout: Conv2dWeightLayout): Conv2dChunk[] {
  const limit = limits.maxStorageBufferBindingSize;
  const align = limits.minStorageBufferOffsetAlignment;
  const hw = g.h * g.w;
  const ohw = g.hout * g.wout;
  const k = g.kh * g.kw;
  const wAll = layout === 'native' ? g.cout * g.cin * k : g.cin * k * Math.ceil(g.cout / 4) * 4;
  const whole = Math.floor(limit / bytes);
  const all = { n0: 0, n: g.n, c0: 0, c: g.cin, o0: 0, o: g.cout };
  if (g.n * g.cin * hw <= whole && g.n * g.cout * ohw <= whole && wAll <= whole) return [all];

  // Elements a window may hold when its ranges start at multiples of `unit` elements: all of the limit when such
  // starts are aligned, else up to `align` bytes go to the rounded-down offset.
  const cap = (unit: number) => Math.floor((limit - ((unit * bytes) % align === 0 ? 0 : align)) / bytes);
  const perBatch = Math.min(Math.floor(cap(hw) / (g.cin * hw)), Math.floor(cap(ohw) / (g.cout * ohw)));
  if (perBatch >= 1 && wAll <= whole) {
    return balancedSplit(g.n, perBatch).map(([n0, n]) => ({ ...all, n0, n }));
  }

  let cMax = Math.floor(cap(hw) / hw);
  let oMax = Math.floor(cap(ohw) / ohw);
  if (layout === 'native') oMax = Math.min(oMax, Math.floor(cap(g.cin * k) / (g.cin * k)));
  else {
    const row = k * Math.ceil(g.cout / 4) * 4;
    cMax = Math.min(cMax, Math.floor(cap(row) / row));
    if (oMax < g.cout) oMax -= oMax % 4;
  }
  if (cMax < 1 || oMax < 1) {
    throw new LimitError('conv2d', `one channel plane (input ${g.h}x${g.w}, output ${g.hout}x${g.wout}) or one ` +
      `weight row of ${bytes}-byte elements does not fit maxStorageBufferBindingSize ${limit}`);
  }
  const chunks: Conv2dChunk[] = [];
  const granule = layout === 'packed' ? 4 : 1;
  for (let n0 = 0; n0 < g.n; n0++) {
    for (const [o0, o] of balancedSplit(g.cout, oMax, granule)) {
      for (const [c0, c] of balancedSplit(g.cin, cMax)) chunks.push({ n0, n: 1, c0, c, o0, o });
    }
  }
  return chunks;
}

/** A window over elements `[start, start + count)` of `tensor`, and the element offset of `start` inside it. */
export function elementWindow(tensor: Tensor, start: number, count: number, align: number): { binding: BufferWindow; off: number } {
  const { offset, size, off } = byteWindow(BYTES_PER_ELEMENT[tensor.dtype], start, count, align);
  return { binding: { tensor, offset, size }, off };
}

/** The byte window over elements `[start, start + count)` of `eb`-byte elements, and the element offset of `start` in it. */
export interface ByteWindow {
  readonly offset: number;
  readonly size: number;
  readonly off: number;
}

function byteWindow(eb: number, start: number, count: number, align: number): ByteWindow {
  const offset = Math.floor((start * eb) / align) * align;
  const off = start - offset / eb;
  return { offset, size: (off + count) * eb, off };
}

export interface ChunkWindows {
  x: ByteWindow;
  weight: ByteWindow;
  y: ByteWindow;
}

/**
 * The windows of one chunk over `x [N, C, H, W]`, the weight (in `layout`) and `y [N, O, Ho, Wo]`, all of `eb`-byte
 * elements (tensor-free, so a plan can keep them).
 */
export function chunkWindows(
  g: Conv2dGeometry, ch: Conv2dChunk, layout: Conv2dWeightLayout, eb: number, align: number,
): ChunkWindows {
  const hw = g.h * g.w;
  const ohw = g.hout * g.wout;
  const xs = (ch.n0 * g.cin + ch.c0) * hw;
  const xe = ((ch.n0 + ch.n - 1) * g.cin + ch.c0 + ch.c) * hw;
  const ys = (ch.n0 * g.cout + ch.o0) * ohw;
  const ye = ((ch.n0 + ch.n - 1) * g.cout + ch.o0 + ch.o) * ohw;
  const [ws, wn] = weightRange(g, ch, layout);
  return {
    x: byteWindow(eb, xs, xe - xs, align),
    weight: byteWindow(eb, ws, wn, align),
    y: byteWindow(eb, ys, ye - ys, align),
  };
}
