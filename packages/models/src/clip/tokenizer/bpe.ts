/**
 * Byte-level BPE as OpenAI's `simple_tokenizer` runs it: a word's UTF-8 bytes become printable stand-in characters
 * (`bytes_to_unicode`), the last symbol gets '</w>', and the adjacent pair with the lowest merge rank is merged
 * everywhere, repeatedly, until no ranked pair is left.
 */

/**
 * `simple_tokenizer.bytes_to_unicode()`: byte -> stand-in character. Printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100 upward, in byte order. The returned array lists the characters in the order of the
 * Python dict's values (printable bytes first), which is the order of the first 256 vocabulary entries.
 */
export function bytesToUnicode(): { byteToChar: string[]; vocabOrder: string[] } {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const byteToChar: string[] = new Array(256);
  bs.forEach((b, i) => (byteToChar[b] = String.fromCharCode(cs[i]!)));
  return { byteToChar, vocabOrder: cs.map((c) => String.fromCharCode(c)) };
}

/** Merge ranks keyed by `${first} ${second}` (no symbol contains a space: byte 0x20 is stood in for by 'Ġ'). */
export type MergeRanks = ReadonlyMap<string, number>;

/**
 * `SimpleTokenizer.bpe(token)` without the cache: returns the symbols (joined with ' ' by Python).
 * `token` is already in stand-in characters, one UTF-16 unit per byte.
 */
export function bpeSymbols(token: string, ranks: MergeRanks): string[] {
  if (token.length === 0) return [];
  let word: string[] = token.split('');
  word[word.length - 1] += '</w>';
  if (word.length === 1) return word;

  for (;;) {
    // The lowest-ranked adjacent pair (ranks are unique, so the minimum is unique).
    let best = Infinity;
    let first = '';
    let second = '';
    for (let i = 0; i < word.length - 1; i++) {
      const r = ranks.get(word[i] + ' ' + word[i + 1]);
      if (r !== undefined && r < best) {
        best = r;
        first = word[i]!;
        second = word[i + 1]!;
      }
    }
    if (best === Infinity) break;

    // Merge every non-overlapping occurrence, left to right.
    const merged: string[] = [];
    let i = 0;
    while (i < word.length) {
      if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
        merged.push(first + second);
        i += 2;
      } else {
        merged.push(word[i]!);
        i += 1;
      }
    }
    word = merged;
    if (word.length === 1) break;
  }
  return word;
}

/** A small cache with a size cap: when full, the oldest half is dropped (Map keeps insertion order). */
export class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  constructor(readonly capacity: number) {}

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V): void {
    if (this.map.size >= this.capacity) {
      let drop = Math.ceil(this.capacity / 2);
      for (const k of this.map.keys()) {
        if (drop-- <= 0) break;
        this.map.delete(k);
      }
    }
    this.map.set(key, value);
  }

  get size(): number {
    return this.map.size;
  }
}
