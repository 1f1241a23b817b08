// Node-only image I/O (pngjs, jpeg-js, zlib).
export { type EncodePngOptions, encodePng, decodePng, readPngText } from './png.js';
export { type ImageFormat, type DecodeImageOptions, decodeImage, decodeJpeg, sniffImageFormat, describeBytes } from './decode.js';
export { crc32 } from './png_chunks.js';
export { DEFAULT_MAX_MEGAPIXELS } from './limits.js';
