// Node-only image I/O (pngjs, jpeg-js, zlib).
export { type EncodePngOptions, encodePng, decodePng, readPngText } from './png';
export { type ImageFormat, type DecodeImageOptions, decodeImage, decodeJpeg, sniffImageFormat, describeBytes } from './decode';
export { crc32 } from './png_chunks';
