import { describe, expect, it } from 'vitest';
import { encode as encodeJpeg } from 'jpeg-js';
import { ImageFormatError, decodeImage, describeBytes, sniffImageFormat } from '../helpers/image';

/** A smooth test picture (JPEG's DCT keeps smooth content nearly exact at high quality). */
function smooth(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = Math.round((255 * x) / (width - 1));
      data[i + 1] = Math.round((255 * y) / (height - 1));
      data[i + 2] = Math.round(128 + 60 * Math.sin((x + y) / 9));
      data[i + 3] = 255;
    }
  }
  return data;
}

describe('decodeImage: JPEG', () => {
  it('decodes a JPEG written by jpeg-js to opaque RGBA close to the source', () => {
    const [w, h] = [40, 24];
    const src = smooth(w, h);
    const jpg = new Uint8Array(encodeJpeg({ width: w, height: h, data: src }, 100).data);
    expect(sniffImageFormat(jpg)).toBe('jpeg');
    const img = decodeImage(jpg, { source: 'photo.jpg' });
    expect([img.width, img.height]).toEqual([w, h]);
    let maxDiff = 0;
    let sumDiff = 0;
    for (let i = 0; i < src.length; i++) {
      if (i % 4 === 3) {
        expect(img.data[i]).toBe(255);
        continue;
      }
      const d = Math.abs(img.data[i]! - src[i]!);
      maxDiff = Math.max(maxDiff, d);
      sumDiff += d;
    }
    // quality 100 still quantises and rounds through YCbCr: measured max 3 levels, mean 0.6 on this picture; 2x that
    // margin. A wrong channel order or a missed YCbCr→RGB transform would be off by tens to hundreds
    expect(maxDiff).toBeLessThanOrEqual(6);
    expect(sumDiff / ((src.length * 3) / 4)).toBeLessThan(1.2);
  });

  it('rejects a truncated JPEG with an ImageFormatError naming the file', () => {
    const jpg = new Uint8Array(encodeJpeg({ width: 16, height: 16, data: smooth(16, 16) }, 90).data);
    const cut = jpg.subarray(0, 40); // inside the headers
    expect(() => decodeImage(cut, { source: 'cut.jpg' })).toThrow(ImageFormatError);
    expect(() => decodeImage(cut, { source: 'cut.jpg' })).toThrow(/image 'cut.jpg': invalid JPEG/);
  });
});

describe('decodeImage: other formats', () => {
  const bytes = (s: string, pad = 16) => Uint8Array.from([...s].map((c) => c.charCodeAt(0)).concat(Array(pad).fill(0)));

  it.each([
    ['GIF89a', 'GIF'],
    ['RIFF\x10\0\0\0WEBPVP8 ', 'WebP'],
    ['BM6\0\0\0', 'BMP'],
    ['II*\0', 'TIFF'],
    ['\0\0\0\x18ftypavif', 'AVIF/HEIF'],
  ])('names %j as %s', (magic, name) => {
    const b = bytes(magic);
    expect(sniffImageFormat(b)).toBeNull();
    expect(() => decodeImage(b, { source: 'in.img' })).toThrow(
      `image 'in.img': unsupported format: ${name} data (expected PNG or JPEG)`,
    );
  });

  it('shows the first bytes of unknown data and handles empty input', () => {
    expect(describeBytes(Uint8Array.from([1, 2, 0xab]))).toBe('unrecognised data starting with 01 02 ab');
    expect(() => decodeImage(new Uint8Array(0))).toThrow(`image 'image data': unsupported format: an empty file`);
    expect(() => decodeImage('not bytes' as unknown as Uint8Array, { source: 's' })).toThrow(ImageFormatError);
  });
});
