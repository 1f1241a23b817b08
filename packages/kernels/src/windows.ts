/**
 * Splitting work over tensors larger than `maxStorageBufferBindingSize`. An op describes its iteration space (a box
 * of dims) and, for each operand, which element range a sub-box touches. `splitBoxes` halves the box along the dim
 * that shrinks the worst operand most until every operand's range fits one binding, and returns the sub-boxes with
 * their bound windows `{ tensor, offset, size }` (offsets aligned to minStorageBufferOffsetAlignment, and at least to
 * 16 bytes so that vec4 loads stay aligned). A tensor that fits is bound by one window over its used range, so the
 * common case is one box and one dispatch.
 */
import { BYTES_PER_ELEMENT, type BufferWindow, type Device, LimitError, type Tensor, debugLog } from '@sd-webgpu/tensor';

/** A bound range of an operand. `start` is the element index of the window's first element. */
export interface Window {
  readonly binding: BufferWindow;
  readonly start: number;
}

/** An operand of a split: its tensor and the inclusive element range `[lo, hi]` a box reads or writes. */
export interface SpanOperand {
  readonly tensor: Tensor;
  span(start: readonly number[], size: readonly number[]): readonly [number, number];
}

export interface Box {
  readonly start: number[];
  readonly size: number[];
  /** One window per operand, in operand order. */
  readonly windows: Window[];
}

/** Byte alignment of window offsets on this device. */
export function windowAlignment(device: Device): number {
  return Math.max(16, device.limits.minStorageBufferOffsetAlignment);
}

/** The window covering elements `[lo, hi]` of `tensor`, or null when it is larger than `limit` bytes. */
export function makeWindow(tensor: Tensor, lo: number, hi: number, align: number, limit: number): Window | null {
  const eb = BYTES_PER_ELEMENT[tensor.dtype];
  const startByte = Math.floor((lo * eb) / align) * align;
  const size = (hi + 1) * eb - startByte;
  if (Math.ceil(size / 4) * 4 > limit) return null;
  return { binding: { tensor, offset: startByte, size }, start: startByte / eb };
}

/**
 * Splits the box `[0, shape)` into sub-boxes whose operand windows fit the binding limit. `granule[d]` is the
 * smallest piece dim d may be cut into (4 on a vec4 innermost dim); cuts fall on multiples of it.
 */
export function splitBoxes(
  op: string,
  device: Device,
  shape: readonly number[],
  operands: readonly SpanOperand[],
  granule: readonly number[] = shape.map(() => 1),
): Box[] {
  const limit = device.limits.maxStorageBufferBindingSize;
  const align = windowAlignment(device);
  const out: Box[] = [];
  const stack: { start: number[]; size: number[] }[] = [{ start: shape.map(() => 0), size: [...shape] }];
  while (stack.length) {
    const box = stack.pop()!;
    const windows: Window[] = [];
    let bad = -1;
    for (let j = 0; j < operands.length; j++) {
      const [lo, hi] = operands[j]!.span(box.start, box.size);
      const w = makeWindow(operands[j]!.tensor, lo, hi, align, limit);
      if (!w) {
        bad = j;
        break;
      }
      windows.push(w);
    }
    if (bad < 0) {
      out.push({ ...box, windows });
      continue;
    }
    // Cut the dim whose first half gives the offending operand the smallest range.
    let best = -1;
    let bestSpan = Infinity;
    for (let d = 0; d < shape.length; d++) {
      const cut = cutPoint(box.size[d]!, granule[d]!);
      if (cut === 0) continue;
      const size = [...box.size];
      size[d] = cut;
      const [lo, hi] = operands[bad]!.span(box.start, size);
      if (hi - lo < bestSpan) {
        bestSpan = hi - lo;
        best = d;
      }
    }
    if (best < 0) {
      const t = operands[bad]!.tensor;
      throw new LimitError(op, `cannot split ${t.describe()} into bindings of at most ${limit} bytes ` +
        `(the smallest piece of the iteration space [${shape.join(',')}] still needs more)`);
    }
    const cut = cutPoint(box.size[best]!, granule[best]!);
    const first = { start: [...box.start], size: [...box.size] };
    first.size[best] = cut;
    const second = { start: [...box.start], size: [...box.size] };
    second.start[best]! += cut;
    second.size[best]! -= cut;
    stack.push(second, first);
  }
  if (out.length > 1) debugLog(op, () => `[${shape.join(',')}] split into ${out.length} windows (binding limit ${limit} bytes)`);
  return out;
}

/** Where to cut a dim of `size` into two pieces on multiples of `granule` (0 when it cannot be cut). */
function cutPoint(size: number, granule: number): number {
  if (size <= granule) return 0;
  const cut = Math.ceil(size / 2 / granule) * granule;
  return cut < size ? cut : 0;
}

/** The inclusive element range of a strided operand over a box (all strides are >= 0). */
export function stridedSpan(offset: number, strides: readonly number[]) {
  return (start: readonly number[], size: readonly number[]): [number, number] => {
    let lo = offset;
    let ext = 0;
    for (let d = 0; d < strides.length; d++) {
      lo += start[d]! * strides[d]!;
      ext += (size[d]! - 1) * strides[d]!;
    }
    return [lo, lo + ext];
  };
}

/** Workgroup count for `n` invocations (run() folds counts beyond the per-dimension limit into y). */
export const groups = (n: number, wg: number): [number] => [Math.ceil(n / wg)];
