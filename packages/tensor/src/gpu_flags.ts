/**
 * WebGPU flag values, fixed by the WebGPU specification. Used instead of the `GPUBufferUsage` / `GPUMapMode` /
 * `GPUShaderStage` globals so that the published declarations need only the WebGPU interfaces of TypeScript's DOM
 * library (which has no declarations of those globals' values), not `@webgpu/types`.
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  INDEX: 0x0010,
  VERTEX: 0x0020,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  INDIRECT: 0x0100,
  QUERY_RESOLVE: 0x0200,
} as const;

export const MapMode = { READ: 0x0001, WRITE: 0x0002 } as const;

export const ShaderStage = { VERTEX: 0x1, FRAGMENT: 0x2, COMPUTE: 0x4 } as const;
