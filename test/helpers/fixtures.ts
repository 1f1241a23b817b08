/**
 * Reference-fixture access for tests: load a case file (`in.*`, `w.*`, `out.*` tensors + op/attrs metadata) through
 * the project's own safetensors reader, and compare numbers with absolute/relative tolerances.
 *
 * Fixtures live in test/fixtures (see its README.md for semantics and PROVENANCE.md for origin).
 * Keep this API stable: every test area imports it.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openSafetensors, type SafetensorsFile } from '../../packages/models/src/safetensors';

/** A tensor read into host memory. */
export interface HostTensor {
  shape: number[];
  /** The dtype stored in the file (F32, F16, BF16, F64, I64, U8, ...). */
  dtype: string;
  /**
   * F32, F16 and BF16 → Float32Array (exact upcast); F64 → Float64Array; I64 → BigInt64Array; U64 → BigUint64Array;
   * I32 → Int32Array; U32 → Uint32Array; I16 → Int16Array; U16 → Uint16Array; I8 → Int8Array; U8 and BOOL → Uint8Array.
   */
  data: HostData;
  /** The values as plain numbers (bigints converted with Number(); exact below 2^53). */
  toNumbers(): number[];
}

export type HostData =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array;

export interface FixtureCase {
  /** Path relative to test/fixtures without extension, e.g. 'ops/matmul_7x13x5' (as in manifest.json). */
  name: string;
  /** Absolute path of the file. */
  file: string;
  /** `__metadata__.op` ('' when absent, e.g. model weight files). */
  op: string;
  /** Parsed `__metadata__.attrs` ({} when absent). */
  attrs: Record<string, any>;
  /** The raw `__metadata__`. */
  metadata: Record<string, string>;
  /** `in.<name>` tensors keyed by `<name>`. */
  inputs: Record<string, HostTensor>;
  /** `w.<name>` tensors keyed by `<name>`. */
  weights: Record<string, HostTensor>;
  /** `out.<name>` tensors keyed by `<name>`. */
  outputs: Record<string, HostTensor>;
  /** Every tensor keyed by its full name (including those without a prefix). */
  tensors: Record<string, HostTensor>;
}

const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Absolute path of a file under test/fixtures, e.g. fixturePath('tokenizer/vocab.json'). */
export function fixturePath(rel: string): string {
  return FIXTURES_DIR + rel.replace(/^\/+/, '');
}

/** True when the fixture file exists (for cases that are optional in some checkouts). */
export function fixtureExists(rel: string): boolean {
  return existsSync(fixturePath(rel));
}

/** Parses a JSON fixture (manifest.json, tokenizer/prompts.json, model configs); Python's NaN/Infinity are accepted. */
export async function readFixtureJson<T = any>(rel: string): Promise<T> {
  return parsePythonJson(await readFile(fixturePath(rel), 'utf8')) as T;
}

const PY_SENTINEL = '@@python-json-nonfinite:';

/**
 * JSON.parse for text written by Python's json module, which emits the bare tokens NaN, Infinity and -Infinity
 * (e.g. `lambda_min_clipped: -Infinity` in scheduler configs). Those tokens become the JS numbers.
 */
export function parsePythonJson(text: string): unknown {
  let out = '';
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      continue;
    }
    const m = c === 'N' || c === 'I' || c === '-' ? /^(?:-?Infinity|NaN)/.exec(text.slice(i, i + 9)) : null;
    if (m) {
      out += `${text.slice(last, i)}"${PY_SENTINEL}${m[0]}"`;
      i += m[0].length - 1;
      last = i + 1;
    }
  }
  if (last === 0) return JSON.parse(text);
  out += text.slice(last);
  return JSON.parse(out, (_k, v: unknown) =>
    typeof v === 'string' && v.startsWith(PY_SENTINEL) ? Number(v.slice(PY_SENTINEL.length)) : v,
  );
}

/** Loads every tensor of a case file. `relPath` may omit the `.safetensors` extension. */
export async function loadCase(relPath: string): Promise<FixtureCase> {
  const rel = relPath.endsWith('.safetensors') ? relPath : `${relPath}.safetensors`;
  const file = fixturePath(rel);
  const st = await openSafetensors(file);
  try {
    const tensors: Record<string, HostTensor> = {};
    const inputs: Record<string, HostTensor> = {};
    const weights: Record<string, HostTensor> = {};
    const outputs: Record<string, HostTensor> = {};
    for (const key of st.keys()) {
      const t = await readHostTensor(st, key);
      tensors[key] = t;
      if (key.startsWith('in.')) inputs[key.slice(3)] = t;
      else if (key.startsWith('w.')) weights[key.slice(2)] = t;
      else if (key.startsWith('out.')) outputs[key.slice(4)] = t;
    }
    const metadata = { ...st.metadata };
    let attrs: Record<string, any> = {};
    if (metadata.attrs !== undefined) {
      try {
        attrs = parsePythonJson(metadata.attrs) as Record<string, any>;
      } catch (e) {
        throw new Error(`fixture ${rel}: __metadata__.attrs is not valid JSON (${(e as Error).message})`);
      }
    }
    return {
      name: rel.replace(/\.safetensors$/, ''),
      file,
      op: metadata.op ?? '',
      attrs,
      metadata,
      inputs,
      weights,
      outputs,
      tensors,
    };
  } finally {
    await st.close();
  }
}

/** Reads one tensor of an open file as a HostTensor (floats of 16 bits upcast to f32). */
export async function readHostTensor(st: SafetensorsFile, key: string): Promise<HostTensor> {
  const info = st.info(key);
  const data: HostData =
    info.dtype === 'F16' || info.dtype === 'BF16' ? await st.readFloat32(key) : ((await st.readTyped(key)) as HostData);
  return makeHostTensor([...info.shape], info.dtype, data);
}

export function makeHostTensor(shape: number[], dtype: string, data: HostData): HostTensor {
  return { shape, dtype, data, toNumbers: () => toNumbers(data) };
}

/** The tensor's values as a Float32Array: the data itself for F32/F16/BF16, a rounded copy for other dtypes. */
export function asFloat32(t: HostTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  return Float32Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Any host array (bigint arrays included) as plain numbers. */
export function toNumbers(data: ArrayLike<number | bigint>): number[] {
  return Array.from(data as ArrayLike<number | bigint>, (v) => Number(v));
}

// ---- numeric comparison ---------------------------------------------------------------------------

export interface Tolerance {
  /** Absolute tolerance (default 0). */
  atol?: number;
  /** Relative tolerance, scaled by |expected| (default 0). */
  rtol?: number;
}

export interface CompareResult {
  /** max |actual - expected| (Infinity when a NaN/Inf disagrees). */
  maxAbs: number;
  /** max |actual - expected| / |expected| over elements with expected ≠ 0. */
  maxRel: number;
  /** The element furthest outside its tolerance (or with the largest error when all pass); -1 when empty. */
  worstIndex: number;
  /** Number of elements outside |a - e| ≤ atol + rtol·|e|. */
  mismatches: number;
  /** Element count. */
  n: number;
  ok: boolean;
}

/**
 * Elementwise |actual - expected| ≤ atol + rtol·|expected| (numpy.allclose semantics). NaN matches NaN and equal
 * infinities match; anything else involving NaN/Inf is a mismatch. Different lengths throw.
 */
export function compare(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 0, rtol = 0 }: Tolerance = {},
): CompareResult {
  if (actual.length !== expected.length) {
    throw new Error(`compare: actual has ${actual.length} elements, expected has ${expected.length}`);
  }
  let maxAbs = 0;
  let maxRel = 0;
  let worstIndex = actual.length > 0 ? 0 : -1;
  let worstScore = -1;
  let mismatches = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = Number(actual[i]);
    const e = Number(expected[i]);
    let diff: number;
    if (Number.isNaN(a) || Number.isNaN(e)) diff = Number.isNaN(a) && Number.isNaN(e) ? 0 : Infinity;
    else if (a === e) diff = 0; // also equal infinities
    else diff = Math.abs(a - e);
    const limit = atol + rtol * (Number.isFinite(e) ? Math.abs(e) : 0);
    if (!(diff <= limit)) mismatches++;
    if (diff > maxAbs) maxAbs = diff;
    if (e !== 0 && Number.isFinite(e) && diff / Math.abs(e) > maxRel) maxRel = diff / Math.abs(e);
    const score = limit > 0 ? diff / limit : diff === 0 ? 0 : Infinity;
    const better = score > worstScore || (score === worstScore && diff > Math.abs(Number(actual[worstIndex]) - Number(expected[worstIndex])));
    if (better) {
      worstScore = score;
      worstIndex = i;
    }
  }
  return { maxAbs, maxRel, worstIndex, mismatches, n: actual.length, ok: mismatches === 0 };
}

/** Throws a readable Error unless `actual` is close to `expected`. Pass `shape` to see the worst element's coordinates. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance & { shape?: readonly number[] },
  label: string,
): CompareResult {
  if (actual.length !== expected.length) {
    throw new Error(`${label}: length mismatch, actual has ${actual.length} elements, expected ${expected.length}`);
  }
  const r = compare(actual, expected, tol);
  if (!r.ok) {
    const i = r.worstIndex;
    const where = tol.shape ? ` ${coords(i, tol.shape)}` : '';
    throw new Error(
      `${label}: ${r.mismatches} of ${r.n} elements outside atol=${tol.atol ?? 0} rtol=${tol.rtol ?? 0}; ` +
        `max abs error ${fmt(r.maxAbs)}, max rel error ${fmt(r.maxRel)}; worst at index ${i}${where}: ` +
        `actual ${fmt(Number(actual[i]))} vs expected ${fmt(Number(expected[i]))}`,
    );
  }
  return r;
}

function coords(index: number, shape: readonly number[]): string {
  const c: number[] = [];
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    c.unshift(n > 0 ? rest % n : 0);
    rest = n > 0 ? Math.floor(rest / n) : 0;
  }
  return `[${c.join(', ')}]`;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(6) : String(x);
}
