import { describe, expect, it } from 'vitest';
import {
  MAX_HEADER_BYTES,
  MemorySource,
  SafetensorsFile,
  SafetensorsFormatError,
  findDuplicateKey,
} from '../../packages/models/src/safetensors';
import { SdError } from '@sd-webgpu/tensor';
import { rawFile, rawFileFromHeader } from './util';

async function rejectsWith(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  let err: unknown;
  try {
    await SafetensorsFile.open(new MemorySource(bytes, 'bad.safetensors'));
  } catch (e) {
    err = e;
  }
  expect(err, `expected a SafetensorsFormatError matching ${pattern}`).toBeInstanceOf(SafetensorsFormatError);
  expect(err).toBeInstanceOf(SdError);
  expect((err as Error).message).toMatch(/^invalid safetensors file 'bad\.safetensors': /);
  expect((err as Error).message).toMatch(pattern);
}

const f32 = (begin: number, end: number, shape: number[] = [(end - begin) / 4]) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});

describe('safetensors validation', () => {
  it('accepts a minimal valid file (the baseline the cases below break)', async () => {
    const st = await SafetensorsFile.open(new MemorySource(rawFileFromHeader({ x: f32(0, 8) }, 8)));
    expect(st.keys()).toEqual(['x']);
    const empty = await SafetensorsFile.open(new MemorySource(rawFile('{}')));
    expect(empty.keys()).toEqual([]);
  });

  it('rejects files too small for the length prefix', async () => {
    await rejectsWith(new Uint8Array(0), /0 bytes, too small/);
    await rejectsWith(new Uint8Array(7), /7 bytes, too small/);
  });

  it('rejects header lengths beyond the file or the 100 MB limit', async () => {
    await rejectsWith(rawFile('{}', new Uint8Array(0), 1n), /not valid JSON/); // shorter than the text: the header is '{'
    await rejectsWith(rawFile('{}', new Uint8Array(0), 3n), /header length 3 runs past the end of the file \(2 bytes/);
    await rejectsWith(rawFile('{}', new Uint8Array(0), 100n), /header length 100 runs past/);
    await rejectsWith(rawFile('{}', new Uint8Array(0), BigInt(MAX_HEADER_BYTES + 1)), /exceeds the 104857600-byte limit/);
    await rejectsWith(rawFile('{}', new Uint8Array(0), 2n ** 64n - 1n), /exceeds the .*limit/);
    await rejectsWith(rawFile('{}', new Uint8Array(0), 2n ** 32n), /exceeds the .*limit/);
  });

  it('rejects invalid UTF-8 and invalid JSON', async () => {
    const bytes = rawFile('{"a":1}');
    bytes[10] = 0xff;
    await rejectsWith(bytes, /not valid UTF-8/);
    await rejectsWith(rawFile('{"x": '), /not valid JSON/);
    await rejectsWith(rawFile(''), /not valid JSON/);
  });

  it('rejects headers that are not objects', async () => {
    await rejectsWith(rawFile('[]'), /must be a JSON object, got array/);
    await rejectsWith(rawFile('null'), /must be a JSON object, got null/);
    await rejectsWith(rawFile('"x"'), /must be a JSON object, got string/);
    await rejectsWith(rawFile('42'), /must be a JSON object, got number 42/);
  });

  it('rejects entries with missing fields or wrong types', async () => {
    const one = (entry: unknown, data = 8) => rawFileFromHeader({ w: entry }, data);
    await rejectsWith(one(5), /tensor 'w': entry must be an object, got number/);
    await rejectsWith(one([1, 2]), /tensor 'w': entry must be an object, got array/);
    await rejectsWith(one({ shape: [2], data_offsets: [0, 8] }), /tensor 'w': missing 'dtype'/);
    await rejectsWith(one({ dtype: 4, shape: [2], data_offsets: [0, 8] }), /'dtype' must be a string, got number 4/);
    await rejectsWith(one({ dtype: 'F32', data_offsets: [0, 8] }), /missing 'shape'/);
    await rejectsWith(one({ dtype: 'F32', shape: 2, data_offsets: [0, 8] }), /'shape' must be an array, got number 2/);
    await rejectsWith(one({ dtype: 'F32', shape: [2] }), /missing 'data_offsets'/);
    await rejectsWith(one({ dtype: 'F32', shape: [2], data_offsets: [0] }), /'data_offsets' must be an array of 2/);
    await rejectsWith(one({ dtype: 'F32', shape: [2], data_offsets: '0-8' }), /'data_offsets' must be an array of 2/);
    await rejectsWith(one({ dtype: 'F32', shape: [2], data_offsets: [0, '8'] }), /non-negative integers, got \[0,"8"\]/);
    await rejectsWith(one({ dtype: 'F32', shape: [2], data_offsets: [-8, 0] }), /non-negative integers/);
    await rejectsWith(one({ dtype: 'F32', shape: [2], data_offsets: [0.5, 8.5] }), /non-negative integers/);
  });

  it('rejects shapes that are not non-negative integers', async () => {
    const one = (shape: unknown) => rawFileFromHeader({ w: { dtype: 'F32', shape, data_offsets: [0, 8] } }, 8);
    await rejectsWith(one([-2]), /shape\[0\] must be a non-negative integer, got number -2/);
    await rejectsWith(one([2.5]), /shape\[0\] must be a non-negative integer/);
    await rejectsWith(one([1, '2']), /shape\[1\] must be a non-negative integer, got string "2"/);
    await rejectsWith(one([null]), /shape\[0\] .*got null/);
    await rejectsWith(one([2 ** 60]), /shape\[0\] must be a non-negative integer/);
    await rejectsWith(rawFile('{"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,8]}}', new Uint8Array(8)), /shape\[0\]/);
  });

  it('rejects unknown dtypes', async () => {
    await rejectsWith(rawFileFromHeader({ w: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, 8), /unknown dtype 'F8_E4M3'/);
    await rejectsWith(rawFileFromHeader({ w: { dtype: 'f32', shape: [2], data_offsets: [0, 8] } }, 8), /unknown dtype 'f32'/);
  });

  it('rejects offsets outside the data section and reversed offsets', async () => {
    await rejectsWith(rawFileFromHeader({ w: f32(0, 12) }, 8), /data_offsets \[0, 12\] lie outside the data section \(8 bytes\)/);
    await rejectsWith(rawFileFromHeader({ w: { dtype: 'F32', shape: [0], data_offsets: [9, 9] } }, 8), /outside the data section/);
    await rejectsWith(rawFileFromHeader({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8), /\[8, 0\] are reversed/);
  });

  it('rejects byte spans that disagree with shape × dtype size', async () => {
    await rejectsWith(
      rawFileFromHeader({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 16),
      /byte span 8 .* shape \[3\] × 4 bytes \(F32\) = 12/,
    );
    await rejectsWith(rawFileFromHeader({ w: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 6] } }, 16), /= 12/);
    await rejectsWith(
      rawFileFromHeader({ w: { dtype: 'F64', shape: [2 ** 40, 2 ** 20], data_offsets: [0, 8] } }, 8),
      /too many elements/,
    );
    await rejectsWith(rawFileFromHeader({ w: { dtype: 'U8', shape: [], data_offsets: [0, 0] } }, 8), /byte span 0 .* = 1/);
  });

  it('rejects overlapping tensors', async () => {
    await rejectsWith(rawFileFromHeader({ a: f32(0, 8), b: f32(4, 12) }, 12), /tensors 'a' \[0, 8\] and 'b' \[4, 12\] overlap/);
    await rejectsWith(rawFileFromHeader({ a: f32(0, 16), b: f32(4, 8) }, 16), /overlap/);
    await rejectsWith(rawFileFromHeader({ a: f32(0, 8), b: f32(0, 8) }, 8), /overlap/);
    await rejectsWith(rawFileFromHeader({ c: f32(20, 24), a: f32(0, 16), b: f32(16, 24) }, 24), /'b' \[16, 24\] and 'c' \[20, 24\]/);
  });

  it('rejects duplicate tensor names (which JSON.parse would silently merge)', async () => {
    const data = new Uint8Array(16);
    await rejectsWith(
      rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', data),
      /duplicate key 'a'/,
    );
    await rejectsWith(
      rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"\\u0061":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', data),
      /duplicate key 'a'/,
    );
    await rejectsWith(rawFile('{"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}', data), /duplicate key 'dtype' inside 'a'/);
    await rejectsWith(rawFile('{"__metadata__":{"k":"1","k":"2"}}'), /duplicate key 'k' inside '__metadata__'/);
  });

  it('rejects headers nested deeper than the limit by name, however deep (no stack overflow)', async () => {
    for (const depth of [17, 5000, 200_000]) {
      await rejectsWith(rawFile('['.repeat(depth) + ']'.repeat(depth)), /nests arrays\/objects more than 16 levels deep/);
      await rejectsWith(rawFile(`{"x":{"dtype":"F32","shape":${'['.repeat(depth)}`), /more than 16 levels deep/); // unclosed
    }
    // a shallow but long non-object is described briefly
    await rejectsWith(rawFile(JSON.stringify(Array(100_000).fill([1]))), /header must be a JSON object, got array \[\[\.\.\.\],\[\.\.\.\],.*,\.\.\.\]$/);
  });

  it('reads odd tensor and metadata names as plain keys; a 70 000-character name is cut in messages', async () => {
    const names = ['__proto__', 'constructor', 'a\u0000b', '\ud800', '宇宙😀'];
    const header = Object.fromEntries(names.map((n, i) => [n, f32(i * 4, i * 4 + 4)]));
    const text = JSON.stringify(header).slice(0, -1) + ',"__metadata__":{"__proto__":"p","hasOwnProperty":"h"}}';
    const st = await SafetensorsFile.open(new MemorySource(rawFile(text, new Uint8Array(20))));
    expect(st.keys()).toEqual(names);
    expect(Object.entries(st.metadata)).toEqual([['__proto__', 'p'], ['hasOwnProperty', 'h']]);
    const long = 'x'.repeat(70_000);
    let err: Error | undefined;
    await SafetensorsFile.open(new MemorySource(rawFileFromHeader({ [long]: f32(0, 8, [3]) }, 8))).catch((e: Error) => (err = e));
    expect(err).toBeInstanceOf(SafetensorsFormatError);
    expect(err!.message).toMatch(/tensor 'x{120}\.\.\.\(70000 characters\)': byte span/);
    expect(err!.message.length).toBeLessThan(400);
  });

  it('rejects malformed __metadata__', async () => {
    await rejectsWith(rawFile('{"__metadata__":[1]}'), /'__metadata__' must be an object of strings, got array/);
    await rejectsWith(rawFile('{"__metadata__":{"n":1}}'), /'__metadata__\.n' must be a string, got number 1/);
  });

  it('findDuplicateKey handles strings, escapes and nesting', () => {
    expect(findDuplicateKey('{"a":"{\\"a\\":1,\\"a\\":2}","b":[{"x":1},{"x":2}]}')).toBeUndefined();
    expect(findDuplicateKey('{"a\\\\":1,"a\\\\":2}')).toEqual({ key: 'a\\', path: [] });
    expect(findDuplicateKey('{"o":{"p":[{"q":1,"q":2}]}}')).toEqual({ key: 'q', path: ['o', 'p'] });
    expect(findDuplicateKey('{"a":1,"b":{"a":2}}')).toBeUndefined();
  });
});
