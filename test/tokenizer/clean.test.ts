// The pieces of CLIP's text cleanup, each against what the Python reference stack gives.
// Expected values come from CPython 3.11 (`html.unescape`, `str.strip`, `str.lower`), the `regex` module
// (`regex.findall(SimpleTokenizer.pat, s)`, `regex.sub(r'\s+', ' ', s)`), and ftfy 6.3's documented examples.
// Text comparisons are exact.
import { describe, expect, it } from 'vitest';
import { basicClean, cleanText, whitespaceClean, splitWords } from '../../packages/models/src/clip/tokenizer/clean';
import { fixText } from '../../packages/models/src/clip/tokenizer/ftfy';
import { isBad } from '../../packages/models/src/clip/tokenizer/ftfy_badness';
import { fixEncoding, mojibakeOf } from '../../packages/models/src/clip/tokenizer/ftfy_encoding';
import { ftfyUnescapeHtml, pyHtmlUnescape } from '../../packages/models/src/clip/tokenizer/html_unescape';

describe('pyHtmlUnescape (CPython html.unescape)', () => {
  const cases: [string, string][] = [
    ['&amp;amp;', '&amp;'],
    ['&amp', '&'],
    ['&ampx', '&x'],
    ['&notit;', '\u00acit;'],
    ['&notin', '\u00acin'],
    ['fish &amp chips', 'fish & chips'],
    ['&#39;&#x27;&#X27;', "'''"],
    ['&#0;&#13;&#128;&#x81;&#150;', '\ufffd\r\u20ac\u0081\u2013'],
    ['&#xD800;&#1114112;&#99999999999999999999;', '\ufffd\ufffd\ufffd'],
    ['&#1;&#x7f;&#xFFFE;&#x10FFFF;', ''],
    ['&#65', 'A'],
    ['&#x41g', 'Ag'],
    ['&lt;3 &gt &GT; &quot;', '<3 > > "'],
    ['&nosuch; &', '&nosuch; &'],
    ['&Jscr;&HilbertSpace;', '\ud835\udca5\u210b'],
    ['&acE;', '\u223e\u0333'],
    ['a&b;c &#;', 'a&b;c &#;'],
    ['&' + 'x'.repeat(40) + ';', '&' + 'x'.repeat(40) + ';'],
    ['&aacute&eacute;', '\u00e1\u00e9'],
    ['&zwj;&zwnj;&nbsp;', '\u200d\u200c\u00a0'],
  ];
  for (const [input, want] of cases) it(JSON.stringify(input), () => expect(pyHtmlUnescape(input)).toBe(want));
});

describe('ftfyUnescapeHtml (ftfy.fixes.unescape_html docstring)', () => {
  it('decodes only terminated references, and all-caps names of lowercase entities', () => {
    expect(ftfyUnescapeHtml('&lt;tag&gt;')).toBe('<tag>');
    expect(ftfyUnescapeHtml('&Jscr;ohn &HilbertSpace;ancock')).toBe('\ud835\udca5ohn \u210bancock');
    expect(ftfyUnescapeHtml('&checkmark;')).toBe('\u2713');
    expect(ftfyUnescapeHtml('P&eacute;rez')).toBe('P\u00e9rez');
    expect(ftfyUnescapeHtml('P&EACUTE;REZ')).toBe('P\u00c9REZ');
    expect(ftfyUnescapeHtml('BUNDESSTRA&SZLIG;E')).toBe('BUNDESSTRASSE');
    expect(ftfyUnescapeHtml('&ntilde; &Ntilde; &NTILDE; &nTILDE;')).toBe('\u00f1 \u00d1 \u00d1 &nTILDE;');
    expect(ftfyUnescapeHtml('fish &amp chips')).toBe('fish &amp chips');
  });
});

describe('ftfy fix_text', () => {
  // ftfy's own docstring examples.
  it('repairs mojibake, widths, entities, quotes, ligatures, escapes', () => {
    expect(fixText('\u00e2\u0153\u201d No problems')).toBe('\u2714 No problems');
    expect(fixText('&macr;\\_(\u00e3\x83\x84)_/&macr;')).toBe('\u00af\\_(\u30c4)_/\u00af');
    expect(fixText('\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33')).toBe('LOUD NOISES');
    expect(fixText('\uff35\uff80\uff70\uff9d')).toBe('U\u30bf\u30fc\u30f3');
    expect(fixText('\u201chere\u2019s a test\u201d')).toBe('"here\'s a test"');
    expect(fixText('\ufb02u\ufb03e\ufb06')).toBe('fluffiest');
    expect(fixText("\x1b[36;44mI'm blue, da ba dee da ba doo...\x1b[0m")).toBe("I'm blue, da ba dee da ba doo...");
    expect(fixEncoding('s\u00c3\u00b3')).toBe('s\u00f3');
    expect(fixEncoding('voil\u00c3 le travail')).toBe('voil\u00e0 le travail');
    expect(fixEncoding('&ATILDE;&SUP3;')).toBe('&ATILDE;&SUP3;');
  });

  it('undoes UTF-8 read as Latin-1 / Windows-1252, including twice-mangled text', () => {
    for (const word of ['caf\u00e9 cr\u00e8me br\u00fbl\u00e9e', 'na\u00efve fa\u00e7ade', '\u00c5ngstr\u00f6m', 'Stra\u00dfe']) {
      const once = mojibakeOf(word, 'sloppy-windows-1252');
      expect(once).not.toBe(word);
      expect(fixText(once)).toBe(word);
      expect(fixText(mojibakeOf(once, 'sloppy-windows-1252'))).toBe(word);
    }
    expect(fixText('\u00c4\u00b0stanbul')).toBe('\u0130stanbul');
    expect(fixText('HÃ´tel de Police')).toBe('Hôtel de Police');
  });

  it('leaves legitimate accented text and symbols alone', () => {
    for (const s of ['café crème brûlée, naïve façade, Ångström', 'Ü ö ä ß straße', 'Offering 5×£35', 'NESTLÉ®', '2012—∞']) {
      expect(isBad(s) && fixEncoding(s) !== s).toBe(false);
      expect(fixText(s)).toBe(s);
    }
  });

  it('turns C1 controls into Windows-1252 characters and drops invisible controls', () => {
    expect(fixText('parl\u00e9\u0085 Tu sais')).toBe('parl\u00e9\u2026 Tu sais');
    expect(fixText('a\u0000b\u0007c\ufeffd\u206ae')).toBe('abcde');
    expect(fixText('tab\tform\ffeed')).toBe('tab\tform\ffeed');
    expect(fixText('line\r\nbreaks\u2028here')).toBe('line\nbreaks\nhere');
    expect(fixText('lone \ud800 surrogate')).toBe('lone \ufffd surrogate');
    expect(fixText('e\u0301')).toBe('\u00e9');
  });

  it('stops unescaping HTML from the first line that contains "<" on', () => {
    expect(fixText('a &amp; b\n<p> &amp;\n&amp;')).toBe('a & b\n<p> &amp;\n&amp;');
    expect(fixText('double &amp;amp; escaped')).toBe('double & escaped');
  });
});

describe('whitespace and case (regex module \\s, str.strip, str.lower)', () => {
  const ws: [string, string][] = [
    ['  a \t b\n\n c  ', 'a b c'],
    ['\u001c a \u001f', 'a'],
    ['\ufeff a \ufeff', '\ufeff a \ufeff'],
    ['\u0085x\u00a0y\u3000', 'x y'],
    ['a\u200bb \u200b', 'a\u200bb \u200b'],
    ['\u001ca\u001d b', 'a\u001d b'],
  ];
  for (const [input, want] of ws) it(`whitespace_clean(${JSON.stringify(input)})`, () => expect(whitespaceClean(input)).toBe(want));

  it('lowercases like Python', () => {
    expect(cleanText('\u0130stanbul')).toBe('i\u0307stanbul');
    expect(cleanText('\u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3.')).toBe('\u03bf\u03b4\u03bf\u03c2 \u03bf\u03b4\u03bf\u03c2.');
    // (U+01C5 'ǅ' would be split by ftfy's ligature fix first, so titlecase is tested with U+1FBC.)
    expect(cleanText('\u1fbc \u1e9e \u03a9 \u212a \u00c5')).toBe('\u1fb3 \u00df \u03c9 k \u00e5');
  });

  it('basic_clean unescapes HTML twice after ftfy, then strips', () => {
    // ftfy leaves the text alone (it contains '<'); the two html.unescape passes then decode &amp;lt; fully.
    expect(basicClean('  <b> &amp;lt;  ')).toBe('<b> <');
  });
});

describe('splitWords (SimpleTokenizer.pat with the regex module, IGNORECASE)', () => {
  const cases: [string, string[]][] = [
    ["it's o'neill's", ['it', "'s", 'o', "'", 'neill', "'s"]],
    ["'\u017f 'S 'LL 'Re", ["'\u017f", "'S", "'LL", "'Re"]],
    ['<|startoftext|>x<|endoftext|>', ['<|startoftext|>', 'x', '<|endoftext|>']],
    ['<|\u017ftartoftext|>', ['<|\u017ftartoftext|>']],
    ['a\u0345b \u0345', ['a', 'b']],
    ['abc123def \u00bd \u2177 \u00b2', ['abc', '1', '2', '3', 'def', '\u00bd', '\u2177', '\u00b2']],
    ['a--b!!c  d', ['a', '--', 'b', '!!', 'c', 'd']],
    ['\u65e5\u672c\u8a9e \u306e x', ['\u65e5\u672c\u8a9e', '\u306e', 'x']],
    ['e\u0301 n\u0303', ['e', '\u0301', 'n', '\u0303']],
    ['\u200b zero', ['\u200b', 'zero']],
    ['tab\tsep\u00a0nb\u2003em', ['tab', 'sep', 'nb', 'em']],
    ['\ud83d\udc31\ud83d\ude80 \u2764\ufe0f', ['\ud83d\udc31\ud83d\ude80', '\u2764\ufe0f']],
    ['x\u0085y\u001cz\ufeffw', ['x', 'y', '\u001c', 'z', '\ufeff', 'w']],
    ['i\u0307stanbul', ['i', '\u0307', 'stanbul']],
  ];
  for (const [input, want] of cases) it(JSON.stringify(input), () => expect(splitWords(input)).toEqual(want));
});
