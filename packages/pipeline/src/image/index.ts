export { ImageFormatError, ParametersFormatError } from './errors';
export { type EncodePngOptions, encodePng, decodePng, readPngText, checkRgbaImage } from './png';
export { type ImageFormat, type DecodeImageOptions, decodeImage, decodeJpeg, sniffImageFormat, describeBytes } from './decode';
export {
  type ParameterFields, type ParsedParameters, SAMPLER_DISPLAY_NAMES, formatParameters, parseParameters,
} from './parameters';
export { type ResizeFilter, resizeRgba } from './resize';
export { tensorToRgba, rgbaToTensorData, sampleToByte, roundHalfEven } from './tensor';
export { crc32 } from './png_chunks';
