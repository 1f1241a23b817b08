import { describe, expect, it } from 'vitest';
import {
  MemorySource,
  SafetensorsFile,
  SafetensorsKeyError,
  f16ToF32,
  f32ToF16,
  openSafetensors,
  parseSafetensorsHeader,
  serializeSafetensors,
  type SafetensorsDtype,
} from '../../packages/models/src/safetensors';
import { UnsupportedError, ParameterError } from '@sd-webgpu/tensor';
import { rawFileFromHeader } from './util';

const open = (bytes: Uint8Array) => SafetensorsFile.open(new MemorySource(bytes, 'test.safetensors'));

describe('serializeSafetensors → SafetensorsFile round trip', () => {
  it('keeps every dtype, shape and value', async () => {
    const bytes = serializeSafetensors(
      {
        f64: { dtype: 'F64', shape: [3], data: [1.5, -2.25, 1e300] },
        f32: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, -2, 3.5, 0.1]) },
        f16: { dtype: 'F16', shape: [3], data: [1, 0.333251953125, -65504] },
        bf16: { dtype: 'BF16', shape: [2], data: [1, -3.140625] },
        i64: { dtype: 'I64', shape: [3], data: [-(2n ** 62n), 0n, 2n ** 62n] },
        u64: { dtype: 'U64', shape: [1], data: [2n ** 64n - 1n] },
        i32: { dtype: 'I32', shape: [2], data: [-2147483648, 2147483647] },
        u32: { dtype: 'U32', shape: [1], data: [4294967295] },
        i16: { dtype: 'I16', shape: [2], data: [-32768, 32767] },
        u16: { dtype: 'U16', shape: [1], data: [65535] },
        i8: { dtype: 'I8', shape: [2], data: [-128, 127] },
        u8: { dtype: 'U8', shape: [2, 1], data: new Uint8Array([0, 255]) },
        bool: { dtype: 'BOOL', shape: [3], data: [1, 0, 1] },
        scalar: { dtype: 'F32', shape: [], data: [42] },
        empty: { dtype: 'F32', shape: [0, 5], data: [] },
      },
      { format: 'pt', note: 'ü' },
    );
    const st = await open(bytes);
    expect(st.metadata).toEqual({ format: 'pt', note: 'ü' });
    expect(st.keys().sort()).toEqual(
      ['bf16', 'bool', 'empty', 'f16', 'f32', 'f64', 'i16', 'i32', 'i64', 'i8', 'scalar', 'u16', 'u32', 'u64', 'u8'].sort(),
    );
    expect(st.has('f32')).toBe(true);
    expect(st.has('nope')).toBe(false);
    expect(st.entries.get('f32')).toMatchObject({ dtype: 'F32', shape: [2, 2], byteLength: 16 });

    expect(Array.from(await st.readTyped<'F64'>('f64'))).toEqual([1.5, -2.25, 1e300]);
    expect(Array.from(await st.readFloat32('f32'))).toEqual([1, -2, 3.5, Math.fround(0.1)]);
    expect(Array.from(await st.readFloat32('f16'))).toEqual([1, 0.333251953125, -65504]);
    expect(Array.from(await st.readFloat32('bf16'))).toEqual([1, -3.140625]);
    expect(Array.from(await st.readTyped<'I64'>('i64'))).toEqual([-(2n ** 62n), 0n, 2n ** 62n]);
    expect(Array.from(await st.readTyped<'U64'>('u64'))).toEqual([2n ** 64n - 1n]);
    expect(Array.from(await st.readTyped<'I32'>('i32'))).toEqual([-2147483648, 2147483647]);
    expect(Array.from(await st.readTyped<'U32'>('u32'))).toEqual([4294967295]);
    expect(Array.from(await st.readTyped<'I16'>('i16'))).toEqual([-32768, 32767]);
    expect(Array.from(await st.readTyped<'U16'>('u16'))).toEqual([65535]);
    expect(Array.from(await st.readTyped<'I8'>('i8'))).toEqual([-128, 127]);
    expect(Array.from(await st.readTyped<'U8'>('u8'))).toEqual([0, 255]);
    expect(Array.from(await st.readTyped<'BOOL'>('bool'))).toEqual([1, 0, 1]);
    expect(Array.from(await st.readFloat32('scalar'))).toEqual([42]);
    expect((await st.readFloat32('empty')).length).toBe(0);
    expect(Array.from(await st.readFloat32('f64'))).toEqual([1.5, -2.25, Infinity]);
  });

  it('lays data out like the Python writer: 8-byte aligned data section, sorted by element size then name, no gaps', () => {
    const bytes = serializeSafetensors({
      b: { dtype: 'F16', shape: [3], data: [1, 2, 3] },
      a: { dtype: 'F16', shape: [1], data: [1] },
      z: { dtype: 'F64', shape: [1], data: [1] },
      y: { dtype: 'U8', shape: [5], data: [1, 2, 3, 4, 5] },
    });
    const h = parseSafetensorsHeader(bytes);
    expect(h.dataStart % 8).toBe(0);
    const offsets = Object.fromEntries(h.entries.map((e) => [e.name, e.dataOffsets]));
    expect(offsets).toEqual({ z: [0, 8], a: [8, 10], b: [10, 16], y: [16, 21] });
    expect(h.dataSize).toBe(21);
  });

  it('converts floats to f16 bits with round-to-nearest-even', async () => {
    const values = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, -0, 1e-8, 0.1];
    const bytes = serializeSafetensors({
      f32: { dtype: 'F32', shape: [values.length], data: values },
      f64: { dtype: 'F64', shape: [values.length], data: values },
      bf16: { dtype: 'BF16', shape: [2], data: [1.5, -0.25] },
      f16: { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0x7bff]) },
    });
    const st = await open(bytes);
    const want = [0x3c00, 0x3c02, 0x7c00, 0x8000, 0x0000, 0x2e66];
    expect(Array.from(await st.readFloat16Bits('f32'))).toEqual(want);
    expect(Array.from(await st.readFloat16Bits('f64'))).toEqual(values.map(f32ToF16));
    expect(Array.from(await st.readFloat16Bits('bf16'))).toEqual([0x3e00, 0xb400]);
    expect(Array.from(await st.readFloat16Bits('f16'))).toEqual([0x3c00, 0x7bff]);
    expect(f16ToF32(0x2e66)).toBeCloseTo(0.1, 3);
  });

  it('streams a tensor in element-aligned chunks', async () => {
    const n = 1001;
    const data = Float32Array.from({ length: n }, (_, i) => i * 0.5 - 7);
    const st = await open(serializeSafetensors({ x: { dtype: 'F32', shape: [n], data } }));
    const pieces: number[][] = [];
    const offsets: number[] = [];
    await st.readChunks('x', 103, async (chunk, off) => {
      expect(chunk.length % 4).toBe(0);
      expect(chunk.length).toBeLessThanOrEqual(100);
      offsets.push(off);
      pieces.push(Array.from(new Float32Array(chunk.buffer, chunk.byteOffset, chunk.length / 4)));
    });
    expect(pieces.flat()).toEqual(Array.from(data));
    expect(offsets[1]).toBe(100);
    // maxBytes smaller than one element still makes progress, one element at a time.
    let calls = 0;
    await st.readChunks('x', 1, () => void calls++);
    expect(calls).toBe(n);
    await expect(st.readChunks('x', 0, () => {})).rejects.toBeInstanceOf(ParameterError);
  });

  it('reads tensors at unaligned data offsets', async () => {
    // Header of odd length, so the data section (and the F32 tensor) starts at an odd file offset.
    const data = new Uint8Array(9);
    new DataView(data.buffer).setFloat32(1, 3.25, true);
    new DataView(data.buffer).setFloat32(5, -1, true);
    const st = await open(rawFileFromHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [1, 9] } }, data));
    expect(st.header.dataStart % 4).not.toBe(0);
    expect(Array.from(await st.readFloat32('x'))).toEqual([3.25, -1]);
    expect(st.entries.get('x')!.byteOffset).toBe(st.header.dataStart + 1);
  });

  it('allows gaps and trailing bytes, and zero-size tensors anywhere', async () => {
    const data = new Uint8Array(32);
    data[4] = 7;
    data[20] = 9;
    const st = await open(
      rawFileFromHeader(
        {
          a: { dtype: 'U8', shape: [1], data_offsets: [4, 5] },
          b: { dtype: 'U8', shape: [1], data_offsets: [20, 21] },
          z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
        },
        data,
      ),
    );
    expect(Array.from(await st.readRaw('a'))).toEqual([7]);
    expect(Array.from(await st.readRaw('b'))).toEqual([9]);
    expect((await st.readRaw('z')).length).toBe(0);
  });

  it('reports missing keys and non-float reads with typed errors', async () => {
    const st = await open(serializeSafetensors({ ids: { dtype: 'I64', shape: [1], data: [5n] } }));
    await expect(st.readRaw('nope')).rejects.toBeInstanceOf(SafetensorsKeyError);
    await expect(st.readRaw('nope')).rejects.toThrow(/no tensor 'nope' \(has 'ids'\)/);
    await expect(st.readFloat32('ids')).rejects.toBeInstanceOf(UnsupportedError);
    await expect(st.readFloat16Bits('ids')).rejects.toThrow(/'ids'.*I64/);
  });

  it('writer rejects inconsistent input', () => {
    const bad = (t: Record<string, unknown>) => () => serializeSafetensors(t as never);
    expect(bad({ x: { dtype: 'F32', shape: [3], data: [1, 2] } })).toThrow(/x\.data.*2 values, expected 3/);
    expect(bad({ x: { dtype: 'F16', shape: [3], data: new Uint16Array(2) } })).toThrow(/4 bytes, expected 6/);
    expect(bad({ x: { dtype: 'Q4', shape: [1], data: [1] } })).toThrow(/unknown dtype 'Q4'/);
    expect(bad({ x: { dtype: 'F32', shape: [-1], data: [] } })).toThrow(/non-negative integers/);
    expect(bad({ __metadata__: { dtype: 'F32', shape: [], data: [1] } })).toThrow(/reserved/);
    expect(bad({ x: { dtype: 'F32', shape: [1], data: [1n] } })).toThrow(/bigint/);
  });

  it('openSafetensors accepts bytes, ArrayBuffer and ByteSource', async () => {
    const bytes = serializeSafetensors({ x: { dtype: 'F32', shape: [2], data: [1, 2] } });
    for (const input of [bytes, bytes.slice().buffer, new MemorySource(bytes)]) {
      const st = await openSafetensors(input);
      expect(Array.from(await st.readFloat32('x'))).toEqual([1, 2]);
    }
  });

  it('round-trips random tensors of every dtype', async () => {
    const dtypes: SafetensorsDtype[] = ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL', 'U16', 'U32', 'U64'];
    const sizes: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8 };
    const tensors: Record<string, { dtype: SafetensorsDtype; shape: number[]; data: Uint8Array }> = {};
    let seed = 12345;
    for (const [i, dtype] of dtypes.entries()) {
      const shape = [1 + (i % 3), 2 + i];
      const raw = new Uint8Array(shape[0]! * shape[1]! * sizes[dtype]);
      for (let k = 0; k < raw.length; k++) raw[k] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      if (dtype === 'BOOL') raw.forEach((v, k) => (raw[k] = v & 1));
      tensors[`t.${dtype}`] = { dtype, shape, data: raw };
    }
    const st = await open(serializeSafetensors(tensors));
    for (const [name, t] of Object.entries(tensors)) {
      expect(st.info(name).shape).toEqual(t.shape);
      expect(await st.readRaw(name)).toEqual(t.data);
    }
  });
});
