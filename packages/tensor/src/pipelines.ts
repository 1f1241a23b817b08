import { GpuError, ShaderCompileError } from './errors.js';
import { type Kernel, kernelSource } from './kernel.js';
import { ShaderStage } from './gpu_flags.js';

interface Entry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Never reused: part of bind-group cache keys. */
  id: number;
}

/**
 * Compiled pipelines keyed by kernel name (each kernel variant has its own name). Compilation runs inside a
 * validation error scope; a failure is reported through `onError` as a ShaderCompileError with the WGSL, and the
 * next flush or readback throws it. `compiled` / `requested` count the compile checks that finished / started, for a
 * "compiling shaders (n/m)" display (a pipeline's check finishes once the implementation has compiled it).
 */
export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #entries = new Map<string, Entry>();
  readonly #onError: (e: Error) => void;
  /** Resolves when every compile check started so far has finished. */
  #checks: Promise<unknown>[] = [];
  #nextId = 1;
  #requested = 0;
  #compiled = 0;

  constructor(device: GPUDevice, onError: (e: Error) => void) {
    this.#device = device;
    this.#onError = onError;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Pipelines created so far (failed ones included). */
  get requested(): number {
    return this.#requested;
  }

  /** Pipelines whose compile check has finished (successfully or not). */
  get compiled(): number {
    return this.#compiled;
  }

  get(kernel: Kernel): Entry {
    let e = this.#entries.get(kernel.name);
    if (!e) {
      e = this.#compile(kernel);
      this.#entries.set(kernel.name, e);
    }
    return e;
  }

  /** Waits for outstanding compile checks (so their errors are reported). */
  async settle(): Promise<void> {
    const checks = this.#checks;
    this.#checks = [];
    await Promise.all(checks);
  }

  /**
   * Compiles `kernel` and waits for the result: null when it compiled (the pipeline is cached, as by `get`), else the
   * ShaderCompileError, returned rather than reported (for kernels that use an optional, possibly unsupported WGSL
   * extension, chosen only once they compile).
   */
  async tryCompile(kernel: Kernel): Promise<ShaderCompileError | null> {
    if (this.#entries.has(kernel.name)) return null;
    const code = kernelSource(kernel);
    const device = this.#device;
    device.pushErrorScope('validation');
    const built = this.#build(kernel, code);
    const err = await device.popErrorScope();
    this.#requested++;
    this.#compiled++;
    if (!err) {
      this.#entries.set(kernel.name, built.entry);
      return null;
    }
    const info = await built.module.getCompilationInfo();
    const msgs = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
    return new ShaderCompileError(kernel.name, msgs || err.message, code);
  }

  #build(kernel: Kernel, code: string): { entry: Entry; module: GPUShaderModule } {
    const device = this.#device;
    const module = device.createShaderModule({ code, label: kernel.name });
    const entries: GPUBindGroupLayoutEntry[] = kernel.bindings.map((b, i) => ({
      binding: i,
      visibility: ShaderStage.COMPUTE,
      buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (kernel.uniforms.length) {
      // dynamic offset: the bind group stays the same wherever the batch's uniform arena put this dispatch's values
      entries.push({
        binding: kernel.bindings.length, visibility: ShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true },
      });
    }
    const layout = device.createBindGroupLayout({ entries, label: kernel.name });
    const pipeline = device.createComputePipeline({
      label: kernel.name,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    return { entry: { pipeline, layout, id: this.#nextId++ }, module };
  }

  #compile(kernel: Kernel): Entry {
    const code = kernelSource(kernel);
    const device = this.#device;
    device.pushErrorScope('validation');
    const { entry, module } = this.#build(kernel, code);
    this.#requested++;
    const check = device.popErrorScope().then(async (err) => {
      if (!err) return;
      const info = await module.getCompilationInfo();
      const msgs = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
      this.#entries.delete(kernel.name);
      this.#onError(new ShaderCompileError(kernel.name, msgs || err.message, code));
    }).catch((e: unknown) => {
      // popErrorScope / getCompilationInfo reject once the device is lost: the loss itself is reported by the
      // Device, so this only keeps the rejection from going unhandled.
      this.#entries.delete(kernel.name);
      this.#onError(new GpuError(`compiling '${kernel.name}': ${e instanceof Error ? e.message : String(e)}`));
    }).finally(() => {
      this.#compiled++;
    });
    this.#checks.push(check);
    return entry;
  }
}
