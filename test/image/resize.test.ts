import { describe, expect, it } from 'vitest';
import { ParameterError } from '@sd-webgpu/tensor';
import { type ResizeFilter, resizeRgba } from '../helpers/image';

const make = (width: number, height: number, f: (x: number, y: number) => number[]) => {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(f(x, y), (y * width + x) * 4);
  return { width, height, data };
};
const at = (img: { width: number; data: Uint8Array | Uint8ClampedArray }, x: number, y: number) =>
  [...img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 4)];
const filters: ResizeFilter[] = ['lanczos', 'bilinear'];

describe('resizeRgba', () => {
  it('returns an equal copy at the same size', () => {
    const img = make(5, 3, (x, y) => [x, y, x * y, 200]);
    const out = resizeRgba(img, 5, 3);
    expect(out.data).not.toBe(img.data);
    expect([...out.data]).toEqual([...img.data]);
  });

  it.each(filters)('keeps a constant image constant when shrinking and enlarging (%s)', (filter) => {
    const img = make(13, 9, () => [17, 130, 250, 99]);
    for (const [w, h] of [[64, 40], [5, 3], [1, 1], [13, 27], [40, 2]] as const) {
      const out = resizeRgba(img, w, h, filter);
      expect([out.width, out.height]).toEqual([w, h]);
      for (let i = 0; i < w * h; i++) expect(at(out, i % w, Math.floor(i / w))).toEqual([17, 130, 250, 99]);
    }
  });

  it('bilinear halving averages with PIL-style weights 1/8, 3/8, 3/8, 1/8', () => {
    // one row: vertical pass is the identity (scale 1 → only the row itself has weight)
    const row = [0, 80, 160, 240, 40, 200, 120, 16];
    const img = make(8, 1, (x) => [row[x]!, 0, 0, 255]);
    const out = resizeRgba(img, 4, 1, 'bilinear');
    // output 1 reads inputs 1..4 (centre 3); output 0 reads inputs 0..2 with the edge weight dropped and renormalised
    const r1 = (1 * 80 + 3 * 160 + 3 * 240 + 1 * 40) / 8;
    const r0 = (3 * 0 + 3 * 80 + 1 * 160) / 7;
    expect(at(out, 1, 0)[0]).toBe(Math.round(r1));
    expect(at(out, 0, 0)[0]).toBe(Math.round(r0));
    expect(at(out, 1, 0)[3]).toBe(255);
  });

  it('bilinear doubling interpolates at quarter positions', () => {
    const img = make(2, 1, (x) => [x === 0 ? 0 : 200, 0, 0, 255]);
    const out = resizeRgba(img, 4, 1, 'bilinear');
    // output centres sit at input coordinates 0.25, 0.75, 1.25, 1.75 (pixel centres at 0.5, 1.5)
    expect([0, 1, 2, 3].map((x) => at(out, x, 0)[0])).toEqual([0, 50, 150, 200]);
  });

  it.each(filters)('low-pass filters a 1-pixel checkerboard when halving (%s)', (filter) => {
    const img = make(32, 32, (x, y) => Array(3).fill((x + y) % 2 ? 255 : 0).concat(255));
    const out = resizeRgba(img, 16, 16, filter);
    // interior pixels (kernel fully inside) see equal black/white weight: 127.5 → 127 or 128. Point sampling
    // (no antialiasing) would give 0 or 255 everywhere.
    for (let y = 3; y < 13; y++) for (let x = 3; x < 13; x++) expect(Math.abs(at(out, x, y)[0]! - 127.5)).toBeLessThanOrEqual(0.5);
  });

  it('lanczos enlarging keeps a horizontal ramp monotone and mirror-symmetric', () => {
    const img = make(16, 4, (x) => [x * 17, 255 - x * 17, 128, 255]);
    const out = resizeRgba(img, 40, 4);
    const red = [...Array(40).keys()].map((x) => at(out, x, 2)[0]!);
    const green = [...Array(40).keys()].map((x) => at(out, x, 2)[1]!);
    for (let x = 1; x < 40; x++) expect(red[x]!).toBeGreaterThanOrEqual(red[x - 1]!);
    // green is red mirrored, and the filter is symmetric: green[x] = 255 - red[x] up to rounding (an exact .5 rounds up
    // on both sides, giving 256)
    for (let x = 0; x < 40; x++) expect(Math.abs(green[x]! + red[x]! - 255)).toBeLessThanOrEqual(1);
    expect(red[0]).toBe(0);
    expect(red[39]).toBe(255);
  });

  it('lanczos ringing is clamped to 0..255 at a hard edge', () => {
    const img = make(8, 1, (x) => [x < 4 ? 0 : 255, 0, 0, 255]);
    const out = resizeRgba(img, 32, 1);
    const red = [...Array(32).keys()].map((x) => at(out, x, 0)[0]!);
    // the edge lies at output 16; the negative lobe just before it (outputs 10..13) and the overshoot just after it
    // (18..21) clamp to 0 and 255 (stored unclamped they would wrap around in a Uint8Array); the positive side lobe
    // shows as small bumps (7..9, 22..24); beyond 3 input pixels (12 outputs) from the edge the kernel does not reach
    expect(red.slice(10, 14)).toEqual([0, 0, 0, 0]);
    expect(red.slice(18, 22)).toEqual([255, 255, 255, 255]);
    expect(red.slice(0, 4)).toEqual([0, 0, 0, 0]);
    expect(red.slice(28)).toEqual([255, 255, 255, 255]);
    expect(Math.max(...red.slice(7, 10))).toBeGreaterThan(0);
    expect(Math.min(...red.slice(22, 25))).toBeLessThan(255);
    for (let x = 14; x < 18; x++) expect(red[x]!).toBeGreaterThan(red[x - 1]!);
  });

  it('rejects bad sizes, filters and images', () => {
    const img = make(2, 2, () => [0, 0, 0, 255]);
    expect(() => resizeRgba(img, 0, 2)).toThrow(ParameterError);
    expect(() => resizeRgba(img, 2.5, 2)).toThrow(/parameter 'width' must be an integer in 1..16384 \(got 2.5\)/);
    expect(() => resizeRgba(img, 2, 20000)).toThrow(/'height'/);
    expect(() => resizeRgba(img, 4, 4, 'cubic' as ResizeFilter)).toThrow(/filter' must be 'lanczos' or 'bilinear'/);
    expect(() => resizeRgba({ width: 2, height: 2, data: new Uint8Array(3) }, 4, 4)).toThrow(/3 bytes/);
  });
});
