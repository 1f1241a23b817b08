/** Base class of every error sd-webgpu throws on purpose. `code` is stable for programmatic checks. */
export class SdError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Operand shapes that an op cannot combine. */
export class ShapeError extends SdError {
  constructor(op: string, detail: string, shapes: readonly (readonly number[])[] = []) {
    super('shape', `${op}: ${detail}${shapes.length ? ` (shapes ${shapes.map(fmt).join(' vs ')})` : ''}`);
  }
}

/** A dtype (or dtype combination) an op or device does not support. */
export class UnsupportedError extends SdError {
  constructor(op: string, detail: string) {
    super('unsupported', `${op}: ${detail}`);
  }
}

/** A parameter outside its valid range. */
export class ParameterError extends SdError {
  constructor(where: string, param: string, detail: string) {
    super('parameter', `${where}: parameter '${param}' ${detail}`);
  }
}

/** Use of a tensor (or device) after dispose(). */
export class DisposedTensorError extends SdError {
  constructor(what: string) {
    super('disposed', `${what} was used after dispose()`);
  }
}

/** WGSL that failed to compile or a pipeline that failed validation. */
export class ShaderCompileError extends SdError {
  readonly wgsl: string;
  constructor(kernel: string, messages: string, wgsl: string) {
    super('shader', `kernel '${kernel}' failed to compile:\n${messages}\n--- WGSL ---\n${wgsl}`);
    this.wgsl = wgsl;
  }
}

/** An uncaptured WebGPU error or a lost device. */
export class GpuError extends SdError {
  constructor(detail: string) {
    super('gpu', detail);
  }
}

/**
 * The GPUDevice was lost (driver reset, out of memory, GPU process crash, or destroyed): every later call on the
 * Device throws this. `reason` is WebGPU's ('destroyed' or 'unknown'); a new Device is needed to continue.
 */
export class DeviceLostError extends GpuError {
  readonly reason: string;
  constructor(reason: string, detail: string) {
    super(`the GPU device was lost (${reason})${detail ? `: ${detail}` : ''}`);
    this.reason = reason;
  }
}

/** A size beyond what the device allows and that no split path handles. */
export class LimitError extends SdError {
  constructor(op: string, detail: string) {
    super('limit', `${op}: ${detail}`);
  }
}

export const shapeStr = fmt;
