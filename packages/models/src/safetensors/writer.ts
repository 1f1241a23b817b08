/**
 * Serialises tensors into the safetensors format, laid out as the reference Python implementation does:
 * tensors sorted by element size (largest first) then name, packed without gaps, and the header padded with
 * spaces so that the data section starts on an 8-byte boundary (every tensor is then aligned to its element size).
 */
import { ParameterError } from '@sd-webgpu/tensor';
import { DTYPE_SIZES, f32ArrayToBf16, f32ArrayToF16, f64ArrayToF16, isSafetensorsDtype, type SafetensorsDtype } from './dtype.js';
import { HEADER_PREFIX_BYTES } from './header.js';

export interface TensorToWrite {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /**
   * Float32Array, Float64Array or number[]: *values*, encoded into `dtype` (rounded to nearest even for F16/BF16).
   * bigint[]: values for I64/U64.
   * Any other typed array (Uint8Array, Uint16Array of f16 bits, Int32Array, BigInt64Array, ...): the raw
   * little-endian bytes, whose byteLength must be numel × element size.
   */
  data: ArrayBufferView | readonly number[] | readonly bigint[];
}

const WHERE = 'serializeSafetensors';

export function serializeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  const names = Object.keys(tensors);
  for (const name of names) {
    if (name === '__metadata__') throw new ParameterError(WHERE, name, 'is reserved for metadata');
    const t = tensors[name]!;
    if (!isSafetensorsDtype(t.dtype)) throw new ParameterError(WHERE, `${name}.dtype`, `unknown dtype '${String(t.dtype)}'`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ParameterError(WHERE, `${name}.shape`, `must be non-negative integers, got [${t.shape.join(', ')}]`);
    }
  }
  const ordered = [...names].sort((a, b) => {
    const d = DTYPE_SIZES[tensors[b]!.dtype] - DTYPE_SIZES[tensors[a]!.dtype];
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });

  const chunks: Uint8Array[] = [];
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new ParameterError(WHERE, `metadata.${k}`, `must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of ordered) {
    const t = tensors[name]!;
    const bytes = encode(name, t);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }

  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((HEADER_PREFIX_BYTES + json.length) / 8) * 8 - HEADER_PREFIX_BYTES;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(HEADER_PREFIX_BYTES + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, HEADER_PREFIX_BYTES);
  let at = HEADER_PREFIX_BYTES + json.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function encode(name: string, t: TensorToWrite): Uint8Array {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const size = DTYPE_SIZES[t.dtype];
  const data = t.data;
  const isValues = data instanceof Float32Array || data instanceof Float64Array || Array.isArray(data);
  if (!isValues) {
    const v = data as ArrayBufferView;
    if (v.byteLength !== numel * size) {
      throw new ParameterError(
        WHERE,
        `${name}.data`,
        `has ${v.byteLength} bytes, expected ${numel * size} (shape [${t.shape.join(', ')}] × ${size} bytes of ${t.dtype})`,
      );
    }
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
  }
  const values = data as Float32Array | Float64Array | readonly number[] | readonly bigint[];
  if (values.length !== numel) {
    throw new ParameterError(WHERE, `${name}.data`, `has ${values.length} values, expected ${numel} for shape [${t.shape.join(', ')}]`);
  }
  const asNumbers = () => {
    if (values.length > 0 && typeof values[0] === 'bigint') {
      throw new ParameterError(WHERE, `${name}.data`, `bigint values need dtype I64 or U64, not ${t.dtype}`);
    }
    return values as ArrayLike<number>;
  };
  const asBigints = (): bigint[] => Array.from(values as ArrayLike<number | bigint>, (v) => BigInt(v));
  switch (t.dtype) {
    case 'F64':
      return bytesOf(Float64Array.from(asNumbers()));
    case 'F32':
      return bytesOf(Float32Array.from(asNumbers()));
    case 'F16':
      return bytesOf(values instanceof Float32Array ? f32ArrayToF16(values) : f64ArrayToF16(Float64Array.from(asNumbers())));
    case 'BF16':
      return bytesOf(f32ArrayToBf16(Float32Array.from(asNumbers())));
    case 'I64':
      return bytesOf(BigInt64Array.from(asBigints()));
    case 'U64':
      return bytesOf(BigUint64Array.from(asBigints()));
    case 'I32':
      return bytesOf(Int32Array.from(asNumbers()));
    case 'U32':
      return bytesOf(Uint32Array.from(asNumbers()));
    case 'I16':
      return bytesOf(Int16Array.from(asNumbers()));
    case 'U16':
      return bytesOf(Uint16Array.from(asNumbers()));
    case 'I8':
      return bytesOf(Int8Array.from(asNumbers()));
    case 'U8':
      return bytesOf(Uint8Array.from(asNumbers()));
    case 'BOOL':
      return Uint8Array.from(asNumbers(), (v) => (v ? 1 : 0));
  }
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
