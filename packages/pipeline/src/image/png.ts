/**
 * PNG encode/decode through pngjs (sync API), plus the `parameters` text chunk that A1111-style tools read.
 */
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { ParameterError } from '@sd-webgpu/tensor';
import type { RgbaImage } from '../options.js';
import { ImageFormatError } from './errors.js';
import { DEFAULT_MAX_MEGAPIXELS, checkPixelLimit } from './limits.js';
import { checkRgbaImage } from './rgba.js';
import { type PngChunk, decodeTextChunk, readChunks, withParametersChunk } from './png_chunks.js';

export interface EncodePngOptions {
  /**
   * Generation parameters (see formatParameters), stored under the keyword `parameters`: a tEXt chunk when the text
   * is Latin-1, otherwise an iTXt chunk with UTF-8 text. Placed right after IHDR so readers find it early.
   */
  parameters?: string;
}

/** PNG colour types (PNG spec table 11.1) used by the encoder. */
const COLOR_RGB = 2;
const COLOR_RGBA = 6;


/**
 * Encodes an RGBA image as an 8-bit PNG. Opaque images (every alpha 255) are written as RGB, like the reference
 * pipeline's PIL output; others keep their alpha channel.
 */
export function encodePng(image: RgbaImage, opts: EncodePngOptions = {}): Uint8Array {
  checkRgbaImage('encodePng', image);
  const { width, height, data } = image;
  let opaque = true;
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] !== 255) {
      opaque = false;
      break;
    }
  }
  const png = new PNG({ width, height });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const encoded = PNG.sync.write(png, {
    colorType: opaque ? COLOR_RGB : COLOR_RGBA,
    inputColorType: COLOR_RGBA,
    inputHasAlpha: true,
  });
  const bytes = new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  if (opts.parameters === undefined) return bytes;
  if (typeof opts.parameters !== 'string') throw new ParameterError('encodePng', 'parameters', 'must be a string');
  return withParametersChunk(bytes, opts.parameters, 'encodePng output');
}

/**
 * Decodes a PNG of any bit depth and colour type (gray, gray+alpha, RGB, RGBA, palette; 1-16 bits; interlaced)
 * into 8-bit RGBA. pngjs expands palettes and gray, applies tRNS, and rescales 16-bit samples with round(v·255/65535).
 */
export function decodePng(bytes: Uint8Array, source = 'PNG data', maxMegapixels = DEFAULT_MAX_MEGAPIXELS): RgbaImage {
  // structure, CRCs, the declared size and the inflated data size first: pngjs silently returns zeros for a corrupt
  // IDAT stream
  checkPixelData(readChunks(bytes, source), source, maxMegapixels);
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new ImageFormatError(source, `invalid PNG: ${(e as Error).message}`);
  }
  const { width, height } = png;
  const data = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
  if (data.length !== width * height * 4) {
    throw new ImageFormatError(source, `decoder returned ${data.length} bytes for ${width}x${height} RGBA`);
  }
  return { width, height, data: new Uint8Array(data) };
}

/** Samples per pixel of each PNG colour type; the allowed bit depths. */
const COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};

/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/**
 * Checks IHDR's fields and that the IDAT stream inflates to exactly the bytes the image needs (one filter byte per
 * scanline, per Adam7 pass when interlaced).
 */
function checkPixelData(chunks: readonly PngChunk[], source: string, maxMegapixels: number): void {
  const ihdr = chunks[0]!.data;
  if (ihdr.length !== 13) throw new ImageFormatError(source, `IHDR has ${ihdr.length} bytes, expected 13`);
  const v = new DataView(ihdr.buffer, ihdr.byteOffset, ihdr.byteLength);
  const width = v.getUint32(0);
  const height = v.getUint32(4);
  const depth = ihdr[8]!;
  const colorType = ihdr[9]!;
  const interlace = ihdr[12]!;
  const ct = COLOR_TYPES[colorType];
  if (width < 1 || height < 1) throw new ImageFormatError(source, `invalid size ${width}x${height}`);
  checkPixelLimit(source, width, height, maxMegapixels);
  if (!ct || !ct.depths.includes(depth)) throw new ImageFormatError(source, `invalid colour type ${colorType} with bit depth ${depth}`);
  if (interlace !== 0 && interlace !== 1) throw new ImageFormatError(source, `invalid interlace method ${interlace}`);
  if (colorType === 3 && !chunks.some((c) => c.type === 'PLTE')) throw new ImageFormatError(source, 'palette image without PLTE chunk');
  const idat = chunks.filter((c) => c.type === 'IDAT');
  if (idat.length === 0) throw new ImageFormatError(source, 'no IDAT chunk');
  const rowBytes = (w: number) => Math.ceil((w * ct.channels * depth) / 8) + 1;
  let expected = 0;
  if (interlace === 0) expected = height * rowBytes(width);
  else {
    for (const [xs, ys, dx, dy] of ADAM7) {
      const pw = width > xs ? Math.ceil((width - xs) / dx) : 0;
      const ph = height > ys ? Math.ceil((height - ys) / dy) : 0;
      if (pw > 0 && ph > 0) expected += ph * rowBytes(pw);
    }
  }
  let inflated: number;
  try {
    // bounded: a deflate bomb stops at what the (limited) image could need, plus slack for trailing bytes
    inflated = inflateSync(Buffer.concat(idat.map((c) => c.data)), { maxOutputLength: expected + 2 ** 20 }).length;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ImageFormatError(source, `invalid PNG: image data inflates to over 1 MiB more than the ${expected} bytes ${width}x${height} needs`);
    }
    throw new ImageFormatError(source, `invalid PNG: image data does not inflate (${(e as Error).message})`);
  }
  if (inflated < expected) {
    throw new ImageFormatError(source, `invalid PNG: image data has ${inflated} bytes, ${width}x${height} needs ${expected}`);
  }
}

/**
 * The text chunks (tEXt, zTXt, iTXt; compressed ones inflated) of a PNG as keyword → text. When a keyword
 * occurs twice the later chunk wins (as PIL's `info` does). Throws ImageFormatError on a malformed file.
 */
export function readPngText(bytes: Uint8Array, source = 'PNG data'): Record<string, string> {
  const texts = new Map<string, string>();
  for (const chunk of readChunks(bytes, source)) {
    const t = decodeTextChunk(chunk, source, (z) => new Uint8Array(inflateSync(z)));
    if (t) texts.set(t.keyword, t.text);
  }
  return Object.fromEntries(texts); // own data properties even for a keyword like '__proto__'
}
