import { type DType, BYTES_PER_ELEMENT } from './dtype.js';
import {
  CaptureError, type DeviceLostError, DisposedTensorError, GpuOutOfMemoryError, ShaderCompileError, UnsupportedError,
} from './errors.js';
import { DispatchGraph, type GraphHost } from './graph.js';
import { fromGpuError, fromLost, fromRejection } from './gpu_errors.js';
import type { Kernel } from './kernel.js';
import { debugLog } from './log.js';
import { PipelineCache } from './pipelines.js';
import { BufferPool, type PoolStats } from './pool.js';
import { StagingPool } from './readback.js';
import type { BindGroupStats } from './bindgroups.js';
import { type RunArgs, Recorder } from './recorder.js';
import { Storage, Tensor, encodeHost, numel } from './tensor.js';
import { GpuTimer } from './timer.js';
import { MapMode } from './gpu_flags.js';

export interface DeviceOptions {
  /** A `GPU` object (defaults to `navigator.gpu`, or Dawn's `webgpu` package in Node). */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Request `shader-f16` when the adapter has it (default true). */
  f16?: boolean;
  /**
   * Lower the binding limit the runtime plans with (never above the adapter's). Used to test the split paths
   * cheaply; real GPUs may have as little as 128 MiB.
   */
  maxStorageBufferBindingSize?: number;
  /** Cap of the buffer pool's free lists in bytes. */
  maxFreeBytes?: number;
  /**
   * 'adapter' (default) requests the adapter's own memory and workgroup limits; 'default' requests no raised limit at
   * all, so the device runs inside WebGPU's default limits (128 MiB per storage binding, 256 MiB per buffer, 16 KiB of
   * workgroup memory, 256 invocations per workgroup) as on the most constrained browsers.
   */
  limits?: 'adapter' | 'default';
  /** Flags passed to Dawn's `create()` in Node (e.g. `enable-dawn-features=vulkan_enable_f16_on_nvidia`). */
  dawnFlags?: string[];
  /** Auto-submit after this many dispatches (bounds a batch's uniform memory); default 2048. */
  maxBatchDispatches?: number;
  /** Called for every uncaptured WebGPU error or device loss (they are also thrown at the next flush/readback). */
  onError?: (e: Error) => void;
}

export interface DeviceLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  minStorageBufferOffsetAlignment: number;
  minUniformBufferOffsetAlignment: number;
  maxComputeWorkgroupsPerDimension: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupStorageSize: number;
}

/** One subgroup-matrix shape the adapter multiplies natively (Dawn's `GPUSubgroupMatrixConfig`). */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface DeviceFeatures {
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
  /**
   * The configs of Dawn's experimental `chromium-experimental-subgroup-matrix` feature (tensor cores), empty when the
   * device lacks it. Dawn lists the feature only with the `allow_unsafe_apis` toggle (in Node:
   * `dawnFlags: ['enable-dawn-features=allow_unsafe_apis']`; in Chrome: --enable-unsafe-webgpu).
   */
  subgroupMatrix: readonly SubgroupMatrixConfig[];
}

const NODE_WEBGPU = 'webgpu';
const SUBGROUP_MATRIX = 'chromium-experimental-subgroup-matrix';
/** Node's WebGPU (Dawn's binding) completes promises by busy polling; browsers do not. */
const POLLING_RUNTIME = typeof process !== 'undefined' && !!process.versions?.node;

/**
 * One Dawn instance per flag set, for the whole process. Each `create()` opens a Vulkan instance whose file
 * descriptors and memory Dawn frees only when the garbage collector finds the wrapper, so a fresh instance per Device
 * leaked one descriptor and ~2.5 MiB per create/dispose cycle. Being referenced here also keeps Dawn's node objects
 * alive while their devices live (otherwise Dawn crashes at random).
 */
const dawnInstances = new Map<string, Promise<GPU>>();

function nodeGpu(flags: string[]): Promise<GPU> {
  const key = flags.join('\n');
  let gpu = dawnInstances.get(key);
  if (!gpu) {
    gpu = (async () => {
      const mod = (await import(/* @vite-ignore */ NODE_WEBGPU)) as { create(f: string[]): GPU; globals: object };
      for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      return mod.create(flags);
    })();
    gpu.catch(() => dawnInstances.delete(key));
    dawnInstances.set(key, gpu);
  }
  return gpu;
}

/** The WebGPU device with its pool, pipeline cache and command recorder. One per process is typical. */
export class Device {
  readonly gpu: GPUDevice;
  readonly limits: Readonly<DeviceLimits>;
  readonly features: Readonly<DeviceFeatures>;
  /** Adapter identity; subgroup sizes where the adapter reports them (Dawn does), for the kernel table. */
  readonly adapterInfo: {
    vendor: string; architecture: string; device: string; description: string; subgroupMinSize?: number; subgroupMaxSize?: number;
  };
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly #recorder: Recorder;
  readonly #staging: StagingPool;
  readonly #errors: Error[] = [];
  readonly #onError?: (e: Error) => void;
  readonly #maxBatch: number;
  readonly #scopes: Set<Tensor>[] = [];
  /** Live dispatch graphs (they watch releases of the buffers they bind without owning). */
  readonly #graphs = new Set<DispatchGraph>();
  /** The capture in progress: buffers acquired during it, and buffers acquired before it but released during it. */
  #capture: { acquired: Set<GPUBuffer>; releasedOutside: Set<GPUBuffer> } | null = null;
  /** GPU buffers to destroy right after the next submit (recorded work may still use them). */
  #destroyAfterSubmit: GPUBuffer[] = [];
  readonly #graphHost: GraphHost = {
    replay: (log) => {
      this.#check();
      if (this.#capture) throw new CaptureError('a graph cannot be replayed inside a capture');
      this.#recorder.replay(log);
      if (this.#recorder.pendingDispatches >= this.#maxBatch) this.flush();
    },
    release: (graph) => {
      this.#graphs.delete(graph);
      if (this.#disposed) return;
      for (const t of [graph.output, ...graph.inputs]) t.dispose();
      for (const b of graph.adopted) this.pool.release(b);
      this.#destroyAfterSubmit.push(...graph.uniformBuffers);
    },
  };
  /** Removed on dispose, so a GPUDevice wrapper someone still holds no longer references this Device and its pool. */
  readonly #onUncaptured: (ev: Event) => void;
  #disposed = false;
  #lost: DeviceLostError | null = null;

  private constructor(gpu: GPUDevice, adapter: GPUAdapter, opts: DeviceOptions) {
    this.gpu = gpu;
    const l = gpu.limits;
    this.limits = {
      maxStorageBufferBindingSize: Math.min(l.maxStorageBufferBindingSize, opts.maxStorageBufferBindingSize ?? Infinity),
      maxBufferSize: l.maxBufferSize,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    };
    const info = (adapter.info ?? {}) as Partial<GPUAdapterInfo> & {
      subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[];
    };
    this.features = {
      f16: gpu.features.has('shader-f16'),
      subgroups: gpu.features.has('subgroups'),
      timestamps: gpu.features.has('timestamp-query'),
      subgroupMatrix: Object.freeze(gpu.features.has(SUBGROUP_MATRIX) ? (info.subgroupMatrixConfigs ?? []).map((c) => ({
        componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K,
      })) : []),
    };
    this.adapterInfo = {
      vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
      subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize,
    };
    this.#onError = opts.onError;
    this.#maxBatch = opts.maxBatchDispatches ?? 2048;
    this.pool = new BufferPool(gpu, {
      maxFreeBytes: opts.maxFreeBytes, maxBufferSize: l.maxBufferSize, onDestroy: (b) => this.#recorder.forget(b),
      onRelease: (b) => this.#released(b),
    });
    this.pipelines = new PipelineCache(gpu, (e) => this.#report(e));
    this.#recorder = new Recorder(gpu, this.pipelines, this.limits);
    this.#staging = new StagingPool(gpu);
    this.#onUncaptured = (ev) => this.#report(fromGpuError((ev as GPUUncapturedErrorEvent).error));
    gpu.addEventListener('uncapturederror', this.#onUncaptured);
    void gpu.lost.then((info) => {
      if (this.#disposed) return;
      this.#lost = fromLost(info);
      this.#report(this.#lost);
    });
  }

  static async create(opts: DeviceOptions = {}): Promise<Device> {
    let gpu = opts.gpu ?? (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) {
      if (typeof process === 'undefined' || !process.versions?.node) {
        throw new UnsupportedError('Device.create', 'this environment has no WebGPU (navigator.gpu is missing)');
      }
      const flags = ['disable-dawn-features=timestamp_quantization', ...(opts.dawnFlags ?? [])];
      gpu = await nodeGpu(flags);
    }
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    if (!adapter) throw new UnsupportedError('Device.create', 'no WebGPU adapter is available');
    const wanted = ['timestamp-query', 'subgroups', SUBGROUP_MATRIX] as GPUFeatureName[];
    if (opts.f16 !== false) wanted.push('shader-f16');
    const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
    const a = adapter.limits;
    const gpuDevice = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: opts.limits === 'default' ? {} : {
        maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
        maxBufferSize: a.maxBufferSize,
        maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupSizeY: a.maxComputeWorkgroupSizeY,
        maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
      },
    });
    return new Device(gpuDevice, adapter, opts);
  }

  /** The loss, once the GPUDevice is lost (every later call throws it); null while the device works. */
  get lost(): DeviceLostError | null {
    return this.#lost;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  get dispatchCount(): number {
    return this.#recorder.totalDispatches;
  }

  poolStats(): PoolStats {
    return this.pool.stats;
  }

  /** Bind-group cache counters (hits, misses, entries dropped because their buffer was destroyed, size). */
  bindGroupStats(): BindGroupStats {
    return this.#recorder.bindGroupStats;
  }

  /** Bytes of the largest storage binding any dispatch has used (checked against `limits.maxStorageBufferBindingSize`). */
  get largestBindingBytes(): number {
    return this.#recorder.largestBinding;
  }

  /** Whether tensors of `dtype` can be created here. */
  supports(dtype: DType): boolean {
    return dtype !== 'f16' || this.features.f16;
  }

  /** The float dtype to use for a request: f16 falls back to f32 where `shader-f16` is missing. */
  floatType(requested: 'f32' | 'f16'): 'f32' | 'f16' {
    if (requested === 'f16' && !this.features.f16) {
      debugLog('device', 'f16 requested but the adapter has no shader-f16: using f32');
      return 'f32';
    }
    return requested;
  }

  // --- tensors ---

  /**
   * An uninitialised tensor from the pool (for kernel outputs). `exact`: a buffer of exactly the tensor's size (no
   * bucket rounding, never pooled), for long-lived tensors such as weights derived at load time.
   */
  empty(shape: readonly number[], dtype: DType = 'f32', opts: { exact?: boolean } = {}): Tensor {
    this.#check();
    if (!this.supports(dtype)) throw new UnsupportedError('empty', `dtype f16 needs the shader-f16 feature`);
    const bytes = numel(shape) * BYTES_PER_ELEMENT[dtype];
    return new Tensor(new Storage(this, this.pool.acquire(bytes, { exact: opts.exact }), bytes), shape, dtype);
  }

  /** Uploads host data (`Uint16Array` for f16 is taken as raw f16 bits). */
  tensor(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    this.#check();
    this.#noCapture('uploading a tensor');
    if (!this.supports(dtype)) throw new UnsupportedError('tensor', `dtype f16 needs the shader-f16 feature`);
    const n = numel(shape);
    if (data.length !== n) {
      throw new UnsupportedError('tensor', `${data.length} values do not fill shape [${shape.join(',')}] (${n})`);
    }
    const bytes = encodeHost(data, dtype);
    const buffer = this.pool.acquire(bytes.byteLength, { forUpload: true });
    this.writeBuffer(buffer, 0, bytes);
    return new Tensor(new Storage(this, buffer, bytes.byteLength), shape, dtype);
  }

  /** Writes bytes into a buffer (length padded to 4 as WebGPU requires). */
  writeBuffer(buffer: GPUBuffer, offset: number, bytes: Uint8Array): void {
    this.#noCapture('writing a buffer from the host');
    if (bytes.byteLength % 4 === 0) this.gpu.queue.writeBuffer(buffer, offset, bytes);
    else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.gpu.queue.writeBuffer(buffer, offset, padded);
    }
  }

  /** Called by every Tensor constructor: registers it in the innermost scope. */
  track(t: Tensor): void {
    this.#scopes[this.#scopes.length - 1]?.add(t);
  }

  /** Exempts `t` from every open scope (the caller now owns it), e.g. to keep an activation seen by a tap. */
  keep<T extends Tensor>(t: T): T {
    for (const s of this.#scopes) s.delete(t);
    return t;
  }

  /**
   * Runs `fn`; every tensor created inside and not returned (directly, or inside returned arrays/objects) is
   * disposed afterwards. Returned tensors move to the enclosing scope. Scopes must not interleave across awaits.
   */
  scope<T>(fn: () => T): T {
    this.#scopes.push(new Set());
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.#closeScope(undefined);
      throw e;
    }
    if (result instanceof Promise) {
      this.#closeScope(undefined);
      throw new UnsupportedError('scope', 'fn returned a Promise: use scopeAsync for async functions');
    }
    this.#closeScope(result);
    return result;
  }

  async scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
    this.#scopes.push(new Set());
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      this.#closeScope(undefined);
      throw e;
    }
    this.#closeScope(result);
    return result;
  }

  #closeScope(result: unknown): void {
    const created = this.#scopes.pop()!;
    const keep = new Set<Tensor>();
    collectTensors(result, keep, 0);
    const parent = this.#scopes[this.#scopes.length - 1];
    for (const t of created) {
      if (keep.has(t)) parent?.add(t);
      else t.dispose();
    }
  }

  // --- dispatch ---

  /** The one dispatch path: records `kernel` into the current batch. Never submits by itself except past the batch cap. */
  run(kernel: Kernel, args: RunArgs): void {
    this.#check();
    this.#recorder.dispatch(kernel, args);
    if (this.#recorder.pendingDispatches >= this.#maxBatch) this.flush();
  }

  /** Copies bytes between tensors' buffers inside the current batch. */
  copy(src: Tensor, srcOffset: number, dst: Tensor, dstOffset: number, bytes: number): void {
    this.#check();
    this.#recorder.copy(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
  }

  /**
   * Runs `fn` (its work is recorded and runs as usual) and returns a `DispatchGraph` that can issue the same
   * dispatches and copies again with `replay()` at a fraction of the host cost (./graph.ts). The graph owns the
   * tensor `fn` returns (its `output`), the tensors in `owns` (its `inputs`: write new values into them before a
   * replay) and every intermediate buffer; tensors created inside `fn` and not returned are disposed as in `scope`.
   * Uploads, readbacks and replays inside `fn` throw `CaptureError`, as does `fn` releasing a tensor that existed
   * before the capture and that it bound (a replay would read whatever reused that buffer).
   */
  capture<T extends Tensor>(fn: () => T, opts: { owns?: readonly Tensor[] } = {}): DispatchGraph<T> {
    this.#check();
    const inputs = opts.owns ?? [];
    const log = this.#recorder.beginCapture();
    const state = { acquired: new Set<GPUBuffer>(), releasedOutside: new Set<GPUBuffer>() };
    this.#capture = state;
    this.pool.track(state.acquired);
    let output: T;
    try {
      output = this.scope(fn);
    } catch (e) {
      this.#destroyAfterSubmit.push(...log.arena.buffers);
      throw e;
    } finally {
      this.pool.track(null);
      this.#capture = null;
      this.#recorder.endCapture(this.gpu.queue);
    }
    const fail = (why: string): never => {
      this.#destroyAfterSubmit.push(...log.arena.buffers);
      if (output instanceof Tensor) output.dispose();
      throw new CaptureError(why);
    };
    if (!(output instanceof Tensor)) fail('fn must return one tensor (the graph output)');
    for (const b of state.releasedOutside) {
      if (log.buffers.has(b)) fail(`fn released a buffer it binds that existed before the capture (${b.label}): a replay would read whatever reused it`);
    }
    if (inputs.some((t) => t.disposed)) fail('an input tensor (owns) was disposed during the capture');
    this.keep(output);
    for (const t of inputs) this.keep(t);
    const owned = new Set<GPUBuffer>([output.buffer, ...inputs.map((t) => t.buffer)]);
    const adopted = [...state.acquired].filter((b) => !owned.has(b) && this.pool.adopt(b));
    for (const b of adopted) owned.add(b);
    const external = new Set([...log.buffers].filter((b) => !owned.has(b)));
    const graph = new DispatchGraph(output, inputs, log, adopted, external, this.#graphHost);
    this.#graphs.add(graph as DispatchGraph);
    return graph;
  }

  /** Submits everything recorded so far; throws errors reported since the last check (e.g. a failed compile). */
  flush(): void {
    this.#submit();
    this.#throwErrors();
  }

  #submit(): void {
    this.#check();
    const cmd = this.#recorder.finish(this.gpu.queue);
    if (cmd) this.gpu.queue.submit([cmd]);
    this.pool.onSubmit();
    if (this.#destroyAfterSubmit.length) {
      for (const b of this.#destroyAfterSubmit) {
        this.#recorder.forget(b);
        b.destroy();
      }
      this.#destroyAfterSubmit = [];
    }
  }

  #released(buffer: GPUBuffer): void {
    const c = this.#capture;
    if (c && !c.acquired.has(buffer)) c.releasedOutside.add(buffer);
    for (const g of this.#graphs) g.watch(buffer);
  }

  #noCapture(what: string): void {
    if (this.#capture) throw new CaptureError(`${what} inside a capture: a replay would not repeat it (do it before the capture)`);
  }

  /**
   * Submits and waits until the GPU is idle; throws any error reported meanwhile. `idleMs`: how long the work is
   * expected to take at least (e.g. the shortest previous step of a loop). In Node, Dawn's binding polls for the
   * completion in a busy `setImmediate` loop for as long as the wait lasts, a full core spinning (and, on a CPU
   * adapter, taking that core from the GPU work: 10-15 % slower here); sleeping `idleMs` on a timer first leaves only
   * the tail to poll. Browsers wait on events, so there it is ignored.
   */
  async sync(opts: { idleMs?: number } = {}): Promise<void> {
    this.#submit();
    try {
      const idle = opts.idleMs ?? 0;
      if (idle >= 1 && Number.isFinite(idle) && POLLING_RUNTIME) await new Promise((r) => setTimeout(r, idle));
      await this.gpu.queue.onSubmittedWorkDone();
      await this.pipelines.settle();
    } catch (e) {
      throw this.#failure('waiting for the GPU', e);
    }
    this.#throwErrors();
  }

  /**
   * Compiles `kernel` now and waits: null when it compiled (its pipeline is cached for `run`), else the
   * ShaderCompileError, returned instead of failing the next flush. For kernels on an optional WGSL extension (the
   * subgroup-matrix GEMM), which callers choose only once they compile.
   */
  async tryCompile(kernel: Kernel): Promise<ShaderCompileError | null> {
    this.#check();
    return this.pipelines.tryCompile(kernel);
  }

  /** Reads `bytes` bytes at `offset` of a buffer (submits pending work first). */
  async readBytes(buffer: GPUBuffer, offset: number, bytes: number): Promise<Uint8Array> {
    this.#check();
    this.#noCapture('reading back');
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.#staging.acquire(size);
    // The scope catches an invalid submit before its (never copied) staging bytes could be returned as data.
    this.gpu.pushErrorScope('validation');
    let mapped = false;
    try {
      this.#recorder.endPass().copyBufferToBuffer(buffer, offset, staging, 0, size);
      this.#submit();
      await staging.mapAsync(MapMode.READ, 0, size);
      mapped = true;
    } catch (e) {
      await this.gpu.popErrorScope().catch(() => null);
      staging.destroy();
      await this.pipelines.settle().catch(() => undefined);
      if (!this.#disposed) this.#throwErrors();
      throw this.#failure(`readback of ${bytes} bytes`, e);
    }
    const err = await this.gpu.popErrorScope();
    const out = new Uint8Array(staging.getMappedRange(0, size).slice(0, bytes));
    if (mapped) staging.unmap();
    this.#staging.release(staging);
    await this.pipelines.settle();
    this.#throwErrors();
    if (err) throw fromGpuError(err);
    return out;
  }

  /**
   * Submits recorded work and gives every unused pooled buffer back to the GPU (free lists, and weights released since
   * the last submit); live tensors are untouched. Used when a model is disposed on a device that lives on.
   */
  trim(): void {
    if (this.#disposed || this.#lost) return; // nothing to give back
    this.#submit();
    this.pool.trim();
  }

  /** A GPU timer over the work recorded between its begin() and end() (null without timestamp-query). */
  timer(): GpuTimer | null {
    return this.features.timestamps ? new GpuTimer(this, this.#recorder) : null;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#recorder.destroy();
    this.#staging.destroy();
    for (const b of this.#destroyAfterSubmit) b.destroy();
    this.#graphs.clear();
    this.pool.destroyAll();
    this.gpu.removeEventListener('uncapturederror', this.#onUncaptured);
    this.gpu.destroy();
  }

  #check(): void {
    if (this.#disposed) throw new DisposedTensorError('Device');
    if (this.#lost) {
      this.#errors.length = 0;
      throw this.#lost;
    }
  }

  #failure(what: string, e: unknown): Error {
    return fromRejection(what, e, { disposed: this.#disposed, lost: this.#lost });
  }

  #report(e: Error): void {
    this.#errors.push(e);
    this.#onError?.(e);
  }

  /** Throws the root cause first: a failed compile or allocation makes every later command buffer invalid too. */
  #throwErrors(): void {
    const e = this.#lost ?? this.#errors.find((x) => x instanceof ShaderCompileError)
      ?? this.#errors.find((x) => x instanceof GpuOutOfMemoryError) ?? this.#errors[0];
    if (e) {
      this.#errors.length = 0;
      throw e;
    }
  }
}

function collectTensors(v: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 4 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const x of v) collectTensors(x, out, depth + 1);
  else if (v instanceof Map) for (const x of v.values()) collectTensors(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collectTensors(x, out, depth + 1);
}
