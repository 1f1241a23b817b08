/**
 * The byte-level codecs ftfy's mojibake repair needs: its single-byte code pages (encode only what they can
 * represent), strict UTF-8 and ftfy's `utf-8-variants` decoding (CESU-8 surrogate pairs and Java's C0 80), and
 * the clue character classes of `ftfy.chardata.UTF8_CLUES`, derived from the code pages as ftfy's generator did.
 */
import { ParameterError } from '@sd-webgpu/tensor';
import { CHARMAP_TABLES, type CharmapTable } from './charmaps_data.js';

export interface Charmap {
  readonly name: string;
  /** char -> byte for the characters of bytes 0x80..0xFF and 0x1A. */
  readonly encodeHigh: ReadonlyMap<string, number>;
  /** byte -> char. */
  readonly decodeTable: readonly string[];
}

function buildCharmap(t: CharmapTable): Charmap {
  const decodeTable: string[] = [];
  for (let b = 0; b < 0x80; b++) decodeTable.push(String.fromCharCode(b));
  decodeTable[0x1a] = t.sub;
  for (const ch of t.high) decodeTable.push(ch);
  const encodeHigh = new Map<string, number>();
  encodeHigh.set(t.sub, 0x1a);
  for (let b = 0x80; b < 0x100; b++) encodeHigh.set(decodeTable[b]!, b);
  return { name: t.name, encodeHigh, decodeTable };
}

/** `ftfy.chardata.CHARMAP_ENCODINGS`, in the order ftfy tries them. */
export const CHARMAPS: readonly Charmap[] = CHARMAP_TABLES.map(buildCharmap);

export function charmap(name: string): Charmap {
  const m = CHARMAPS.find((c) => c.name === name);
  if (!m) {
    const known = CHARMAPS.map((c) => `'${c.name}'`).join(', ');
    throw new ParameterError('charmap', 'name', `is '${name}', expected one of ${known}`);
  }
  return m;
}

/**
 * `possible_encoding(text, enc)` + `text.encode(enc)`: the bytes, or null when some character has no byte.
 * Bytes 0x00..0x7F other than 0x1A encode as themselves (ftfy's ENCODING_REGEXES assume exactly this).
 */
export function encodeCharmap(text: string, m: Charmap): Uint8Array | null {
  const out = new Uint8Array(text.length);
  let n = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code < 0x80 && code !== 0x1a) out[n++] = code;
    else {
      const b = m.encodeHigh.get(ch);
      if (b === undefined) return null;
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

export function decodeCharmap(bytes: Uint8Array, m: Charmap): string {
  let s = '';
  for (const b of bytes) s += m.decodeTable[b]!;
  return s;
}

/** Bytes as a string of U+0000..U+00FF, so byte-level patterns can run as JS regular expressions. */
export function bytesToBinary(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

export function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// `ignoreBOM`: Python keeps a leading U+FEFF when it decodes UTF-8; WHATWG would strip it.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Python `bytes.decode('utf-8')` (strict), or null where Python raises UnicodeDecodeError. */
export function decodeUtf8Strict(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** CESU-8 surrogate pair (ED A0-AF xx ED B0-BF xx) or Java's encoded NUL (C0 80). */
const UTF8_VARIANT_RE = /\xed[\xa0-\xaf][\x80-\xbf]\xed[\xb0-\xbf][\x80-\xbf]|\xc0\x80/g;

/**
 * ftfy `bad_codecs.utf8_variants`: standard UTF-8, plus CESU-8 surrogate pairs and C0 80 -> U+0000.
 * Anything else that strict UTF-8 rejects (a lone encoded surrogate, C0 followed by another byte) is an error.
 */
export function decodeUtf8Variants(bytes: Uint8Array): string | null {
  const bin = bytesToBinary(bytes);
  let out = '';
  let last = 0;
  for (const m of bin.matchAll(UTF8_VARIANT_RE)) {
    const piece = decodeUtf8Strict(binaryToBytes(bin.slice(last, m.index)));
    if (piece === null) return null;
    out += piece;
    const s = m[0];
    if (s.length === 2) out += '\u0000';
    else {
      const hi = 0xd000 | ((s.charCodeAt(1) & 0x3f) << 6) | (s.charCodeAt(2) & 0x3f);
      const lo = 0xd000 | ((s.charCodeAt(4) & 0x3f) << 6) | (s.charCodeAt(5) & 0x3f);
      out += String.fromCharCode(hi, lo);
    }
    last = m.index + s.length;
  }
  const tail = decodeUtf8Strict(binaryToBytes(bin.slice(last)));
  return tail === null ? null : out + tail;
}

/** Encodings whose characters make up ftfy's UTF8_CLUES (the comments in chardata.py name exactly these). */
const CLUE_ENCODINGS = [
  'latin-1',
  'sloppy-windows-1252',
  'sloppy-windows-1250',
  'sloppy-windows-1251',
  'sloppy-windows-1253',
  'sloppy-windows-1254',
  'sloppy-windows-1257',
];

function charsOfBytes(bytes: number[]): Set<string> {
  const set = new Set<string>();
  for (const name of CLUE_ENCODINGS) for (const b of bytes) set.add(charmap(name).decodeTable[b]!);
  return set;
}

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
const escapeClass = (chars: Iterable<string>): string =>
  Array.from(chars, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');

/** Punctuation that often stands for itself next to mojibake, left out of `utf8_continuation_strict`. */
const NOT_STRICT = new Set(['\u2013', '\u2014', '\u2015', '\u2018', '\u2019', '\u201a', '\u201c', '\u201d', '\u201e', '\u2022', '\u2026']);

function buildUtf8Detector(): RegExp {
  const first2 = charsOfBytes(range(0xc2, 0xdf));
  const first3 = charsOfBytes(range(0xe0, 0xef));
  const first4 = charsOfBytes([0xf0, 0xf3]);
  const contChars = charsOfBytes(range(0x80, 0xbf));
  const cont = `[\\u0080-\\u00bf \\u00a0${escapeClass(contChars)}]`;
  const strict = `[\\u0080-\\u00bf${escapeClass([...contChars].filter((ch) => !NOT_STRICT.has(ch)))}]`;
  const seq = `[${escapeClass(first2)}]${cont}|[${escapeClass(first3)}]${cont}{2}|[${escapeClass(first4)}]${cont}{3}`;
  return new RegExp(`(?<!${strict})(?:${seq})+`, 'g');
}

/** `ftfy.chardata.UTF8_DETECTOR_RE`: runs of characters that look like UTF-8 read in a single-byte code page. */
export const UTF8_DETECTOR_RE: RegExp = buildUtf8Detector();
