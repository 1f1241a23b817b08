// Helpers shared by the safetensors tests: build files byte by byte (including invalid ones) and a seeded PRNG.

/** A safetensors file made of an arbitrary header text and data bytes (the length prefix is computed). */
export function rawFile(headerText: string, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** rawFile with the header given as an object. */
export function rawFileFromHeader(header: Record<string, unknown>, data: Uint8Array | number = 0): Uint8Array {
  return rawFile(JSON.stringify(header), typeof data === 'number' ? new Uint8Array(data) : data);
}

/** mulberry32: small, fast, deterministic. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
