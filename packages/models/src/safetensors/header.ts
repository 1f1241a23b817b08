/**
 * Parsing and validation of the safetensors header.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON, then the data section. The JSON is an object
 * mapping tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data section),
 * plus an optional `__metadata__` object of string → string.
 *
 * Validation is strict about anything that would make a read ambiguous or out of bounds (bad types, unknown dtypes,
 * duplicate names, spans that overlap, leave the data section or disagree with shape × dtype size) and lenient about
 * unused bytes (gaps between tensors, trailing bytes after the last one).
 */
import { isSafetensorsDtype, DTYPE_SIZES, type SafetensorsDtype } from './dtype.js';
import { SafetensorsFormatError } from './errors.js';
import { findDuplicateKey, nestsDeeperThan } from './json-keys.js';
import { briefArray as brief, describeJson as describe } from '../json_describe.js';

/** Headers larger than this are rejected (real SD checkpoints have headers of a few hundred KB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** A valid header nests 3 deep (object → entry → shape); anything past this is rejected before parsing. */
export const MAX_HEADER_DEPTH = 16;

/** Size of the length prefix. */
export const HEADER_PREFIX_BYTES = 8;

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** N, the JSON length in bytes. */
  headerLength: number;
  /** Absolute offset of the data section (8 + N). */
  dataStart: number;
  /** Bytes from dataStart to the end of the file. */
  dataSize: number;
  /** `__metadata__`, or an empty object when absent. */
  metadata: Record<string, string>;
  /** Tensors in header order. */
  entries: SafetensorsEntry[];
}

/** Reads and checks the 8-byte length prefix; returns N. */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < HEADER_PREFIX_BYTES || prefix.length < HEADER_PREFIX_BYTES) {
    throw new SafetensorsFormatError(file, `file is ${fileSize} bytes, too small for the 8-byte header length`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, HEADER_PREFIX_BYTES);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo; // exact below 2^53; anything with hi ≥ 2^21 is absurd anyway
  if (hi !== 0 || n > MAX_HEADER_BYTES) {
    throw new SafetensorsFormatError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (n > fileSize - HEADER_PREFIX_BYTES) {
    throw new SafetensorsFormatError(
      file,
      `header length ${n} runs past the end of the file (${fileSize - HEADER_PREFIX_BYTES} bytes after the prefix)`,
    );
  }
  return n;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses and validates the JSON header (`headerBytes` = the N bytes after the prefix). */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  const headerLength = headerBytes.length;
  const dataStart = HEADER_PREFIX_BYTES + headerLength;
  const dataSize = fileSize - dataStart;
  if (dataSize < 0) throw new SafetensorsFormatError(file, `header length ${headerLength} runs past the end of the file`);

  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch {
    throw new SafetensorsFormatError(file, 'header is not valid UTF-8');
  }
  if (nestsDeeperThan(text, MAX_HEADER_DEPTH)) {
    throw new SafetensorsFormatError(file, `header nests arrays/objects more than ${MAX_HEADER_DEPTH} levels deep`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsFormatError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) {
    throw new SafetensorsFormatError(file, `header must be a JSON object, got ${describe(json)}`);
  }
  const dup = findDuplicateKey(text);
  if (dup) {
    const where = dup.path.length ? ` inside '${dup.path.join('.')}'` : '';
    throw new SafetensorsFormatError(file, `header has duplicate key '${clip(dup.key)}'${clip(where)}`);
  }

  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(value, file);
    else entries.push(parseEntry(name, value, dataSize, file));
  }
  checkOverlaps(entries, file);
  return { headerLength, dataStart, dataSize, metadata, entries };
}

/** Parses the header of a complete in-memory safetensors file. */
export function parseSafetensorsHeader(bytes: Uint8Array, file = 'buffer'): SafetensorsHeader {
  const n = readHeaderLength(bytes, bytes.length, file);
  return parseHeader(bytes.subarray(HEADER_PREFIX_BYTES, HEADER_PREFIX_BYTES + n), bytes.length, file);
}

function parseMetadata(value: unknown, file: string): Record<string, string> {
  if (!isPlainObject(value)) {
    throw new SafetensorsFormatError(file, `'__metadata__' must be an object of strings, got ${describe(value)}`);
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new SafetensorsFormatError(file, `'__metadata__.${clip(k)}' must be a string, got ${describe(v)}`);
    }
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>; // defines '__proto__' as a plain key
}

function parseEntry(name: string, value: unknown, dataSize: number, file: string): SafetensorsEntry {
  const bad = (reason: string) => new SafetensorsFormatError(file, `tensor '${clip(name)}': ${reason}`);
  if (!isPlainObject(value)) throw bad(`entry must be an object, got ${describe(value)}`);

  const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (dtype === undefined) throw bad(`missing 'dtype'`);
  if (typeof dtype !== 'string') throw bad(`'dtype' must be a string, got ${describe(dtype)}`);
  if (!isSafetensorsDtype(dtype)) throw bad(`unknown dtype '${dtype}'`);

  if (shape === undefined) throw bad(`missing 'shape'`);
  if (!Array.isArray(shape)) throw bad(`'shape' must be an array, got ${describe(shape)}`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i] as unknown;
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw bad(`shape[${i}] must be a non-negative integer, got ${describe(d)} (shape ${brief(shape)})`);
    }
  }

  if (offsets === undefined) throw bad(`missing 'data_offsets'`);
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw bad(`'data_offsets' must be an array of 2 integers, got ${describe(offsets)}`);
  }
  for (const o of offsets as unknown[]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      throw bad(`'data_offsets' must be non-negative integers, got ${brief(offsets as unknown[])}`);
    }
  }
  const begin = (offsets[0] as number) + 0; // + 0 turns -0 into 0
  const end = (offsets[1] as number) + 0;
  if (begin > end) throw bad(`data_offsets [${begin}, ${end}] are reversed`);
  if (end > dataSize) {
    throw bad(`data_offsets [${begin}, ${end}] lie outside the data section (${dataSize} bytes)`);
  }

  const dims = (shape as number[]).map((d) => d + 0);
  let numel = 1;
  for (const d of dims) numel *= d;
  const expected = numel * DTYPE_SIZES[dtype];
  if (!Number.isSafeInteger(expected)) throw bad(`shape ${brief(dims)} has too many elements`);
  if (end - begin !== expected) {
    throw bad(
      `byte span ${end - begin} (data_offsets [${begin}, ${end}]) does not match shape ${brief(dims)} ` +
        `× ${DTYPE_SIZES[dtype]} bytes (${dtype}) = ${expected}`,
    );
  }
  return { name, dtype, shape: dims, dataOffsets: [begin, end] };
}

/** Non-empty spans must not share a byte. Gaps and trailing bytes are allowed. */
function checkOverlaps(entries: SafetensorsEntry[], file: string): void {
  const spans = entries.filter((e) => e.dataOffsets[1] > e.dataOffsets[0]);
  spans.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur.dataOffsets[0] < prev.dataOffsets[1]) {
      throw new SafetensorsFormatError(
        file,
        `tensors '${clip(prev.name)}' [${prev.dataOffsets.join(', ')}] and '${clip(cur.name)}' ` +
          `[${cur.dataOffsets.join(', ')}] overlap`,
      );
    }
  }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A name as error messages show it: a 70 000-character key is cut, not printed whole. */
function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 120)}...(${s.length} characters)` : s;
}
