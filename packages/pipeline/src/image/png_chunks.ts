/**
 * PNG chunk plumbing: walking the chunk list, CRC-32, and the three text chunk kinds (tEXt, zTXt, iTXt).
 *
 * Layout (PNG spec §5.3): 8-byte signature, then chunks of `length:u32be, type:4 ASCII, data[length], crc:u32be`
 * where the CRC covers type + data. Text chunks (§11.3.4):
 *   tEXt: keyword(Latin-1, 1-79) NUL text(Latin-1)
 *   zTXt: keyword NUL method(0) zlib(text Latin-1)
 *   iTXt: keyword NUL flag(0|1) method(0) language NUL translated-keyword(UTF-8) NUL text(UTF-8, zlib when flag=1)
 *
 * Browser-safe (no Node modules): reading compressed text takes the inflate function from the caller (./png.ts
 * passes node:zlib's), so the page can write the `parameters` chunk with the same code as the CLI.
 */
import { ImageFormatError } from './errors.js';

export const PNG_SIGNATURE: readonly number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Bytes of a chunk around its data: length (4) + type (4) before, CRC (4) after. */
const CHUNK_HEADER = 8;
const CHUNK_CRC = 4;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309 / zlib polynomial) of `bytes`, as PNG chunks use it. */
export function crc32(bytes: Uint8Array, init = 0): number {
  let c = ~init >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export interface PngChunk {
  type: string;
  /** Offset of the chunk's length field in the file. */
  offset: number;
  /** The chunk's data (a view into the file bytes). */
  data: Uint8Array;
  /** Total bytes of the chunk including length, type and CRC. */
  size: number;
}

export function hasPngSignature(bytes: Uint8Array): boolean {
  return bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/**
 * Lists the chunks of a PNG up to and including IEND, checking lengths and CRCs.
 * Throws ImageFormatError (naming `source` and the chunk) on a bad signature, truncation or CRC mismatch.
 */
export function readChunks(bytes: Uint8Array, source = 'PNG data'): PngChunk[] {
  if (!hasPngSignature(bytes)) throw new ImageFormatError(source, 'not a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: PngChunk[] = [];
  let pos = PNG_SIGNATURE.length;
  while (pos < bytes.length) {
    if (pos + CHUNK_HEADER > bytes.length) {
      throw new ImageFormatError(source, `truncated chunk header at byte ${pos} (file has ${bytes.length} bytes)`);
    }
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + CHUNK_HEADER));
    if (!/^[A-Za-z]{4}$/.test(type)) throw new ImageFormatError(source, `invalid chunk type at byte ${pos}`);
    const end = pos + CHUNK_HEADER + length + CHUNK_CRC;
    if (end > bytes.length) {
      throw new ImageFormatError(source, `chunk ${type} at byte ${pos} declares ${length} data bytes but the file ends at ${bytes.length}`);
    }
    const stored = view.getUint32(end - CHUNK_CRC);
    const actual = crc32(bytes.subarray(pos + 4, end - CHUNK_CRC));
    if (stored !== actual) {
      throw new ImageFormatError(source, `chunk ${type} at byte ${pos} has CRC 0x${hex(stored)}, expected 0x${hex(actual)}`);
    }
    chunks.push({ type, offset: pos, data: bytes.subarray(pos + CHUNK_HEADER, end - CHUNK_CRC), size: end - pos });
    pos = end;
    if (type === 'IEND') break;
  }
  if (chunks[0]?.type !== 'IHDR') throw new ImageFormatError(source, 'first chunk is not IHDR');
  if (chunks[chunks.length - 1]!.type !== 'IEND') throw new ImageFormatError(source, 'missing IEND chunk (truncated file?)');
  return chunks;
}

/** Serialises one chunk (length, type, data, CRC). */
export function makeChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER + data.length + CHUNK_CRC);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, CHUNK_HEADER);
  view.setUint32(CHUNK_HEADER + data.length, crc32(out.subarray(4, CHUNK_HEADER + data.length)));
  return out;
}

/** A copy of `png` with `extra` chunks inserted right after IHDR. */
export function insertAfterIhdr(png: Uint8Array, extra: readonly Uint8Array[], source = 'PNG data'): Uint8Array {
  const ihdr = readChunks(png, source)[0]!;
  const at = ihdr.offset + ihdr.size;
  const total = png.length + extra.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(total);
  out.set(png.subarray(0, at), 0);
  let pos = at;
  for (const c of extra) {
    out.set(c, pos);
    pos += c.length;
  }
  out.set(png.subarray(at), pos);
  return out;
}

/**
 * A copy of `png` carrying the generation `parameters` text (see formatParameters) right after IHDR, as the CLI
 * writes it: a tEXt chunk when the text is Latin-1, otherwise an iTXt chunk with UTF-8 text.
 */
export function withParametersChunk(png: Uint8Array, parameters: string, source = 'PNG data'): Uint8Array {
  return insertAfterIhdr(png, [textChunk('parameters', parameters)], source);
}

/** True when every code unit of `s` fits Latin-1 (what a tEXt chunk can hold). */
export function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

function checkKeyword(keyword: string): void {
  if (keyword.length < 1 || keyword.length > 79 || !isLatin1(keyword) || /[\0]|^ | $| {2}/.test(keyword)) {
    throw new ImageFormatError('PNG text', `invalid keyword '${keyword}' (1-79 Latin-1 characters, no NUL, no leading/trailing/double spaces)`);
  }
}

function checkText(keyword: string, text: string): void {
  if (text.includes('\0')) throw new ImageFormatError('PNG text', `text of '${keyword}' contains a NUL character`);
}

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

/** A tEXt chunk when `text` is Latin-1, otherwise an uncompressed iTXt chunk with UTF-8 text (as PIL/A1111 do). */
export function textChunk(keyword: string, text: string): Uint8Array {
  checkKeyword(keyword);
  checkText(keyword, text);
  if (isLatin1(text)) {
    const k = latin1(keyword);
    const t = latin1(text);
    const data = new Uint8Array(k.length + 1 + t.length);
    data.set(k, 0);
    data.set(t, k.length + 1);
    return makeChunk('tEXt', data);
  }
  const k = latin1(keyword);
  const t = new TextEncoder().encode(text);
  // keyword NUL, compression flag 0, method 0, empty language NUL, empty translated keyword NUL, text
  const data = new Uint8Array(k.length + 5 + t.length);
  data.set(k, 0);
  data.set(t, k.length + 5);
  return makeChunk('iTXt', data);
}

/** The (keyword, text) of a tEXt, zTXt or iTXt chunk; null for other chunk types. */
export function decodeTextChunk(chunk: PngChunk, source: string, inflateZlib: (z: Uint8Array) => Uint8Array): { keyword: string; text: string } | null {
  if (chunk.type !== 'tEXt' && chunk.type !== 'zTXt' && chunk.type !== 'iTXt') return null;
  const d = chunk.data;
  const bad = (why: string) => new ImageFormatError(source, `${chunk.type} chunk at byte ${chunk.offset}: ${why}`);
  const nul = d.indexOf(0);
  if (nul < 1) throw bad('missing keyword terminator');
  const keyword = latin1Decode(d.subarray(0, nul));
  const inflate = (z: Uint8Array) => {
    try {
      return inflateZlib(z);
    } catch (e) {
      throw bad(`compressed text does not inflate (${(e as Error).message})`);
    }
  };
  if (chunk.type === 'tEXt') return { keyword, text: latin1Decode(d.subarray(nul + 1)) };
  if (chunk.type === 'zTXt') {
    if (d[nul + 1] !== 0) throw bad(`unknown compression method ${d[nul + 1]}`);
    return { keyword, text: latin1Decode(inflate(d.subarray(nul + 2))) };
  }
  const flag = d[nul + 1];
  const method = d[nul + 2];
  if (flag !== 0 && flag !== 1) throw bad(`invalid compression flag ${flag}`);
  if (flag === 1 && method !== 0) throw bad(`unknown compression method ${method}`);
  const langEnd = d.indexOf(0, nul + 3);
  const transEnd = langEnd < 0 ? -1 : d.indexOf(0, langEnd + 1);
  if (transEnd < 0) throw bad('missing language or translated-keyword terminator');
  const body = d.subarray(transEnd + 1);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(flag === 1 ? inflate(body) : body);
  } catch (e) {
    if (e instanceof ImageFormatError) throw e;
    throw bad('text is not valid UTF-8');
  }
  return { keyword, text };
}

function latin1Decode(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

const hex = (n: number) => n.toString(16).padStart(8, '0');
