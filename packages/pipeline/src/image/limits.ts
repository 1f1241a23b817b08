/**
 * The pixel limit of decoded images, checked against the size a file declares before any pixel is decoded: a 32 KB
 * 1-bit PNG may declare 32768x32768 (4 GiB of RGBA).
 */
import { ImageFormatError } from './errors.js';

/** Default limit of `decodeImage` (100 megapixels: 400 MB of RGBA, 25 times SD's largest output). */
export const DEFAULT_MAX_MEGAPIXELS = 100;

export function checkPixelLimit(source: string, width: number, height: number, maxMegapixels: number): void {
  const mp = (width * height) / 1e6;
  if (mp > maxMegapixels) {
    throw new ImageFormatError(
      source, `${width}x${height} is ${mp.toFixed(1)} megapixels, more than the limit of ${maxMegapixels} (scale the image down first)`,
    );
  }
}

/** SOFn markers (baseline, progressive, lossless, arithmetic) carry the frame size; C4, C8, CC are not frames. */
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** The width and height a JPEG's frame header declares, or null when no frame header precedes the scan. */
export function jpegSize(b: Uint8Array): { width: number; height: number } | null {
  let i = 2; // after SOI
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2; // markers without a length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return null; // scan or end before any frame
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    if (isSof(marker)) {
      if (i + 9 > b.length) return null;
      return { height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]! };
    }
    i += 2 + len;
  }
  return null;
}
