/**
 * Short descriptions of parsed JSON values for error messages. A hostile file may hold a value nested 100 000 deep or
 * a string of megabytes: these never recurse and never print more than ~60 characters.
 */

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** An array as JSON, shallowly: nested values show as `[...]`/`{...}`, at most 8 items. */
export function briefArray(x: readonly unknown[]): string {
  const item = (v: unknown) => (v !== null && typeof v === 'object' ? (Array.isArray(v) ? '[...]' : '{...}') : String(JSON.stringify(v)));
  return truncate(`[${x.slice(0, 8).map(item).join(',')}${x.length > 8 ? ',...' : ''}]`);
}

/** A JSON value as JSON text, shallow and truncated (`nothing` for undefined). */
export function briefJson(x: unknown): string {
  if (x === undefined) return 'nothing';
  if (Array.isArray(x)) return briefArray(x);
  if (x !== null && typeof x === 'object') return '{...}';
  return truncate(String(JSON.stringify(x)));
}

/** A JSON value with its type: `array [1,2]`, `object`, `string "x"`, `number 5`, `null`. */
export function describeJson(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `array ${briefArray(x)}`;
  if (typeof x === 'object') return 'object';
  if (typeof x === 'string') return `string ${truncate(JSON.stringify(x))}`;
  return `${typeof x} ${String(x)}`;
}
