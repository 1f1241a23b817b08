import { DeviceLostError, GpuError, GpuOutOfMemoryError, SdError } from './errors.js';

/** Turns WebGPU's error objects and rejected promises into typed errors whose message says what to do. */

const isA = (e: unknown, ctor: string): boolean => {
  const C = (globalThis as Record<string, unknown>)[ctor];
  return typeof C === 'function' && e instanceof (C as new () => object);
};

/** An error from an `uncapturederror` event or a popped error scope. */
export function fromGpuError(error: GPUError): GpuError {
  const msg = error.message.trim() || 'no message';
  if (isA(error, 'GPUOutOfMemoryError')) return new GpuOutOfMemoryError(msg);
  if (isA(error, 'GPUValidationError')) {
    return new GpuError(`WebGPU validation error (a bug in sd-webgpu or a size beyond the device's limits; please report it with SD_WEBGPU_DEBUG=1 output): ${msg}`);
  }
  if (isA(error, 'GPUInternalError')) return new GpuError(`internal GPU driver error (try smaller images or update the driver): ${msg}`);
  return new GpuError(`uncaptured WebGPU error: ${msg}`);
}

/** A lost device's info. */
export function fromLost(info: GPUDeviceLostInfo): DeviceLostError {
  return new DeviceLostError(String(info.reason ?? 'unknown'), info.message.trim());
}

/**
 * A rejected WebGPU promise (mapAsync, onSubmittedWorkDone, popErrorScope): Dawn rejects with a DOMException whose
 * message may be empty, so the Device's state says what happened.
 */
export function fromRejection(what: string, e: unknown, state: { disposed: boolean; lost: DeviceLostError | null }): Error {
  if (e instanceof SdError) return e;
  if (state.lost) return state.lost;
  if (state.disposed) return new GpuError(`${what} cancelled: the Device was disposed while the GPU was still working on it`);
  const name = e instanceof Error ? e.name : 'Error';
  const msg = e instanceof Error ? e.message.trim() : String(e);
  return new GpuError(`${what} failed (${name}${msg ? `: ${msg}` : ''})`);
}
