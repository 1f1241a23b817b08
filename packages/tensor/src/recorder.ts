import { BindGroupCache, type BindGroupStats } from './bindgroups.js';
import { CommandLog } from './command_log.js';
import { CaptureError, DisposedTensorError, LimitError } from './errors.js';
import { type Kernel, uniformBytes } from './kernel.js';
import type { PipelineCache } from './pipelines.js';
import type { Tensor } from './tensor.js';
import { UniformArena } from './uniforms.js';

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

/**
 * Records dispatches into one command encoder and one open compute pass; `submit()` ends and submits the batch.
 * Nothing here submits per op. Per dispatch the host work is: look up the pipeline, write the uniforms into the
 * batch's arena (bound with a dynamic offset), find the bind group in the cache by a numeric key (created only the first
 * time these exact buffer ranges are bound), and three pass calls.
 */
export class Recorder {
  readonly #device: GPUDevice;
  readonly #pipelines: PipelineCache;
  readonly #limits: RecorderLimits;
  readonly #uniforms: UniformArena;
  readonly #groups: BindGroupCache;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #lastPipeline: GPUComputePipeline | null = null;
  readonly #dynamicOffset = new Uint32Array(1);
  /** The capture in progress (./graph.ts): dispatches and copies are also logged, uniforms go to its arena. */
  #log: CommandLog | null = null;
  /** Scratch of the dispatch being recorded: binding i's buffer, and its offset and size at 2i, 2i+1. */
  readonly #buffers: GPUBuffer[] = [];
  readonly #ranges: number[] = [];
  /** Scratch bind-group key: pipeline id, then buffer id, offset and size per binding, then the uniform chunk id. */
  readonly #key: number[] = [];
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
    this.#groups = new BindGroupCache(device);
  }

  get bindGroupStats(): BindGroupStats {
    return this.#groups.stats;
  }

  /** Drops cached bind groups that bind `buffer`; the pool calls it before destroying a buffer. */
  forget(buffer: GPUBuffer): void {
    this.#groups.forget(buffer);
  }

  get encoder(): GPUCommandEncoder {
    this.#encoder ??= this.#device.createCommandEncoder();
    return this.#encoder;
  }

  /** Ends the open compute pass (before copies or timestamp passes). */
  endPass(): GPUCommandEncoder {
    this.#pass?.end();
    this.#pass = null;
    this.#lastPipeline = null;
    return this.encoder;
  }

  /** Starts logging every dispatch and copy into a new command log (one capture at a time). */
  beginCapture(): CommandLog {
    if (this.#log) throw new CaptureError('a capture is already in progress (captures do not nest)');
    this.#log = new CommandLog(this.#device, this.#limits.minUniformBufferOffsetAlignment);
    return this.#log;
  }

  /** Stops logging; uploads the log's uniforms (before the batch that recorded them is submitted) and seals it. */
  endCapture(queue: GPUQueue): CommandLog {
    const log = this.#log;
    if (!log) throw new CaptureError('no capture is in progress');
    this.#log = null;
    log.arena.sync(queue);
    log.seal();
    return log;
  }

  get capturing(): boolean {
    return this.#log !== null;
  }

  /**
   * Re-issues a sealed log's commands into the current batch: per dispatch at most setPipeline, setBindGroup with the
   * recorded dynamic offset and dispatchWorkgroups; nothing is looked up, packed or created.
   */
  replay(log: CommandLog): void {
    const { pipelines, groups, offsetData, hasOffset, grid, copies } = log;
    const n = pipelines.length;
    let pass = this.#pass;
    let last = this.#lastPipeline;
    for (let i = 0; i < n; i++) {
      const pipeline = pipelines[i];
      if (!pipeline) {
        const c = copies[i]!;
        pass?.end();
        pass = null;
        last = null;
        this.encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.bytes);
        continue;
      }
      if (!pass) pass = this.encoder.beginComputePass();
      if (pipeline !== last) {
        pass.setPipeline(pipeline);
        last = pipeline;
      }
      if (hasOffset[i]) pass.setBindGroup(0, groups[i]!, offsetData, i, 1);
      else pass.setBindGroup(0, groups[i]!);
      pass.dispatchWorkgroups(grid[3 * i]!, grid[3 * i + 1]!, grid[3 * i + 2]!);
    }
    this.#pass = pass;
    this.#lastPipeline = last;
    this.pendingDispatches += log.dispatches;
    this.totalDispatches += log.dispatches;
  }

  /** Records a buffer-to-buffer copy into the current batch (logged while capturing). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.#log?.copy(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Opens an empty pass that only writes a timestamp. */
  timestamp(querySet: GPUQuerySet, index: number): void {
    this.endPass().beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: index } }).end();
  }

  dispatch(kernel: Kernel, args: RunArgs): void {
    const [x, y, z] = this.#fold(kernel, args.workgroups);
    const { pipeline, layout, id } = this.#pipelines.get(kernel);
    const decls = kernel.bindings;
    const buffers = this.#buffers;
    const ranges = this.#ranges;
    const key = this.#key;
    key[0] = id;
    let n = 1;
    for (let i = 0; i < decls.length; i++) {
      const name = decls[i]!.name;
      const b = args.bindings[name];
      if (!b) throw new Error(`kernel '${kernel.name}': binding '${name}' missing`);
      this.#resolve(kernel, name, b, i);
      key[n++] = this.#groups.id(buffers[i]!);
      key[n++] = ranges[2 * i]!;
      key[n++] = ranges[2 * i + 1]!;
    }
    if (x === 0 || y === 0 || z === 0) return;
    let chunk: GPUBuffer | null = null;
    const log = this.#log;
    if (kernel.uniforms.length) {
      const u = (log ? log.arena : this.#uniforms).push(kernel, args.uniforms ?? {});
      chunk = u.chunk.buffer;
      key[n++] = u.chunk.id;
      this.#dynamicOffset[0] = u.offset;
    }
    const group = this.#groups.get(key, n, layout, () => {
      const entries: GPUBindGroupEntry[] = [];
      for (let i = 0; i < decls.length; i++) {
        entries.push({ binding: i, resource: { buffer: buffers[i]!, offset: ranges[2 * i]!, size: ranges[2 * i + 1]! } });
      }
      if (chunk) entries.push({ binding: decls.length, resource: { buffer: chunk, offset: 0, size: uniformBytes(kernel) } });
      return entries;
    });
    if (!this.#pass) {
      this.#pass = this.encoder.beginComputePass();
      this.#lastPipeline = null;
    }
    if (pipeline !== this.#lastPipeline) {
      this.#pass.setPipeline(pipeline);
      this.#lastPipeline = pipeline;
    }
    if (chunk) this.#pass.setBindGroup(0, group, this.#dynamicOffset, 0, 1);
    else this.#pass.setBindGroup(0, group);
    this.#pass.dispatchWorkgroups(x, y, z);
    if (log) {
      log.dispatch(pipeline, group, chunk ? this.#dynamicOffset[0]! : -1, x, y, z);
      for (let i = 0; i < decls.length; i++) log.buffers.add(buffers[i]!);
    }
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
    this.#log?.arena.sync(queue); // a capture spanning a submit: its uniforms so far must land before this batch runs
    return enc ? enc.finish() : null;
  }

  destroy(): void {
    this.#groups.clear();
    this.#uniforms.destroy();
  }

  /** Checks binding `i` and puts its buffer, offset and size into the scratch arrays. */
  #resolve(kernel: Kernel, name: string, b: Binding, i: number): void {
    const lim = this.#limits;
    const isWindow = 'tensor' in b;
    const tensor = isWindow ? b.tensor : b;
    if (tensor.disposed) throw new DisposedTensorError(`${tensor.describe()} (binding '${name}' of kernel '${kernel.name}')`);
    const offset = isWindow ? b.offset : 0;
    const size = Math.ceil((isWindow ? b.size : tensor.byteLength) / 4) * 4;
    if (size > lim.maxStorageBufferBindingSize) {
      throw new LimitError(kernel.name, `binding '${name}' of ${tensor.describe()} is ${size} bytes, over the ` +
        `device's maxStorageBufferBindingSize ${lim.maxStorageBufferBindingSize}: the op must split it`);
    }
    if (offset % lim.minStorageBufferOffsetAlignment !== 0) {
      throw new LimitError(kernel.name, `binding '${name}' offset ${offset} is not a multiple of ${lim.minStorageBufferOffsetAlignment}`);
    }
    if (size > this.largestBinding) this.largestBinding = size;
    this.#buffers[i] = tensor.buffer;
    this.#ranges[2 * i] = offset;
    this.#ranges[2 * i + 1] = Math.max(4, size);
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
