import { describe, expect, it } from 'vitest';
import { roundHalfEven, sampleToByte } from '../helpers/image';

describe('roundHalfEven', () => {
  it('rounds ties to even like numpy.round', () => {
    const cases: Array<[number, number]> = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [254.5, 254], [253.5, 254], [0.49999997, 0], [2.5000002, 3], [7, 7], [126.4, 126], [126.6, 127]];
    for (const [x, want] of cases) expect(roundHalfEven(x), `round(${x})`).toBe(want);
  });
});

describe('sampleToByte', () => {
  it('does float32 arithmetic: a value whose f32 product with 255 is an exact tie rounds to even', () => {
    // f32(0.5) · 255 = 127.5 exactly → 128 (even); f32(1.5/255)·255 rounds in f32 to exactly 1.5 → 2
    expect(sampleToByte(0.5, 'unit')).toBe(128);
    const v = Math.fround(1.5 / 255);
    expect(Math.fround(v * 255)).toBe(1.5); // the premise of the next line
    expect(sampleToByte(v, 'unit')).toBe(2);
    const w = Math.fround(2.5 / 255);
    expect(Math.fround(w * 255)).toBe(2.5);
    expect(sampleToByte(w, 'unit')).toBe(2);
  });

  it('maps [-1, 1] through x/2 + 0.5 and clamps', () => {
    expect(sampleToByte(-1)).toBe(0);
    expect(sampleToByte(1)).toBe(255);
    expect(sampleToByte(0)).toBe(128);
    expect(sampleToByte(1.0001)).toBe(255);
    expect(sampleToByte(-7)).toBe(0);
    expect(sampleToByte(-0)).toBe(128);
    expect(sampleToByte(NaN)).toBe(0);
    expect(sampleToByte(Infinity)).toBe(255);
  });
});
