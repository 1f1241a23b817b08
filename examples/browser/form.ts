/**
 * The page's generation settings, read from the form with a ParameterError naming the field and the value when one
 * is out of range (before any GPU work).
 */
import { ParameterError } from '@sd-webgpu/tensor';

const WHERE = 'page';

/** An integer field in `lo..hi`. */
export function readInt(value: string, name: string, lo: number, hi: number): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ParameterError(WHERE, name, `must be an integer in ${lo}..${hi} (got '${value}')`);
  }
  return v;
}

/** The seed, or undefined (random) when the field is empty. */
export function readSeed(value: string): number | undefined {
  return value.trim() === '' ? undefined : readInt(value, 'seed', 0, Number.MAX_SAFE_INTEGER);
}

export function readGuidance(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v < 0) {
    throw new ParameterError(WHERE, 'CFG scale', `must be a number ≥ 0 (got '${value}')`);
  }
  return v;
}

/** Width or height: a multiple of 8 in 64..2048, or undefined (the model's default) when the field is empty. */
export function readSide(value: string, name: 'width' | 'height'): number | undefined {
  if (value.trim() === '') return undefined;
  const v = readInt(value, name, 64, 2048);
  if (v % 8 !== 0) throw new ParameterError(WHERE, name, `must be a multiple of 8 (got '${value}')`);
  return v;
}

/** img2img strength: 0 < strength ≤ 1. */
export function readStrength(value: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v <= 0 || v > 1) {
    throw new ParameterError(WHERE, 'strength', `must be a number in (0, 1] (got '${value}')`);
  }
  return v;
}
