/**
 * ftfy 6.3's mojibake repair (`ftfy.fix_encoding` with the default TextFixerConfig): text that `is_bad` flags is
 * re-encoded in each single-byte code page it fits and decoded as UTF-8; failing that, UTF-8-looking runs are fixed
 * in isolation, and leftover C1 controls become their Windows-1252 characters. "cafÃ©" -> "café".
 */
import { isBad } from './ftfy_badness.js';
import {
  CHARMAPS,
  UTF8_DETECTOR_RE,
  binaryToBytes,
  bytesToBinary,
  charmap,
  decodeCharmap,
  decodeUtf8Strict,
  decodeUtf8Variants,
  encodeCharmap,
} from './ftfy_codecs.js';

/** `chardata.ALTERED_UTF8_RE`: UTF-8 that would be valid if a space were byte A0 again. */
const ALTERED_UTF8_RE =
  /[\xc2\xc3\xc5\xce\xd0\xd9] |[\xe2\xe3] [\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf] |\xf0 [\x80-\xbf][\x80-\xbf]|\xf0[\x80-\xbf] [\x80-\xbf]|\xf0[\x80-\xbf][\x80-\xbf] /g;

/** `fixes.A_GRAVE_WORD_RE`: "Ã " as the word "à" (but not the Portuguese contractions). */
const A_GRAVE_WORD_RE = /\xc3 (?! |quele|quela|quilo|s )/g;

/** `chardata.LOSSY_UTF8_RE`: UTF-8 sequences with bytes lost to U+FFFD (encoded as 1A by the sloppy codecs). */
const LOSSY_UTF8_RE = new RegExp(
  [
    '[\\xc2-\\xdf][\\x1a]',
    '[\\xc2-\\xc3][?]',
    '\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]',
    '\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]',
    '[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]',
    '[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]',
    '\\x1a',
  ].join('|'),
  'g',
);

const C1_CONTROL_RE = /[\x80-\x9f]/g;
/** Non-global twins for `.test`, which would otherwise carry `lastIndex` state between calls. */
const HAS_C1 = new RegExp(C1_CONTROL_RE.source);
const HAS_ALTERED_UTF8 = new RegExp(ALTERED_UTF8_RE.source);
const HAS_UTF8_MOJIBAKE = new RegExp(UTF8_DETECTOR_RE.source);
const ASCII_RE = /^[\x00-\x7f]*$/;

/** `fixes.restore_byte_a0` on bytes (as a binary string). */
function restoreByteA0(bin: string): string {
  return bin.replace(A_GRAVE_WORD_RE, '\xc3\xa0 ').replace(ALTERED_UTF8_RE, (m) => m.replaceAll(' ', '\xa0'));
}

/** `fixes.replace_lossy_sequences` on bytes (as a binary string): each lossy sequence becomes UTF-8 U+FFFD. */
function replaceLossySequences(bin: string): string {
  return bin.replace(LOSSY_UTF8_RE, '\xef\xbf\xbd');
}

/** `fixes.fix_c1_controls`: remaining U+0080..U+009F read as sloppy Windows-1252. */
export function fixC1Controls(text: string): string {
  const cp1252 = charmap('sloppy-windows-1252');
  return text.replace(C1_CONTROL_RE, (ch) => cp1252.decodeTable[ch.charCodeAt(0)]!);
}

/** Python's strict `windows-1252` decode of Latin-1 text: null when a byte is undefined there (81 8D 8F 90 9D). */
function latin1AsWindows1252(text: string): string | null {
  const cp1252 = charmap('sloppy-windows-1252');
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x80 && code <= 0x9f) {
      if (code === 0x81 || code === 0x8d || code === 0x8f || code === 0x90 || code === 0x9d) return null;
      out += cp1252.decodeTable[code]!;
    } else out += ch;
  }
  return out;
}

/** `fixes.decode_inconsistent_utf8`: fix mojibake runs in isolation when the whole text has no consistent fix. */
function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR_RE, (substr) =>
    substr.length < text.length && isBad(substr) ? fixEncoding(substr) : substr,
  );
}

/** `ftfy._fix_encoding_one_step_and_explain`, without the explanation. */
function fixEncodingOneStep(text: string): string {
  if (text.length === 0) return text;
  if (ASCII_RE.test(text) || !isBad(text)) return text;

  const possible: string[] = [];
  for (const m of CHARMAPS) {
    const encoded = encodeCharmap(text, m);
    if (encoded === null) continue;
    possible.push(m.name);
    let bin = bytesToBinary(encoded);
    // `restore_byte_a0` is skipped in MacRoman, where it would turn en dash + space into false positives.
    if (m.name !== 'macroman' && HAS_ALTERED_UTF8.test(bin)) bin = restoreByteA0(bin);
    if (m.name.startsWith('sloppy')) bin = replaceLossySequences(bin);
    const bytes = binaryToBytes(bin);
    const variants = bin.includes('\xed') || bin.includes('\xc0');
    const fixed = variants ? decodeUtf8Variants(bytes) : decodeUtf8Strict(bytes);
    if (fixed !== null) return fixed;
  }

  if (HAS_UTF8_MOJIBAKE.test(text)) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }

  // ftfy checks for "windows-1252" in a list that only ever holds "sloppy-windows-1252", so Latin-1 text always
  // takes the re-decode branch; reproduced as is.
  if (possible.includes('latin-1')) {
    const fixed = latin1AsWindows1252(text);
    if (fixed !== null && fixed !== text) return fixed;
  }

  if (HAS_C1.test(text)) return fixC1Controls(text);
  return text;
}

/** `ftfy.fix_encoding`: repeat single steps until the text stops changing. */
export function fixEncoding(text: string): string {
  for (;;) {
    const prev = text;
    text = fixEncodingOneStep(text);
    if (text === prev) return text;
  }
}

/** Make mojibake: the UTF-8 bytes of `text` read in a single-byte code page (what `fixEncoding` undoes). */
export function mojibakeOf(text: string, codePage: string): string {
  const bytes = new TextEncoder().encode(text);
  return decodeCharmap(bytes, charmap(codePage));
}
