import { describe, expect, it } from 'vitest';
import { deflateSync } from 'node:zlib';
import { ParameterError } from '@sd-webgpu/tensor';
import {
  ImageFormatError, crc32, decodeImage, encodePng, readPngText,
} from '../helpers/image';
import { insertAfterIhdr, makeChunk, readChunks } from '../../packages/pipeline/src/image/png_chunks';

/** Builds a PNG by hand (no pngjs) so the decoder is tested on bit depths and colour types our encoder never writes. */
function rawPng(o: {
  width: number; height: number; depth: number; colorType: number; rows: Uint8Array[]; interlace?: number;
  extra?: Array<[string, Uint8Array]>;
}): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, o.width);
  v.setUint32(4, o.height);
  ihdr.set([o.depth, o.colorType, 0, 0, o.interlace ?? 0], 8);
  const raw = new Uint8Array(o.rows.reduce((s, r) => s + r.length + 1, 0));
  let p = 0;
  for (const r of o.rows) {
    raw[p++] = 0; // filter type None
    raw.set(r, p);
    p += r.length;
  }
  const parts = [
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    makeChunk('IHDR', ihdr),
    ...(o.extra ?? []).map(([t, d]) => makeChunk(t, d)),
    makeChunk('IDAT', new Uint8Array(deflateSync(raw))),
    makeChunk('IEND', new Uint8Array(0)),
  ];
  return Uint8Array.from(parts.flatMap((x) => [...x]));
}

const rgba = (width: number, height: number, f: (x: number, y: number) => number[]) => {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(f(x, y), (y * width + x) * 4);
  return { width, height, data };
};

describe('crc32', () => {
  it('matches the standard check value and zlib', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926); // CRC-32/ISO-HDLC check value
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe('encodePng', () => {
  const img = rgba(7, 5, (x, y) => [x * 30, y * 50, (x * y * 13) % 256, 255]);

  it('round-trips an opaque image, written as 8-bit RGB', () => {
    const png = encodePng(img);
    const ihdr = readChunks(png)[0]!;
    expect(ihdr.type).toBe('IHDR');
    expect([ihdr.data[8], ihdr.data[9]]).toEqual([8, 2]); // bit depth 8, colour type RGB
    const back = decodeImage(png);
    expect([back.width, back.height]).toEqual([7, 5]);
    expect([...back.data]).toEqual([...img.data]);
  });

  it('keeps alpha when some pixel is not opaque', () => {
    const t = rgba(3, 2, (x, y) => [10 * x, 20 * y, 30, x === 1 ? 0 : 200]);
    const png = encodePng(t);
    expect(readChunks(png)[0]!.data[9]).toBe(6); // colour type RGBA
    expect([...decodeImage(png).data]).toEqual([...t.data]);
  });

  it('accepts Uint8ClampedArray pixels', () => {
    const c = { ...img, data: new Uint8ClampedArray(img.data) };
    expect([...decodeImage(encodePng(c)).data]).toEqual([...img.data]);
  });

  it('writes a Latin-1 parameters text as a tEXt chunk right after IHDR', () => {
    const text = 'café at dusk, 8k\nNegative prompt: blurry\nSteps: 25, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 8x8';
    const png = encodePng(img, { parameters: text });
    const chunks = readChunks(png); // verifies every CRC
    expect(chunks.map((c) => c.type).slice(0, 2)).toEqual(['IHDR', 'tEXt']);
    const data = chunks[1]!.data;
    expect(String.fromCharCode(...data.subarray(0, 11))).toBe('parameters\0');
    expect(data.length).toBe(11 + text.length); // one byte per character (é is 0xE9, not UTF-8)
    expect(data[11 + 3]).toBe(0xe9);
    expect(readPngText(png)).toEqual({ parameters: text });
    expect([...decodeImage(png).data]).toEqual([...img.data]); // still a valid image
  });

  it('uses an uncompressed iTXt chunk (UTF-8) for text outside Latin-1', () => {
    const text = '宇宙飛行士 riding a horse 🐎\nSteps: 2, Sampler: Euler a, CFG scale: 7.5, Seed: 1, Size: 64x64';
    const png = encodePng(img, { parameters: text });
    const c = readChunks(png)[1]!;
    expect(c.type).toBe('iTXt');
    expect([...c.data.subarray(10, 15)]).toEqual([0, 0, 0, 0, 0]); // NUL, flag 0, method 0, no language, no translation
    expect(new TextDecoder().decode(c.data.subarray(15))).toBe(text);
    expect(readPngText(png).parameters).toBe(text);
  });

  it('rejects malformed images and text', () => {
    expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(15) })).toThrow(ParameterError);
    expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(15) })).toThrow(/15 bytes, expected 2x2x4 = 16/);
    expect(() => encodePng({ width: 0, height: 2, data: new Uint8Array(0) })).toThrow(/positive integer width/);
    expect(() => encodePng(img, { parameters: 'a\0b' })).toThrow(ImageFormatError);
  });
});

describe('readPngText', () => {
  const base = encodePng(rgba(2, 2, () => [1, 2, 3, 255]));
  const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const cat = (...a: Uint8Array[]) => Uint8Array.from(a.flatMap((x) => [...x]));

  it('reads zTXt and compressed iTXt chunks', () => {
    const z = cat(latin1('Comment\0\0'), new Uint8Array(deflateSync(Buffer.from('squeezed text, ÿ', 'latin1'))));
    const it = cat(latin1('parameters\0\x01\x00en\0\0'), new Uint8Array(deflateSync(Buffer.from('ζ prompt', 'utf8'))));
    const png = insertAfterIhdr(base, [makeChunk('zTXt', z), makeChunk('iTXt', it)]);
    expect(readPngText(png)).toEqual({ Comment: 'squeezed text, ÿ', parameters: 'ζ prompt' });
  });

  it('returns {} for a PNG without text', () => {
    expect(readPngText(base)).toEqual({});
  });

  it('lets a later chunk with the same keyword win', () => {
    const png = insertAfterIhdr(base, [makeChunk('tEXt', latin1('k\0one')), makeChunk('tEXt', latin1('k\0two'))]);
    expect(readPngText(png)).toEqual({ k: 'two' });
  });

  it('rejects a bad signature, a bad CRC, truncation and broken text chunks', () => {
    expect(() => readPngText(latin1('GIF89a....'), 'x.gif')).toThrow(/image 'x.gif': not a PNG/);
    const bad = new Uint8Array(base);
    bad[20] = bad[20]! ^ 0xff; // inside IHDR data
    expect(() => readPngText(bad, 'bad.png')).toThrow(/chunk IHDR at byte 8 has CRC/);
    expect(() => readPngText(base.subarray(0, base.length - 6), 't.png')).toThrow(ImageFormatError);
    const noNul = insertAfterIhdr(base, [makeChunk('tEXt', latin1('keyword-without-terminator'))]);
    expect(() => readPngText(noNul)).toThrow(/tEXt chunk at byte 33: missing keyword terminator/);
    const badZ = insertAfterIhdr(base, [makeChunk('zTXt', cat(latin1('k\0\0'), latin1('not zlib')))]);
    expect(() => readPngText(badZ)).toThrow(/does not inflate/);
    const badUtf8 = insertAfterIhdr(base, [makeChunk('iTXt', cat(latin1('k\0\0\0\0\0'), Uint8Array.from([0xc3, 0x28])))]);
    expect(() => readPngText(badUtf8)).toThrow(/not valid UTF-8/);
  });
});

describe('decodeImage: PNG bit depths and colour types', () => {
  it('expands 8-bit gray and gray+alpha', () => {
    const g = rawPng({ width: 3, height: 1, depth: 8, colorType: 0, rows: [Uint8Array.from([0, 128, 255])] });
    expect([...decodeImage(g).data]).toEqual([0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255]);
    const ga = rawPng({ width: 2, height: 1, depth: 8, colorType: 4, rows: [Uint8Array.from([10, 20, 30, 40])] });
    expect([...decodeImage(ga).data]).toEqual([10, 10, 10, 20, 30, 30, 30, 40]);
  });

  it('rescales 16-bit RGB and RGBA samples to 8 bits (round(v·255/65535))', () => {
    const row = Uint8Array.from([0xff, 0xff, 0x80, 0x00, 0x00, 0x80, /* px2 */ 0x00, 0x00, 0x12, 0x34, 0x01, 0x01]);
    const d = decodeImage(rawPng({ width: 2, height: 1, depth: 16, colorType: 2, rows: [row] })).data;
    const s = (v: number) => Math.floor((v * 255) / 65535 + 0.5);
    expect([...d]).toEqual([255, s(0x8000), s(0x80), 255, 0, s(0x1234), s(0x0101), 255]);
    const row4 = Uint8Array.from([0xff, 0xff, 0, 0, 0xff, 0xff, 0x7f, 0xff]);
    expect([...decodeImage(rawPng({ width: 1, height: 1, depth: 16, colorType: 6, rows: [row4] })).data]).toEqual([255, 0, 255, 127]);
  });

  it('expands 1/2/4-bit gray to full range', () => {
    const g1 = rawPng({ width: 8, height: 1, depth: 1, colorType: 0, rows: [Uint8Array.from([0b10100000])] });
    expect(Array.from(decodeImage(g1).data.filter((_, i) => i % 4 === 0)).slice(0, 4)).toEqual([255, 0, 255, 0]);
    const g2 = rawPng({ width: 4, height: 1, depth: 2, colorType: 0, rows: [Uint8Array.from([0b00011011])] });
    expect(Array.from(decodeImage(g2).data.filter((_, i) => i % 4 === 0))).toEqual([0, 85, 170, 255]);
    const g4 = rawPng({ width: 2, height: 1, depth: 4, colorType: 0, rows: [Uint8Array.from([0x5f])] });
    expect(Array.from(decodeImage(g4).data.filter((_, i) => i % 4 === 0))).toEqual([85, 255]);
  });

  it('expands palette images, applying tRNS alpha', () => {
    const plte = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255]);
    const trns = Uint8Array.from([255, 128]); // entry 2 has no tRNS value → opaque
    const p = rawPng({
      width: 3, height: 2, depth: 8, colorType: 3,
      rows: [Uint8Array.from([0, 1, 2]), Uint8Array.from([2, 1, 0])],
      extra: [['PLTE', plte], ['tRNS', trns]],
    });
    const img = decodeImage(p);
    expect([img.width, img.height]).toEqual([3, 2]);
    expect([...img.data.subarray(0, 12)]).toEqual([255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 255]);
    expect([...img.data.subarray(12)]).toEqual([0, 0, 255, 255, 0, 255, 0, 128, 255, 0, 0, 255]);
  });

  it('de-interlaces Adam7', () => {
    const v = (x: number, y: number) => 10 * (y * 3 + x) + 5;
    // 3x3 passes: 1 → (0,0); 4 → (2,0); 5 → (0,2),(2,2); 6 → rows (1,0) and (1,2); 7 → (0,1),(1,1),(2,1)
    const rows = [[v(0, 0)], [v(2, 0)], [v(0, 2), v(2, 2)], [v(1, 0)], [v(1, 2)], [v(0, 1), v(1, 1), v(2, 1)]];
    const png = rawPng({ width: 3, height: 3, depth: 8, colorType: 0, interlace: 1, rows: rows.map((r) => Uint8Array.from(r)) });
    const gray = Array.from(decodeImage(png).data.filter((_, i) => i % 4 === 0));
    expect(gray).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => 10 * i + 5));
    const short = rawPng({ width: 3, height: 3, depth: 8, colorType: 0, interlace: 1, rows: rows.slice(0, 5).map((r) => Uint8Array.from(r)) });
    expect(() => decodeImage(short, { source: 'i.png' })).toThrow(/image data has 11 bytes, 3x3 needs 15/);
  });

  it('rejects a corrupt or short IDAT with an ImageFormatError naming the file', () => {
    const ok = rawPng({ width: 2, height: 2, depth: 8, colorType: 2, rows: [new Uint8Array(6), new Uint8Array(6)] });
    const chunks = readChunks(ok);
    const ihdr = chunks[0]!;
    const withIdat = (idat: Uint8Array) =>
      Uint8Array.from([...ok.subarray(0, ihdr.offset + ihdr.size), ...makeChunk('IDAT', idat), ...makeChunk('IEND', new Uint8Array(0))]);
    expect(() => decodeImage(withIdat(Uint8Array.from([1, 2, 3, 4])), { source: 'broken.png' })).toThrow(
      /image 'broken.png': invalid PNG/,
    );
    // valid zlib, but one row of data instead of two
    const short = withIdat(new Uint8Array(deflateSync(new Uint8Array(7))));
    expect(() => decodeImage(short, { source: 'short.png' })).toThrow(ImageFormatError);
  });
});
