// Decompression bombs: the declared size is checked against the pixel limit before any pixel is decoded.
import { describe, expect, it } from 'vitest';
import { deflateSync } from 'node:zlib';
import { encode as encodeJpeg } from 'jpeg-js';
import { ImageFormatError, decodeImage } from '../helpers/image';
import { makeChunk } from '../../packages/pipeline/src/image/png_chunks';

/** A gray PNG of `depth` bits whose IDAT inflates to `rawBytes` zero bytes (all-zero filter bytes and pixels). */
function grayPng(width: number, height: number, depth: number, rawBytes: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([depth, 0, 0, 0, 0], 8);
  const parts = [
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    makeChunk('IHDR', ihdr),
    makeChunk('IDAT', new Uint8Array(deflateSync(new Uint8Array(rawBytes), { level: 9 }))),
    makeChunk('IEND', new Uint8Array(0)),
  ];
  return new Uint8Array(Buffer.concat(parts));
}

describe('image pixel limit', () => {
  it('rejects a 16384x16384 1-bit PNG bomb (~33 KB) before decoding, with a clear error', () => {
    const bomb = grayPng(16384, 16384, 1, 16384 * (1 + 16384 / 8)); // inflates to 33.6 MB, RGBA would be 1 GiB
    expect(bomb.length).toBeLessThan(100_000);
    expect(() => decodeImage(bomb, { source: 'bomb.png' })).toThrow(ImageFormatError);
    expect(() => decodeImage(bomb, { source: 'bomb.png' }))
      .toThrow("image 'bomb.png': 16384x16384 is 268.4 megapixels, more than the limit of 100 (scale the image down first)");
  });

  it('rejects a JPEG whose frame header declares more than the limit', () => {
    const w = 64;
    const jpg = new Uint8Array(encodeJpeg({ width: w, height: w, data: new Uint8Array(w * w * 4).fill(90) }, 90).data);
    // patch the SOF0 frame size to 20000x20000
    let i = 2;
    while (jpg[i + 1] !== 0xc0) i += 2 + ((jpg[i + 2]! << 8) | jpg[i + 3]!);
    jpg.set([20000 >> 8, 20000 & 255, 20000 >> 8, 20000 & 255], i + 5);
    expect(() => decodeImage(jpg, { source: 'big.jpg' })).toThrow(/image 'big.jpg': 20000x20000 is 400\.0 megapixels, more than the limit of 100/);
  });

  it('the limit is an option; images within it decode', () => {
    const png = grayPng(1000, 1000, 8, 1000 * 1001);
    expect(() => decodeImage(png, { source: 'p.png', maxMegapixels: 0.5 })).toThrow(/1000x1000 is 1\.0 megapixels, more than the limit of 0\.5/);
    const img = decodeImage(png, { source: 'p.png', maxMegapixels: 1 });
    expect([img.width, img.height, img.data[0], img.data[3]]).toEqual([1000, 1000, 0, 255]);
  });

  it('stops inflating an IDAT stream far longer than the image needs', () => {
    const png = grayPng(8, 8, 8, 8 * 2 ** 20); // 8 MiB of zeros for a 72-byte image
    expect(() => decodeImage(png, { source: 'z.png' })).toThrow(/image 'z.png': invalid PNG: image data inflates to over 1 MiB more than the 72 bytes 8x8 needs/);
  });
});
