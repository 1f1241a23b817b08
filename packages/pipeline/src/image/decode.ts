/**
 * Image decoding by content: the magic bytes pick PNG (pngjs) or JPEG (jpeg-js); anything else is an
 * ImageFormatError that names the source and, where recognisable, the format it actually is.
 */
import { decode as decodeJpegData } from 'jpeg-js';
import type { RgbaImage } from '../options.js';
import { ImageFormatError } from './errors.js';
import { DEFAULT_MAX_MEGAPIXELS, checkPixelLimit, jpegSize } from './limits.js';
import { decodePng } from './png.js';
import { hasPngSignature } from './png_chunks.js';

export type ImageFormat = 'png' | 'jpeg';

export interface DecodeImageOptions {
  /** A file name or label for error messages (default 'image data'). */
  source?: string;
  /**
   * Refuse images above this many megapixels (default 100), checked against the declared size before decoding: a
   * guard against decompression bombs in every format.
   */
  maxMegapixels?: number;
}

/** Formats we recognise only to name them in the error. */
const OTHER_FORMATS: ReadonlyArray<{ name: string; test: (b: Uint8Array) => boolean }> = [
  { name: 'GIF', test: (b) => ascii(b, 0, 4) === 'GIF8' },
  { name: 'WebP', test: (b) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP' },
  { name: 'BMP', test: (b) => ascii(b, 0, 2) === 'BM' },
  { name: 'TIFF', test: (b) => ascii(b, 0, 4) === 'II*\0' || ascii(b, 0, 4) === 'MM\0*' },
  { name: 'AVIF/HEIF', test: (b) => ascii(b, 4, 8) === 'ftyp' },
  { name: 'QOI', test: (b) => ascii(b, 0, 4) === 'qoif' },
];

function ascii(b: Uint8Array, from: number, to: number): string {
  return b.length >= to ? String.fromCharCode(...b.subarray(from, to)) : '';
}

/** JPEG files start with SOI (FF D8) followed by a marker (FF xx). */
const isJpeg = (b: Uint8Array) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;

/** 'png' | 'jpeg' by magic bytes, or null. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (hasPngSignature(bytes)) return 'png';
  if (isJpeg(bytes)) return 'jpeg';
  return null;
}

/** What the bytes look like, for error messages: a known format's name or the first bytes in hex. */
export function describeBytes(bytes: Uint8Array): string {
  const known = OTHER_FORMATS.find((f) => f.test(bytes));
  if (known) return `${known.name} data`;
  if (bytes.length === 0) return 'an empty file';
  const head = Array.from(bytes.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
  return `unrecognised data starting with ${head}`;
}

/** Decodes PNG or JPEG bytes into 8-bit RGBA. */
export function decodeImage(bytes: Uint8Array, opts: DecodeImageOptions = {}): RgbaImage {
  const source = opts.source ?? 'image data';
  if (!(bytes instanceof Uint8Array)) throw new ImageFormatError(source, 'expected a Uint8Array of file bytes');
  const format = sniffImageFormat(bytes);
  const max = opts.maxMegapixels ?? DEFAULT_MAX_MEGAPIXELS;
  if (format === 'png') return decodePng(bytes, source, max);
  if (format === 'jpeg') return decodeJpeg(bytes, source, max);
  throw new ImageFormatError(source, `unsupported format: ${describeBytes(bytes)} (expected PNG or JPEG)`);
}

/** Baseline and progressive JPEG (gray, YCbCr, CMYK/Adobe) via jpeg-js, expanded to opaque RGBA. EXIF orientation is not applied. */
export function decodeJpeg(bytes: Uint8Array, source = 'JPEG data', maxMegapixels = DEFAULT_MAX_MEGAPIXELS): RgbaImage {
  const declared = jpegSize(bytes);
  if (declared) checkPixelLimit(source, declared.width, declared.height, maxMegapixels);
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = decodeJpegData(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxMegapixels });
  } catch (e) {
    const msg = typeof e === 'string' ? e : (e as Error).message;
    throw new ImageFormatError(source, `invalid JPEG: ${msg}`);
  }
  const { width, height, data } = img;
  if (!(width > 0 && height > 0) || data.length !== width * height * 4) {
    throw new ImageFormatError(source, `invalid JPEG: decoder returned ${data.length} bytes for ${width}x${height} RGBA`);
  }
  return { width, height, data };
}
