/**
 * HTML entity decoding exactly as CLIP's text cleanup does it:
 * - `pyHtmlUnescape`: CPython's `html.unescape` (HTML5 rules: named references with or without ';' by longest
 *   prefix, numeric references with the spec's remapping of invalid code points).
 * - `ftfyUnescapeHtml`: ftfy 6.3's `fixes.unescape_html`, which only decodes references that end in ';', plus
 *   all-caps spellings of lowercase entity names (`&EACUTE;` -> 'É').
 * The entity tables are built on first use, so prompts without '&' never pay for them.
 */
import { HTML5_ENTITIES_PACKED, INVALID_CHARREFS_PACKED, INVALID_CODEPOINTS_PACKED } from './html_entities_data.js';

interface Tables {
  /** `html.entities.html5`: name (as CPython keys it, with or without ';') -> replacement text. */
  html5: Map<string, string>;
  /** `html._invalid_charrefs`. */
  invalidCharrefs: Map<number, string>;
  /** `html._invalid_codepoints`, as inclusive ranges. */
  invalidCodepoints: Array<[number, number]>;
  /** ftfy's `chardata.HTML_ENTITIES`: '&name;' -> replacement text. */
  ftfyEntities: Map<string, string> | null;
}

let tables: Tables | null = null;

function getTables(): Tables {
  if (tables) return tables;
  const html5 = new Map<string, string>();
  for (const entry of HTML5_ENTITIES_PACKED.split(' ')) {
    const colon = entry.lastIndexOf(':');
    const cps = entry.slice(colon + 1).split(',').map((h) => parseInt(h, 16));
    html5.set(entry.slice(0, colon), String.fromCodePoint(...cps));
  }
  const invalidCharrefs = new Map<number, string>();
  for (const entry of INVALID_CHARREFS_PACKED.split(' ')) {
    const [num, cp] = entry.split(':');
    invalidCharrefs.set(parseInt(num!, 16), String.fromCodePoint(parseInt(cp!, 16)));
  }
  const invalidCodepoints: Array<[number, number]> = INVALID_CODEPOINTS_PACKED.split(' ').map((r) => {
    const [a, b] = r.split('-');
    const lo = parseInt(a!, 16);
    return [lo, b === undefined ? lo : parseInt(b, 16)];
  });
  tables = { html5, invalidCharrefs, invalidCodepoints, ftfyEntities: null };
  return tables;
}

function isInvalidCodepoint(t: Tables, num: number): boolean {
  for (const [lo, hi] of t.invalidCodepoints) if (num >= lo && num <= hi) return true;
  return false;
}

/** CPython `html._charref`. With the `u` flag `{1,32}` counts code points, as Python does. */
const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(t: Tables, s: string): string {
  if (s[0] === '#') {
    const hex = s[1] === 'x' || s[1] === 'X';
    const digits = (hex ? s.slice(2) : s.slice(1)).replace(/;$/, '');
    // Python ints are unbounded; a huge reference only needs to compare as "> 0x10FFFF", which Infinity does.
    const num = hex ? parseInt(digits, 16) : parseInt(digits, 10);
    const remapped = t.invalidCharrefs.get(num);
    if (remapped !== undefined) return remapped;
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (isInvalidCodepoint(t, num)) return '';
    return String.fromCodePoint(num);
  }
  const direct = t.html5.get(s);
  if (direct !== undefined) return direct;
  // Longest matching prefix, as the HTML5 spec defines it for names without ';'. Python slices by code point.
  const cps = Array.from(s);
  for (let x = cps.length - 1; x > 1; x--) {
    const prefix = cps.slice(0, x).join('');
    const hit = t.html5.get(prefix);
    if (hit !== undefined) return hit + cps.slice(x).join('');
  }
  return '&' + s;
}

/** CPython's `html.unescape(s)`. */
export function pyHtmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  const t = getTables();
  return s.replace(CHARREF_RE, (_m, ref: string) => replaceCharref(t, ref));
}

/** ftfy `chardata._build_html_entities()`. */
function ftfyEntities(t: Tables): Map<string, string> {
  if (t.ftfyEntities) return t.ftfyEntities;
  const out = new Map<string, string>();
  for (const [name, char] of t.html5) {
    if (!name.endsWith(';')) continue;
    out.set('&' + name, char);
    // Entity names are ASCII, so JS and Python case mappings agree on them; the replacement text is uppercased
    // with full case mapping in both languages ('ß' -> 'SS').
    if (name === name.toLowerCase()) {
      const upper = '&' + name.toUpperCase();
      if (pyHtmlUnescape(upper) === upper) out.set(upper, char.toUpperCase());
    }
  }
  t.ftfyEntities = out;
  return out;
}

/** ftfy `chardata.HTML_ENTITY_RE`. */
const FTFY_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy 6.3 `fixes.unescape_html`. */
export function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  const entities = ftfyEntities(getTables());
  return text.replace(FTFY_ENTITY_RE, (m) => {
    const named = entities.get(m);
    if (named !== undefined) return named;
    if (m.startsWith('&#')) {
      // html.unescape decoded only part of it when ';' survives; ftfy then keeps the reference as is.
      const unescaped = pyHtmlUnescape(m);
      return unescaped.includes(';') ? m : unescaped;
    }
    return m;
  });
}
