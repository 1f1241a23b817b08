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
  /** The function or class that rejected the value, and the option's name there (e.g. 'steps'). */
  readonly where: string;
  readonly param: string;
  constructor(where: string, param: string, detail: string) {
    super('parameter', `${where}: parameter '${param}' ${detail}`);
    this.where = where;
    this.param = param;
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

/** A failure reported by WebGPU (validation, internal error), or GPU work cancelled by `Device.dispose()`. */
export class GpuError extends SdError {
  constructor(detail: string, code = 'gpu') {
    super(code, detail);
  }
}

/** The GPU device was lost (driver reset, device destroyed, GPU removed): every later use of it throws this. */
export class DeviceLostError extends GpuError {
  readonly reason: string;
  constructor(reason: string, detail: string) {
    super(`the GPU device was lost (${reason}${detail ? `: ${detail}` : ''}); dispose it, create a new Device and load the model again`, 'device-lost');
    this.reason = reason;
  }
}

/** The GPU could not allocate memory. */
export class GpuOutOfMemoryError extends GpuError {
  constructor(detail: string) {
    super(`the GPU ran out of memory (${detail}): use smaller or fewer images, f16 weights, or close other GPU programs`, 'gpu-oom');
  }
}

/** A size beyond what the device allows and that no split path handles. */
export class LimitError extends SdError {
  constructor(op: string, detail: string) {
    super('limit', `${op}: ${detail}`);
  }
}

export const shapeStr = fmt;

/** Something a dispatch graph cannot record (an upload, a readback, a nested capture) or a capture that failed. */
export class CaptureError extends SdError {
  constructor(detail: string) {
    super('capture', `Device.capture: ${detail}`);
  }
}

/**
 * Replay of a dispatch graph whose recorded commands no longer mean what they did: a buffer it binds but does not
 * own was released or destroyed after the capture (a disposed weight, a tensor handed back to the pool), or the graph
 * was disposed. Capture it again.
 */
export class StaleGraphError extends SdError {
  constructor(detail: string) {
    super('stale-graph', `DispatchGraph.replay: ${detail}`);
  }
}
