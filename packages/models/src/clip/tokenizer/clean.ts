/**
 * CLIP's prompt cleanup, as OpenAI's `simple_tokenizer.SimpleTokenizer.encode` does it:
 *   basic_clean:      ftfy.fix_text(text); html.unescape(html.unescape(text)); text.strip()
 *   whitespace_clean: regex.sub(r'\s+', ' ', text); text.strip()
 *   then              text.lower()
 * and the pre-tokenizer regex that splits the cleaned text into words.
 *
 * Whitespace differs between the three engines involved, so each is spelled out:
 * - the `regex` module's `\s` (used by whitespace_clean and the split pattern) is Unicode White_Space:
 *   TAB LF VT FF CR, space, U+0085, NBSP, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000;
 * - Python's `str.strip()` also strips U+001C-U+001F;
 * - JS `\s` would add U+FEFF and miss U+0085, so it is not used. U+200B (zero-width space) is whitespace to none.
 * Lowercasing: JS `toLowerCase` and Python `str.lower` both apply the full Unicode mapping without locale
 * ('İ' -> 'i̇', final sigma); they were checked equal on every code point assigned in Unicode 14.
 */
import { fixText } from './ftfy.js';
import { pyHtmlUnescape } from './html_unescape.js';

/** White_Space, the `\s` of the `regex` module in Unicode mode. */
const REGEX_MODULE_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** `str.isspace()`: White_Space plus the ASCII information separators U+001C..U+001F. */
const PY_STRIP_SPACE = `${REGEX_MODULE_SPACE}\\u001c-\\u001f`;

const WHITESPACE_RUN_RE = new RegExp(`[${REGEX_MODULE_SPACE}]+`, 'g');
const STRIP_RE = new RegExp(`^[${PY_STRIP_SPACE}]+|[${PY_STRIP_SPACE}]+$`, 'g');

/** Python `str.strip()` with no argument. */
export function pyStrip(text: string): string {
  return text.replace(STRIP_RE, '');
}

/** `simple_tokenizer.basic_clean`. */
export function basicClean(text: string): string {
  return pyStrip(pyHtmlUnescape(pyHtmlUnescape(fixText(text))));
}

/** `simple_tokenizer.whitespace_clean`. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(WHITESPACE_RUN_RE, ' '));
}

/** The full cleanup: `whitespace_clean(basic_clean(text)).lower()`, the `cleaned` field of the fixtures. */
export function cleanText(text: string): string {
  return whitespaceClean(basicClean(text)).toLowerCase();
}

/**
 * A literal matched case-insensitively as the `regex` module's IGNORECASE does (simple case folding): each
 * ASCII letter also matches its other case, and 's' also matches U+017F LATIN SMALL LETTER LONG S.
 */
function ignoreCase(literal: string): string {
  let out = '';
  for (const ch of literal) {
    if (/[a-z]/i.test(ch)) {
      const lower = ch.toLowerCase();
      out += `[${lower}${lower.toUpperCase()}${lower === 's' ? '\\u017f' : ''}${lower === 'k' ? '\\u212a' : ''}]`;
    } else out += ch.replace(/[|\\^$.*+?()[\]{}]/g, '\\$&');
  }
  return out;
}

/**
 * `SimpleTokenizer.pat`:
 *   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+   (IGNORECASE)
 * JS has no IGNORECASE that matches the `regex` module's, so the literals are case-folded by hand and the pattern
 * runs without the `i` flag. Under IGNORECASE `regex` matches U+0345 COMBINING YPOGEGRAMMENI (which folds to the
 * letter ι) with neither \p{L} nor the negated class, so the character is dropped; it is excluded here the same way.
 */
const SPLIT_RE = new RegExp(
  [
    ...['<|startoftext|>', '<|endoftext|>', "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map(ignoreCase),
    '[\\p{L}]+',
    '[\\p{N}]',
    `[^${REGEX_MODULE_SPACE}\\p{L}\\p{N}\\u0345]+`,
  ].join('|'),
  'gu',
);

/** `regex.findall(self.pat, text)` on cleaned text. */
export function splitWords(cleaned: string): string[] {
  return cleaned.match(SPLIT_RE) ?? [];
}
