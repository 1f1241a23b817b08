/**
 * Splitting a convolution whose tensors exceed `maxStorageBufferBindingSize`. In NCHW only whole channel planes are
 * contiguous (rows of all channels are not), so the pieces are batch ranges, ranges of output channels (contiguous in
 * `y` and in the weight `[O, I·kh·kw]`) and ranges of input channels (contiguous in `x`; their partial sums are
 * added into `y` one chunk after another). Every piece is bound as a window `{ tensor, offset, size }` whose offset
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

/** `total` split into `ceil(total / max)` nearly equal ranges `[start, count]`. */
export function balancedSplit(total: number, max: number): [number, number][] {
  const parts = Math.ceil(total / max);
  const size = Math.ceil(total / parts);
  const out: [number, number][] = [];
  for (let s = 0; s < total; s += size) out.push([s, Math.min(size, total - s)]);
  return out;
}

/**
 * The dispatches of a convolution: one when `x`, `y` and the weight each fit one binding; else batch ranges when
 * one batch entry fits; else, per batch entry, output-channel ranges × input-channel ranges (input-channel chunks
 * of one output range are consecutive, the first one writing and the others accumulating).
 */
export function planConv2d(g: Conv2dGeometry, bytes: number, limits: BindingLimits): Conv2dChunk[] {
  const limit = limits.maxStorageBufferBindingSize;
  const align = limits.minStorageBufferOffsetAlignment;
  const hw = g.h * g.w;
  const ohw = g.hout * g.wout;
  const k = g.kh * g.kw;
  const whole = Math.floor(limit / bytes);
  const all = { n0: 0, n: g.n, c0: 0, c: g.cin, o0: 0, o: g.cout };
  if (g.n * g.cin * hw <= whole && g.n * g.cout * ohw <= whole && g.cout * g.cin * k <= whole) return [all];

  // A window starting at an unaligned element loses up to `align` bytes of the limit to its rounded-down offset.
  const cap = Math.floor((limit - align) / bytes);
  const perBatch = Math.min(Math.floor(cap / (g.cin * hw)), Math.floor(cap / (g.cout * ohw)));
  if (perBatch >= 1 && g.cout * g.cin * k <= whole) {
    return balancedSplit(g.n, perBatch).map(([n0, n]) => ({ ...all, n0, n }));
  }

  const cMax = Math.floor(cap / hw);
  const oMax = Math.min(Math.floor(cap / ohw), Math.floor(cap / (g.cin * k)));
  if (cMax < 1 || oMax < 1) {
    throw new LimitError('conv2d', `one channel plane (input ${g.h}x${g.w}, output ${g.hout}x${g.wout}) or one ` +
      `weight row (${g.cin * k} values) of ${bytes}-byte elements does not fit maxStorageBufferBindingSize ${limit}`);
  }
  const chunks: Conv2dChunk[] = [];
  for (let n0 = 0; n0 < g.n; n0++) {
    for (const [o0, o] of balancedSplit(g.cout, oMax)) {
      for (const [c0, c] of balancedSplit(g.cin, cMax)) chunks.push({ n0, n: 1, c0, c, o0, o });
    }
  }
  return chunks;
}

/** A window over elements `[start, start + count)` of `tensor`, and the element offset of `start` inside it. */
export function elementWindow(tensor: Tensor, start: number, count: number, align: number): { binding: BufferWindow; off: number } {
  const eb = BYTES_PER_ELEMENT[tensor.dtype];
  const offset = Math.floor((start * eb) / align) * align;
  const off = start - offset / eb;
  return { binding: { tensor, offset, size: (off + count) * eb }, off };
}

/** The windows and uniforms of one chunk (`x [N, C, H, W]`, `weight [O, C·kh·kw]`, `y [N, O, Ho, Wo]`). */
export function chunkBindings(
  g: Conv2dGeometry, ch: Conv2dChunk, x: Tensor, weight: Tensor, y: Tensor, align: number,
): { x: BufferWindow; weight: BufferWindow; y: BufferWindow; uniforms: Record<string, number> } {
  const hw = g.h * g.w;
  const ohw = g.hout * g.wout;
  const k = g.kh * g.kw;
  const xs = (ch.n0 * g.cin + ch.c0) * hw;
  const xe = ((ch.n0 + ch.n - 1) * g.cin + ch.c0 + ch.c) * hw;
  const ys = (ch.n0 * g.cout + ch.o0) * ohw;
  const ye = ((ch.n0 + ch.n - 1) * g.cout + ch.o0 + ch.o) * ohw;
  const xw = elementWindow(x, xs, xe - xs, align);
  const ww = elementWindow(weight, ch.o0 * g.cin * k, ch.o * g.cin * k, align);
  const yw = elementWindow(y, ys, ye - ys, align);
  return {
    x: xw.binding,
    weight: ww.binding,
    y: yw.binding,
    uniforms: {
      cin: ch.c, h: g.h, w: g.w, cout: ch.o, hout: g.hout, wout: g.wout,
      x_off: xw.off, x_nstride: g.cin * hw,
      w_off: ww.off, w_kstride: g.cin * k, w_k0: ch.c0 * k,
      y_off: yw.off, y_nstride: g.cout * ohw,
      b_off: ch.o0,
    },
  };
}
