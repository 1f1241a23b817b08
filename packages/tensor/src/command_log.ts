import { UniformArena } from './uniforms.js';

/**
 * The commands a capture recorded (see ./graph.ts), in order, as the recorder needs them to re-issue them: per
 * dispatch the pipeline, the bind group, the dynamic uniform offset (or none) and the workgroup counts; per copy the
 * two buffer ranges. Uniform values live in the log's own arena, uploaded once, so a replay writes no uniforms.
 */
export class CommandLog {
  readonly arena: UniformArena;
  /** Per command: the pipeline, or null for a copy. */
  readonly pipelines: (GPUComputePipeline | null)[] = [];
  readonly groups: (GPUBindGroup | null)[] = [];
  /** Per command: the dynamic uniform offset, or -1 for a kernel without uniforms (and for copies). */
  readonly #offsets: number[] = [];
  /** Per command: workgroups x, y, z at 3i.. (a copy: nothing). */
  readonly #grid: number[] = [];
  readonly copies: ({ src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number } | null)[] = [];
  /** Every buffer a command binds or copies (the graph watches the ones it does not own). */
  readonly buffers = new Set<GPUBuffer>();
  dispatches = 0;
  /** Sealed forms for replay: offsets as the Uint32Array `setBindGroup` takes, has-offset flags and grids. */
  offsetData = new Uint32Array(0);
  hasOffset = new Uint8Array(0);
  grid = new Uint32Array(0);

  constructor(device: GPUDevice, uniformAlign: number) {
    this.arena = new UniformArena(device, uniformAlign);
  }

  get length(): number {
    return this.pipelines.length;
  }

  dispatch(pipeline: GPUComputePipeline, group: GPUBindGroup, offset: number, x: number, y: number, z: number): void {
    this.pipelines.push(pipeline);
    this.groups.push(group);
    this.#offsets.push(offset);
    this.#grid.push(x, y, z);
    this.copies.push(null);
    this.dispatches++;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.pipelines.push(null);
    this.groups.push(null);
    this.#offsets.push(-1);
    this.#grid.push(0, 0, 0);
    this.copies.push({ src, srcOffset, dst, dstOffset, bytes });
    this.buffers.add(src);
    this.buffers.add(dst);
  }

  /** Ends recording: builds the typed arrays replay reads. */
  seal(): void {
    this.offsetData = Uint32Array.from(this.#offsets, (o) => Math.max(0, o));
    this.hasOffset = Uint8Array.from(this.#offsets, (o) => (o >= 0 ? 1 : 0));
    this.grid = Uint32Array.from(this.#grid);
  }
}
