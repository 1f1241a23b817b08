import { LimitError } from './errors.js';
import { type Kernel, packUniforms } from './kernel.js';
import type { PipelineCache } from './pipelines.js';
import type { Tensor } from './tensor.js';

/** A window of a buffer bound as one storage binding (for tensors larger than the binding limit). */
export interface BufferWindow {
  readonly tensor: Tensor;
  /** Byte offset: a multiple of the device's minStorageBufferOffsetAlignment. */
  readonly offset: number;
  readonly size: number;
}

export type Binding = Tensor | BufferWindow;

export interface RunArgs {
  readonly bindings: Readonly<Record<string, Binding>>;
  readonly uniforms?: Readonly<Record<string, number>>;
  /** Workgroup counts; an x beyond the per-dimension limit is folded into y (kernels use num_workgroups). */
  readonly workgroups: readonly [number, number?, number?];
}

export interface RecorderLimits {
  maxStorageBufferBindingSize: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
  maxComputeWorkgroupsPerDimension: number;
}

const CHUNK = 64 * 1024;

/** Uniform values of one batch: CPU mirrors of 64 KiB uniform buffers, written once per submit. */
class UniformArena {
  readonly #device: GPUDevice;
  readonly #align: number;
  readonly #chunks: { buffer: GPUBuffer; mirror: Uint8Array }[] = [];
  #chunk = 0;
  #cursor = 0;

  constructor(device: GPUDevice, align: number) {
    this.#device = device;
    this.#align = Math.max(256, align);
  }

  push(bytes: ArrayBuffer): { buffer: GPUBuffer; offset: number; size: number } {
    if (this.#cursor + bytes.byteLength > CHUNK) {
      this.#chunk++;
      this.#cursor = 0;
    }
    if (this.#chunk === this.#chunks.length) {
      const buffer = this.#device.createBuffer({ size: CHUNK, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniforms' });
      this.#chunks.push({ buffer, mirror: new Uint8Array(CHUNK) });
    }
    const c = this.#chunks[this.#chunk]!;
    const offset = this.#cursor;
    c.mirror.set(new Uint8Array(bytes), offset);
    this.#cursor += Math.ceil(bytes.byteLength / this.#align) * this.#align;
    return { buffer: c.buffer, offset, size: bytes.byteLength };
  }

  /** Uploads what this batch used; must run before the submit. Queue order makes reuse after it safe. */
  upload(queue: GPUQueue): void {
    for (let i = 0; i <= this.#chunk && i < this.#chunks.length; i++) {
      const used = i < this.#chunk ? CHUNK : this.#cursor;
      if (used) queue.writeBuffer(this.#chunks[i]!.buffer, 0, this.#chunks[i]!.mirror, 0, used);
    }
    this.#chunk = 0;
    this.#cursor = 0;
  }

  destroy(): void {
    for (const c of this.#chunks) c.buffer.destroy();
  }
}

/**
 * Records dispatches into one command encoder and one open compute pass; `submit()` ends and submits the batch.
 * Nothing here submits per op.
 */
export class Recorder {
  readonly #device: GPUDevice;
  readonly #pipelines: PipelineCache;
  readonly #limits: RecorderLimits;
  readonly #uniforms: UniformArena;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  /** Dispatches recorded since the last submit. */
  pendingDispatches = 0;
  /** Dispatches recorded in total. */
  totalDispatches = 0;
  /** Bytes of the largest storage binding ever bound. */
  largestBinding = 0;

  constructor(device: GPUDevice, pipelines: PipelineCache, limits: RecorderLimits) {
    this.#device = device;
    this.#pipelines = pipelines;
    this.#limits = limits;
    this.#uniforms = new UniformArena(device, limits.minUniformBufferOffsetAlignment);
  }

  get encoder(): GPUCommandEncoder {
    this.#encoder ??= this.#device.createCommandEncoder();
    return this.#encoder;
  }

  /** Ends the open compute pass (before copies or timestamp passes). */
  endPass(): GPUCommandEncoder {
    this.#pass?.end();
    this.#pass = null;
    return this.encoder;
  }

  /** Opens an empty pass that only writes a timestamp. */
  timestamp(querySet: GPUQuerySet, index: number): void {
    this.endPass().beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: index } }).end();
  }

  dispatch(kernel: Kernel, args: RunArgs): void {
    const { pipeline, layout } = this.#pipelines.get(kernel);
    const entries: GPUBindGroupEntry[] = kernel.bindings.map((decl, i) => {
      const b = args.bindings[decl.name];
      if (!b) throw new Error(`kernel '${kernel.name}': binding '${decl.name}' missing`);
      return { binding: i, resource: this.#resource(kernel, decl.name, b) };
    });
    if (kernel.uniforms.length) {
      const u = this.#uniforms.push(packUniforms(kernel, args.uniforms ?? {}));
      entries.push({ binding: kernel.bindings.length, resource: { buffer: u.buffer, offset: u.offset, size: u.size } });
    }
    const [x, y, z] = this.#fold(kernel, args.workgroups);
    if (x === 0 || y === 0 || z === 0) return;
    const group = this.#device.createBindGroup({ layout, entries });
    this.#pass ??= this.encoder.beginComputePass();
    this.#pass.setPipeline(pipeline);
    this.#pass.setBindGroup(0, group);
    this.#pass.dispatchWorkgroups(x, y, z);
    this.pendingDispatches++;
    this.totalDispatches++;
  }

  /** Finishes the batch; returns the command buffer to submit (null if nothing was recorded). */
  finish(queue: GPUQueue): GPUCommandBuffer | null {
    this.endPass();
    const enc = this.#encoder;
    this.#encoder = null;
    this.pendingDispatches = 0;
    this.#uniforms.upload(queue);
    return enc ? enc.finish() : null;
  }

  destroy(): void {
    this.#uniforms.destroy();
  }

  #resource(kernel: Kernel, name: string, b: Binding): GPUBufferBinding {
    const lim = this.#limits;
    const isWindow = 'tensor' in b;
    const tensor = isWindow ? b.tensor : b;
    const offset = isWindow ? b.offset : 0;
    const size = Math.ceil((isWindow ? b.size : tensor.byteLength) / 4) * 4;
    if (size > lim.maxStorageBufferBindingSize) {
      throw new LimitError(kernel.name, `binding '${name}' of ${tensor.describe()} is ${size} bytes, over the ` +
        `device's maxStorageBufferBindingSize ${lim.maxStorageBufferBindingSize}: the op must split it`);
    }
    if (offset % lim.minStorageBufferOffsetAlignment !== 0) {
      throw new LimitError(kernel.name, `binding '${name}' offset ${offset} is not a multiple of ${lim.minStorageBufferOffsetAlignment}`);
    }
    this.largestBinding = Math.max(this.largestBinding, size);
    return { buffer: tensor.buffer, offset, size: Math.max(4, size) };
  }

  /**
   * Grids wider than the per-dimension limit fold x into (x, y): kernels that can meet such grids take their
   * workgroups as [n, 1, z], compute the flat index `wid.x + wid.y * num_workgroups.x` and bounds-check it.
   */
  #fold(kernel: Kernel, wg: RunArgs['workgroups']): [number, number, number] {
    let [x, y = 1, z = 1] = wg;
    const max = this.#limits.maxComputeWorkgroupsPerDimension;
    if (x > max && y === 1) {
      y = Math.ceil(x / max);
      x = Math.ceil(x / y);
    }
    if (x > max || y > max || z > max) {
      throw new LimitError(kernel.name, `dispatch ${wg.join('x')} exceeds ${max} workgroups per dimension`);
    }
    return [x, y, z];
  }
}
