/**
 * Duplicate-key detection for JSON text.
 *
 * `JSON.parse` silently keeps the last of two equal keys, so a safetensors header that names a tensor twice would
 * lose one entry without a word. This scanner walks the (already valid) JSON text once and reports the first key
 * that repeats inside the same object, at any depth. Keys are compared after unescaping (`"a"` equals `"\u0061"`).
 */

interface ObjectFrame {
  kind: 'object';
  keys: Set<string>;
  expectKey: boolean;
  lastKey: string | undefined;
}
interface ArrayFrame {
  kind: 'array';
}
type Frame = ObjectFrame | ArrayFrame;

export interface DuplicateKey {
  key: string;
  /** Keys of the enclosing objects, outermost first (empty for a top-level key). */
  path: string[];
}

/** Returns the first duplicate key in `text`, or undefined. `text` must be valid JSON. */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top && top.kind === 'object' && top.expectKey) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : raw;
        if (top.keys.has(key)) return { key, path: pathOf(stack) };
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = end + 1;
      continue;
    }
    if (c === 0x7b /* { */) {
      stack.push({ kind: 'object', keys: new Set(), expectKey: true, lastKey: undefined });
    } else if (c === 0x5b /* [ */) {
      stack.push({ kind: 'array' });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top && top.kind === 'object') top.expectKey = true;
    }
    i++;
  }
  return undefined;
}

/**
 * Whether `text` nests arrays/objects deeper than `limit` (strings skipped). Checked before `JSON.parse`, so a header
 * like `[[[[…` 100 000 levels deep is rejected by name instead of overflowing the stack in a recursive walk.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) i = stringEnd(text, i);
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}

/** Index of the closing quote of the string literal that opens at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return text.length; // unterminated: cannot happen for valid JSON
    let backslashes = 0;
    for (let k = q - 1; k > start && text.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return q;
    i = q + 1;
  }
}

function pathOf(stack: Frame[]): string[] {
  const path: string[] = [];
  for (let d = 0; d < stack.length - 1; d++) {
    const f = stack[d]!;
    if (f.kind === 'object' && f.lastKey !== undefined) path.push(f.lastKey);
  }
  return path;
}
