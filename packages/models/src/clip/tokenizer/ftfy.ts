/**
 * `ftfy.fix_text` (ftfy 6.3.1, default TextFixerConfig), the first step of CLIP's text cleanup.
 *
 * What it does, in ftfy's order, per line, repeated until the line stops changing: HTML entity decoding (skipped
 * from the first line that contains a literal '<' on), mojibake repair (ftfy_encoding.ts), C1 controls as
 * Windows-1252, Latin ligatures (ﬁ -> fi), full-width/half-width forms (ＡＢＣ１２３ -> ABC123), curly quotes ->
 * straight, line breaks -> '\n', lone surrogates -> U+FFFD, ANSI terminal escapes removed, invisible control
 * characters removed, NFC.
 *
 * Known differences from Python: character properties (\p{L}, NFKC of width forms, NFC) come from the JS engine's
 * Unicode version, not CPython's; they only differ for characters assigned in recent Unicode versions.
 */
import { fixC1Controls, fixEncoding } from './ftfy_encoding.js';
import { ftfyUnescapeHtml } from './html_unescape.js';

/** `chardata.LIGATURES`: Latin ligatures and legacy digraphs ftfy always splits. */
const LIGATURES: Record<string, string> = {
  '\u0132': 'IJ',
  '\u0133': 'ij',
  '\u0149': '\u02bcn',
  '\u01f1': 'DZ',
  '\u01f2': 'Dz',
  '\u01f3': 'dz',
  '\u01c4': 'D\u017d',
  '\u01c5': 'D\u017e',
  '\u01c6': 'd\u017e',
  '\u01c7': 'LJ',
  '\u01c8': 'Lj',
  '\u01c9': 'lj',
  '\u01ca': 'NJ',
  '\u01cb': 'Nj',
  '\u01cc': 'nj',
  '\ufb00': 'ff',
  '\ufb01': 'fi',
  '\ufb02': 'fl',
  '\ufb03': 'ffi',
  '\ufb04': 'ffl',
  '\ufb05': '\u017ft',
  '\ufb06': 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g');

/** `fixes.fix_latin_ligatures`. */
export function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_RE, (ch) => LIGATURES[ch]!);
}

let widthMap: Map<string, string> | null = null;

/** `chardata.WIDTH_MAP`: U+3000 -> ' ', and every U+FF01..U+FFEF whose NFKC form differs -> that form. */
function getWidthMap(): Map<string, string> {
  if (widthMap) return widthMap;
  widthMap = new Map([['\u3000', ' ']]);
  for (let i = 0xff01; i < 0xfff0; i++) {
    const ch = String.fromCharCode(i);
    const alt = ch.normalize('NFKC');
    if (alt !== ch) widthMap.set(ch, alt);
  }
  return widthMap;
}

const WIDTH_RE = /[\u3000\uff01-\uffef]/g;

/** `fixes.fix_character_width`: full-width Latin and half-width Katakana/Hangul to their standard forms. */
export function fixCharacterWidth(text: string): string {
  const map = getWidthMap();
  return text.replace(WIDTH_RE, (ch) => map.get(ch) ?? ch);
}

/** `fixes.uncurl_quotes` (`chardata.DOUBLE_QUOTE_RE`, then `SINGLE_QUOTE_RE`). */
export function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
}

/** `fixes.fix_line_breaks`. */
export function fixLineBreaks(text: string): string {
  return text.replace(/\r\n|[\r\u2028\u2029\u0085]/g, '\n');
}

/**
 * `fixes.fix_surrogates`. A Python str holding a surrogate pair as two code points is one astral character in a
 * JS string already, so only unpaired surrogates remain to be replaced (`\p{Cs}` matches exactly those under `u`).
 */
export function fixSurrogates(text: string): string {
  return text.replace(/\p{Cs}/gu, '\ufffd');
}

/** `fixes.remove_terminal_escapes` (`\d` of a Python str pattern is any decimal digit, \p{Nd}). */
export function removeTerminalEscapes(text: string): string {
  return text.replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, '');
}

/** `fixes.remove_control_chars` (`chardata.CONTROL_CHARS`). Tab, LF, FF and CR are kept. */
export function removeControlChars(text: string): string {
  return text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
}

/** `ftfy.fix_and_explain` for one segment, without the explanation. */
function fixSegment(text: string, unescapeHtml: boolean): string {
  for (;;) {
    const orig = text;
    if (unescapeHtml) text = ftfyUnescapeHtml(text);
    text = fixEncoding(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === orig) return text;
  }
}

/** `TextFixerConfig.max_decode_length`, in code points. */
const MAX_DECODE_LENGTH = 1_000_000;

/** End (exclusive, in UTF-16 units) of the segment starting at `pos`, cut after at most `max` code points. */
function capSegment(text: string, pos: number, end: number, max: number): number {
  if (end - pos <= max) return end;
  let i = pos;
  for (let n = 0; n < max && i < end; n++) i += text.codePointAt(i)! > 0xffff ? 2 : 1;
  return i;
}

/**
 * `ftfy.fix_text(text)`: fix each line (each segment ends after a '\n') on its own. As in ftfy, HTML unescaping
 * ("auto") is switched off for the first segment that contains '<' and stays off for the rest of the text.
 */
export function fixText(text: string): string {
  let unescapeHtml = true;
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    end = capSegment(text, pos, end, MAX_DECODE_LENGTH);
    const segment = text.slice(pos, end);
    if (unescapeHtml && segment.includes('<')) unescapeHtml = false;
    out += fixSegment(segment, unescapeHtml);
    pos = end;
  }
  return out;
}
