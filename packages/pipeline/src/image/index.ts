// Browser-safe image helpers. PNG/JPEG encoding and decoding (Node: pngjs, jpeg-js, zlib) are in ./node_io,
// exported as `@sd-webgpu/pipeline/node`.
export { ImageFormatError, ParametersFormatError } from './errors.js';
export { checkRgbaImage } from './rgba.js';
export {
  type ParameterFields, type ParsedParameters, SAMPLER_DISPLAY_NAMES, formatParameters, parseParameters,
} from './parameters.js';
export { type ResizeFilter, resizeRgba } from './resize.js';
export { tensorToRgba, rgbaToTensorData, sampleToByte, roundHalfEven } from './tensor.js';
export { withParametersChunk } from './png_chunks.js';
