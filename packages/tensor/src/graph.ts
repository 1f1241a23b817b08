import type { CommandLog } from './command_log.js';
import { StaleGraphError } from './errors.js';
import type { Tensor } from './tensor.js';

/** What a graph needs from its device (kept out of the public API). */
export interface GraphHost {
  replay(log: CommandLog): void;
  release(graph: DispatchGraph): void;
}

/**
 * A recorded sequence of dispatches and copies that can be issued again without running the code that produced it:
 * `Device.capture(fn)` runs `fn` once (its work is recorded and runs as usual) and keeps what the recorder issued;
 * `replay()` re-issues exactly that into the current batch at about raw Dawn's cost per dispatch, because nothing is
 * planned, packed, looked up or allocated. Like a CUDA graph, it repeats the same kernels over the same buffers with
 * the same uniform values, so it computes the same function of whatever those buffers hold when it runs: write new
 * inputs into `inputs` (e.g. `Device.copy`), replay, read `output`.
 *
 * Ownership and safety:
 * - The graph owns its inputs (the tensors given as `owns`), its `output` and every intermediate buffer the capture
 *   took from the pool: the pool cannot hand those to anyone else while the graph lives, so no other tensor's data
 *   is ever overwritten by a replay. `dispose()` gives them back.
 * - Every other buffer it binds (weights, tensors the caller still owns) is watched: once one is released or destroyed
 *   the graph is stale and `replay()` throws `StaleGraphError` instead of binding a buffer that may now hold another
 *   tensor. Capture again.
 * - Captures refuse what a replay could not repeat: uploads, readbacks, nested captures (`CaptureError`).
 */
export class DispatchGraph<T extends Tensor = Tensor> {
  /** Dispatches issued per replay. */
  readonly dispatches: number;
  #stale: string | null = null;
  #disposed = false;

  constructor(
    readonly output: T,
    readonly inputs: readonly Tensor[],
    private readonly log: CommandLog,
    /** Pool buffers the graph took over (its intermediates). */
    readonly adopted: readonly GPUBuffer[],
    /** Buffers it binds without owning them. */
    readonly external: ReadonlySet<GPUBuffer>,
    private readonly host: GraphHost,
  ) {
    this.dispatches = log.dispatches;
  }

  /** Why the graph can no longer be replayed, or null while it can. */
  get stale(): string | null {
    return this.#disposed ? 'the graph was disposed' : this.#stale;
  }

  /** The graph's own uniform buffers (its recorded values, uploaded once). */
  get uniformBuffers(): readonly GPUBuffer[] {
    return this.log.arena.buffers;
  }

  /** Called by the device when a buffer is released or destroyed. */
  watch(buffer: GPUBuffer): void {
    if (this.#stale === null && this.external.has(buffer)) {
      this.#stale = `a buffer it binds but does not own (${buffer.label || 'unlabelled'}, ${buffer.size} bytes) was released after the capture`;
    }
  }

  /** Re-issues the recorded commands into the current batch. */
  replay(): void {
    const why = this.stale;
    if (why) throw new StaleGraphError(`${why}: capture it again`);
    this.host.replay(this.log);
  }

  /** Gives back the inputs, the output, the intermediates and the uniform buffers (after the work already recorded). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.host.release(this);
  }
}
