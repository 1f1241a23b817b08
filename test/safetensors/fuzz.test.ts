// Fuzz: thousands of mutated and truncated files thrown at the reader. Each one must either parse and then read
// every tensor consistently (in bounds, right length, same bytes as the file), or be rejected with
// SafetensorsFormatError. Any other error type, or a hang, fails the test.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DTYPE_SIZES,
  MemorySource,
  SafetensorsFile,
  SafetensorsFormatError,
  isFloatDtype,
  serializeSafetensors,
} from '../../packages/models/src/safetensors';
import { fixturePath } from '../helpers/fixtures';
import { mulberry32, rawFile } from './util';

// Override for longer local runs: SAFETENSORS_FUZZ_ITERATIONS=100000 SAFETENSORS_FUZZ_SEED=7 npx vitest run test/safetensors/fuzz
const ITERATIONS = Number(process.env.SAFETENSORS_FUZZ_ITERATIONS ?? 3000);
const SEED = Number(process.env.SAFETENSORS_FUZZ_SEED ?? 0x5afe7e45);

const dec = new TextDecoder();

function baseFiles(): Uint8Array[] {
  return [
    serializeSafetensors(
      {
        a: { dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
        b: { dtype: 'F16', shape: [4], data: [1, -1, 0.5, 2] },
        c: { dtype: 'I64', shape: [], data: [3n] },
        d: { dtype: 'BF16', shape: [0, 3], data: [] },
        e: { dtype: 'U8', shape: [5], data: [1, 2, 3, 4, 5] },
      },
      { op: 'fuzz', attrs: '{"k":1}' },
    ),
    serializeSafetensors({
      x: { dtype: 'F64', shape: [3], data: [1, 2, 3] },
      y: { dtype: 'BOOL', shape: [2, 2], data: [1, 0, 0, 1] },
      z: { dtype: 'I16', shape: [3], data: [-1, 0, 1] },
      w: { dtype: 'U32', shape: [1, 1, 2], data: [9, 10] },
    }),
    new Uint8Array(readFileSync(fixturePath('ops/matmul_7x13x5.safetensors'))),
    new Uint8Array(readFileSync(fixturePath('rng/sequence.safetensors'))),
  ];
}

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;

function headerOf(bytes: Uint8Array): { text: string; json: Record<string, any>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = dec.decode(bytes.subarray(8, 8 + n));
  return { text, json: JSON.parse(text), data: bytes.subarray(8 + n) };
}

const WEIRD_VALUES: unknown[] = [-1, 0, 1, 2, 7, 8, 1e6, 2 ** 53, 2 ** 64, -0, 1.5, '3', null, true, [], {}, [1, 2, 3], 1e308];
const DTYPES = [...Object.keys(DTYPE_SIZES), 'F8_E5M2', 'f32', '', 'I4', 'COMPLEX64'];

/** Mutates one entry (or the metadata) of the header object. */
function mutateJson(rng: Rng, json: Record<string, any>): void {
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  const name = names.length ? pick(rng, names) : 'new';
  // Earlier rounds may have replaced the entry by a non-object: start over from a plausible one then.
  const fresh = () => ({ dtype: 'F32', shape: [1], data_offsets: [0, 4] });
  let entry = json[name];
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) entry = json[name] = fresh();
  switch (int(rng, 13)) {
    case 0:
      entry.data_offsets = [pick(rng, WEIRD_VALUES), pick(rng, WEIRD_VALUES)];
      break;
    case 1: {
      const offs = Array.isArray(entry.data_offsets) && entry.data_offsets.length === 2 ? entry.data_offsets : [0, 4];
      const [b, e] = offs as [number, number];
      const delta = pick(rng, [-8, -4, -2, -1, 1, 2, 4, 8]);
      entry.data_offsets = rng() < 0.5 ? [b + delta, e] : rng() < 0.5 ? [b, e + delta] : [e, b];
      break;
    }
    case 2:
      entry.shape = Array.isArray(entry.shape) && rng() < 0.6
        ? [...entry.shape.slice(0, int(rng, entry.shape.length + 1)), pick(rng, WEIRD_VALUES)]
        : pick(rng, WEIRD_VALUES);
      break;
    case 3:
      entry.shape = Array.isArray(entry.shape) ? entry.shape.slice(1) : [];
      break;
    case 4:
      entry.dtype = pick(rng, DTYPES);
      break;
    case 5:
      delete entry[pick(rng, ['dtype', 'shape', 'data_offsets'])];
      break;
    case 6:
      json[name] = pick(rng, WEIRD_VALUES);
      break;
    case 7:
      json.__metadata__ = rng() < 0.5 ? { k: pick(rng, WEIRD_VALUES) } : pick(rng, WEIRD_VALUES);
      break;
    case 8: {
      // Point this entry at another tensor's bytes (overlap) or past the end.
      const other = json[pick(rng, names.length ? names : ['new'])];
      if (other && typeof other === 'object' && Array.isArray(other.data_offsets)) entry.data_offsets = [...other.data_offsets];
      break;
    }
    case 9:
      // Valid reshape: same element count.
      if (Array.isArray(entry.shape)) entry.shape = rng() < 0.5 ? [entry.shape.reduce((a: number, b: number) => a * b, 1)] : [1, ...entry.shape];
      break;
    case 10: {
      // Valid dtype swap: same element size.
      const size = DTYPE_SIZES[entry.dtype as keyof typeof DTYPE_SIZES];
      const same = Object.keys(DTYPE_SIZES).filter((d) => DTYPE_SIZES[d as keyof typeof DTYPE_SIZES] === size);
      if (same.length) entry.dtype = pick(rng, same);
      break;
    }
    case 11:
      json.__metadata__ = { ...(typeof json.__metadata__ === 'object' ? json.__metadata__ : {}), note: String(rng()) };
      break;
    default:
      json[`${name}_copy`] = { ...entry };
  }
}

const MUTATIONS = [
  'length', 'headerBytes', 'anyBytes', 'truncate', 'json', 'json', 'duplicate', 'escapedDuplicate', 'trailing', 'insert', 'deep', 'oddKey',
] as const;
type Mutation = (typeof MUTATIONS)[number];

/** `depth` nested arrays or objects around `inner` (optionally left unclosed), as JSON text. */
function nested(rng: Rng, depth: number, inner: string): string {
  const obj = rng() < 0.5;
  const open = obj ? '{"a":' : '[';
  const close = rng() < 0.2 ? '' : obj ? '}' : ']';
  return open.repeat(depth) + inner + close.repeat(depth);
}

/** Keys that have broken readers: prototype names, NUL, lone surrogates, astral characters, 70 000 characters. */
const ODD_KEYS = ['__proto__', 'constructor', 'hasOwnProperty', 'a\u0000b', '\ud800', '宇宙😀', '\u00e9', '', 'x'.repeat(70_000)];

/** Every escape of a key's characters that JSON.parse reads as the same key. */
const escapeAll = (key: string) => [...key].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

function mutate(rng: Rng, base: Uint8Array): { bytes: Uint8Array; kind: Mutation } {
  const kind = pick(rng, MUTATIONS);
  const bytes = base.slice();
  const { text, json, data } = headerOf(base);
  switch (kind) {
    case 'length': {
      const flips = 1 + int(rng, 3);
      for (let i = 0; i < flips; i++) bytes[int(rng, 8)] ^= 1 << int(rng, 8);
      return { bytes, kind };
    }
    case 'headerBytes': {
      const flips = 1 + int(rng, 4);
      for (let i = 0; i < flips; i++) bytes[8 + int(rng, text.length)] = int(rng, 256);
      return { bytes, kind };
    }
    case 'anyBytes': {
      for (let i = 0; i < 1 + int(rng, 4); i++) bytes[int(rng, bytes.length)] ^= 1 << int(rng, 8);
      return { bytes, kind };
    }
    case 'truncate':
      return { bytes: bytes.subarray(0, int(rng, bytes.length)), kind };
    case 'json': {
      const rounds = 1 + int(rng, 3);
      for (let i = 0; i < rounds; i++) mutateJson(rng, json);
      const keepLength = rng() < 0.1;
      return { bytes: rawFile(JSON.stringify(json), data, keepLength ? BigInt(text.length) : undefined), kind };
    }
    case 'duplicate': {
      const names = Object.keys(json);
      const name = pick(rng, names);
      const dupText = text.replace('{', `{${JSON.stringify(name)}:${JSON.stringify(json[name])},`);
      return { bytes: rawFile(dupText, data), kind };
    }
    case 'escapedDuplicate': {
      const names = Object.keys(json);
      const name = pick(rng, names);
      const dupText = text.replace('{', `{"${escapeAll(name)}":${JSON.stringify(json[name])},`);
      return { bytes: rawFile(dupText, data), kind };
    }
    case 'deep': {
      // Up to 100 000 levels, in place of the header, a shape, a metadata value or an offset.
      const depth = pick(rng, [2, 40, 1000, 5000, 20_000, 100_000]);
      const names = Object.keys(json).filter((k) => k !== '__metadata__');
      const name = JSON.stringify(pick(rng, names.length ? names : ['t']));
      const where = int(rng, 4);
      const inner = nested(rng, depth, pick(rng, ['1', '[]', '{}', '"s"', '']));
      const mutated = where === 0 ? inner
        : where === 1 ? text.replace(/^\{/, `{"__metadata__":{"k":${inner}},`)
        : `{${name}:{"dtype":"F32","shape":${where === 2 ? inner : '[1]'},"data_offsets":${where === 3 ? inner : '[0,4]'}}}`;
      return { bytes: rawFile(mutated, data), kind };
    }
    case 'oddKey': {
      // Rename a tensor or add a metadata key.
      const key = pick(rng, ODD_KEYS);
      const names = Object.keys(json).filter((k) => k !== '__metadata__');
      const mutated = rng() < 0.5 && names.length
        ? text.replace(JSON.stringify(pick(rng, names)) + ':', `"${key}":`)
        : text.replace(/^\{/, `{"__metadata__":{"${key}":"v"},`);
      return { bytes: rawFile(mutated, data), kind };
    }
    case 'trailing': {
      const extra = new Uint8Array(1 + int(rng, 64)).map(() => int(rng, 256));
      const out = new Uint8Array(bytes.length + extra.length);
      out.set(bytes);
      out.set(extra, bytes.length);
      return { bytes: out, kind };
    }
    case 'insert': {
      const at = int(rng, text.length);
      const junk = pick(rng, ['"', '}', '{', ',', ':', '[', ']', '\\', '0', '-', ' ', '\u00e9', '\ud83d\ude00', 'null']);
      return { bytes: rawFile(text.slice(0, at) + junk + text.slice(at), data), kind };
    }
  }
}

/** Reads every tensor and checks it against the file bytes. Returns normally or throws. */
async function readAll(bytes: Uint8Array): Promise<void> {
  const st = await SafetensorsFile.open(new MemorySource(bytes, 'fuzz'));
  const dataEnd = bytes.length;
  for (const [name, e] of st.entries) {
    if (!e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`accepted shape ${JSON.stringify(e.shape)}`);
    const numel = e.shape.reduce((a, b) => a * b, 1);
    const size = DTYPE_SIZES[e.dtype];
    if (e.byteLength !== numel * size) throw new Error(`inconsistent entry ${name}`);
    if (e.byteOffset < st.header.dataStart || e.byteOffset + e.byteLength > dataEnd) throw new Error(`out of bounds ${name}`);
    const raw = await st.readRaw(name);
    if (raw.length !== e.byteLength) throw new Error(`raw length of ${name}`);
    const expected = bytes.subarray(e.byteOffset, e.byteOffset + e.byteLength);
    for (let i = 0; i < raw.length; i++) if (raw[i] !== expected[i]) throw new Error(`raw bytes of ${name}`);
    const typed = await st.readTyped(name);
    if (typed.length !== numel) throw new Error(`typed length of ${name}`);
    if (isFloatDtype(e.dtype)) {
      if ((await st.readFloat32(name)).length !== numel) throw new Error(`f32 length of ${name}`);
      if ((await st.readFloat16Bits(name)).length !== numel) throw new Error(`f16 length of ${name}`);
    }
    let streamed = 0;
    await st.readChunks(name, 5, (chunk, off) => {
      if (off !== streamed) throw new Error(`chunk offset of ${name}`);
      streamed += chunk.length;
    });
    if (streamed !== e.byteLength) throw new Error(`streamed length of ${name}`);
  }
  // Independent overlap check of the accepted spans.
  const spans = [...st.entries.values()].filter((e) => e.byteLength > 0).sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]!.byteOffset < spans[i - 1]!.byteOffset + spans[i - 1]!.byteLength) throw new Error('accepted overlap');
  }
}

describe('safetensors fuzz', () => {
  it(`${ITERATIONS} mutated files: parse consistently or throw SafetensorsFormatError`, async () => {
    const rng = mulberry32(SEED);
    const bases = baseFiles();
    const outcomes: Record<string, { ok: number; rejected: number }> = {};
    const t0 = performance.now();
    for (let i = 0; i < ITERATIONS; i++) {
      const { bytes, kind } = mutate(rng, pick(rng, bases));
      const o = (outcomes[kind] ??= { ok: 0, rejected: 0 });
      try {
        await readAll(bytes);
        o.ok++;
        if (kind === 'duplicate' || kind === 'escapedDuplicate') throw new Error('a header with a duplicate key was accepted');
      } catch (e) {
        if (!(e instanceof SafetensorsFormatError)) {
          const hex = Buffer.from(bytes.subarray(0, 200)).toString('hex');
          throw new Error(`iteration ${i} (${kind}): ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\nfirst bytes: ${hex}`);
        }
        o.rejected++;
      }
    }
    const elapsed = performance.now() - t0;
    if (process.env.SAFETENSORS_FUZZ_VERBOSE) console.log(outcomes, `${elapsed.toFixed(0)} ms`);
    expect(elapsed).toBeLessThan(20_000 * Math.max(1, ITERATIONS / 3000));
    // Not vacuous: every kind of mutation ran, and both outcomes occur.
    const total = Object.values(outcomes).reduce((a, o) => ({ ok: a.ok + o.ok, rejected: a.rejected + o.rejected }), { ok: 0, rejected: 0 });
    expect(Object.keys(outcomes).sort()).toEqual([...new Set(MUTATIONS)].sort());
    expect(total.ok + total.rejected).toBe(ITERATIONS);
    expect(total.ok).toBeGreaterThan(ITERATIONS / 10);
    expect(total.rejected).toBeGreaterThan(ITERATIONS / 4);
    expect(outcomes.duplicate!.ok).toBe(0);
    expect(outcomes.escapedDuplicate!.ok).toBe(0);
    expect(outcomes.deep!.ok).toBe(0); // nothing valid is nested deeper than 3
    expect(outcomes.oddKey!.ok).toBeGreaterThan(0); // odd but valid names are read like any other
    expect(outcomes.trailing!.rejected).toBe(0); // trailing bytes are allowed
    expect(outcomes.json!.ok).toBeGreaterThan(0);
    expect(outcomes.json!.rejected).toBeGreaterThan(0);
  }, 30_000 * Math.max(1, ITERATIONS / 3000));

  it('every truncation of a valid file is rejected', async () => {
    const file = baseFiles()[0]!;
    for (let n = 0; n < file.length; n++) {
      await expect(readAll(file.subarray(0, n)), `truncated to ${n}`).rejects.toBeInstanceOf(SafetensorsFormatError);
    }
    await readAll(file);
  });

  it('a header-length flip to a huge value is rejected without allocating it', async () => {
    const file = baseFiles()[0]!.slice();
    file[5] = 0x7f; // ~2^47 bytes
    await expect(readAll(file)).rejects.toThrow(/exceeds the .*limit/);
  });
});
