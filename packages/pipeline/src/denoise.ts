import type { Device, Tensor } from '@sd-webgpu/tensor';
import { concat, linearCombination, slice } from '@sd-webgpu/kernels';
import { FiniteWatch } from './finite_watch.js';
import type { ProgressCallback } from './options.js';
import type { TorchGenerator } from './rng/index.js';
import type { Scheduler } from './schedulers/index.js';

/** Thrown when an AbortSignal stops a generation between steps. */
export class GenerationAbortedError extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('generation aborted');
  }
}

/** What the loop calls the noise predictor with: any UNet-shaped model (`[rows, C, h, w]`, t, context → `[rows, 4, h, w]`). */
export interface NoisePredictor {
  forward(sample: Tensor, timestep: number, context: Tensor): Tensor;
  /**
   * Optional: the same predictor for a loop at fixed shapes, cheaper per call on the host (the UNet returns a
   * dispatch-graph replayer, `UNetGraph`); the loop disposes it when it ends.
   */
  replayable?(): { forward(sample: Tensor, timestep: number, context: Tensor): Tensor; dispose(): void };
}

/** Where the loop is, for hooks. */
export interface StepInfo {
  /** 0-based step index into `timesteps`. */
  index: number;
  timestep: number;
  totalSteps: number;
}

export interface DenoiseOptions {
  device: Device;
  unet: NoisePredictor;
  scheduler: Scheduler<Tensor>;
  generator: TorchGenerator;
  /** The starting latents `[n, C, h, w]` (already scaled by the scheduler's init noise sigma). Owned by the loop: disposed. */
  latents: Tensor;
  timesteps: readonly number[];
  /** Prompt embeddings `[rows, 77, hidden]`: with guidance the n unconditional rows first, then the n prompt rows. Borrowed. */
  context: Tensor;
  /** Classifier-free guidance scale; > 1 runs the unconditional and the prompt rows in one batch. */
  guidanceScale: number;
  /**
   * The model input hook: receives the scheduler-scaled latents (`[rows, C, h, w]`, CFG rows included) and returns the
   * UNet input. An inpainting UNet appends its mask and masked-image latents here. Runs inside the step's scope:
   * tensors it creates are freed after the step.
   */
  modelInput?: (scaled: Tensor, step: StepInfo) => Tensor;
  /**
   * Runs after the scheduler step with the new latents (owned by the hook: return them or a replacement and dispose
   * what you replaced). A 4-channel inpainting run blends the noised original back in here.
   */
  afterStep?: (latents: Tensor, step: StepInfo) => Tensor;
  /**
   * Called after a step's GPU work finished with the current latents and, where the scheduler gives one, its x0
   * estimate (both borrowed: copy what you keep), e.g. for previews. Runs before `onProgress` of the same step.
   */
  onLatents?: (latents: Tensor, step: StepInfo, x0?: Tensor) => void | Promise<void>;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /**
   * Evaluate the noise predictor through its `replayable()` form (default true): the first step captures the UNet's
   * dispatches, later steps replay them, bit-identical, at a fraction of the host time per dispatch.
   */
  replay?: boolean;
}

/**
 * Share of the shortest step wait seen so far that the loop sleeps before it polls for the next step's completion:
 * low enough that a step a little faster than the fastest so far is not delayed (a faster step lowers the minimum for
 * the next), high enough to leave only a short tail to Dawn's busy poll in Node (`Device.sync`). On lavapipe this
 * frees the core the poll took (eight 1024² matmuls: 604 → 546 ms per wait, main-thread CPU 450 → 0-10 ms).
 */
const IDLE_FRACTION = 0.8;

/** Throws GenerationAbortedError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new GenerationAbortedError();
}

/**
 * The denoising loop every generation mode shares: CFG batching, model-input hook, scheduler step, post-step hook,
 * progress and abort. Between steps it waits for the queue, so the event loop runs (an abort or a UI update lands
 * between steps) whether or not anyone listens to progress; an already-aborted signal stops it before any GPU work.
 * Returns the final latents (owned by the caller). The scheduler's multistep state is reset afterwards.
 */
export async function denoise(o: DenoiseOptions): Promise<Tensor> {
  const dev = o.device;
  const guide = o.guidanceScale > 1;
  const n = o.latents.shape[0]!;
  let latents = o.latents;
  let x0: Tensor | null = null;
  let watch: FiniteWatch | null = null;
  let shortestWait = 0;
  const replayer = o.replay !== false ? (o.unet.replayable?.() ?? null) : null;
  const predictor = replayer ?? o.unet;
  try {
    throwIfAborted(o.signal);
    // NaN/Inf in the latents: one tiny flag dispatch per step, read once at the end (NonFiniteError names the step)
    watch = new FiniteWatch(dev, o.timesteps.length);
    for (let i = 0; i < o.timesteps.length; i++) {
      const t = o.timesteps[i]!;
      const step: StepInfo = { index: i, timestep: t, totalSteps: o.timesteps.length };
      const x = latents;
      // Transient tensors of the step belong to the scope (freed even if the UNet throws); scheduler values are
      // owned explicitly (GpuLatentBackend keeps them out of scopes).
      const next = dev.scope(() => {
        const input = guide ? concat([x, x], 0) : x;
        const scaled = o.scheduler.scaleModelInput(input, t);
        let eps: Tensor;
        try {
          eps = predictor.forward(o.modelInput ? o.modelInput(scaled, step) : scaled, t, o.context);
        } finally {
          scaled.dispose();
        }
        const guided = guide
          ? linearCombination([[slice(eps, 0, 0, n), 1 - o.guidanceScale], [slice(eps, 0, n, 2 * n), o.guidanceScale]])
          : eps;
        const { prevSample, predOriginalSample } = o.scheduler.step(guided, t, x, o.generator);
        if (!o.onLatents) predOriginalSample?.dispose();
        return { prevSample, x0: o.onLatents ? predOriginalSample : undefined };
      });
      latents.dispose();
      latents = next.prevSample;
      x0 = next.x0 ?? null;
      if (o.afterStep) {
        const cur = latents;
        latents = dev.keep(dev.scope(() => o.afterStep!(cur, step)));
        if (latents !== cur && !cur.disposed) cur.dispose();
      }
      watch.mark(latents, i + 1);
      // Wait for the step on the queue: the event loop runs meanwhile (timers, abort signals, a browser's page);
      // errors the device reported surface here. Steps cost about the same: sleep through most of the shortest wait
      // seen so far (not the first step's, which compiles) instead of letting Node's WebGPU busy-poll all of it
      const w0 = performance.now();
      await dev.sync({ idleMs: IDLE_FRACTION * shortestWait });
      const waited = performance.now() - w0;
      if (i === 1) shortestWait = waited;
      else if (i > 1) shortestWait = Math.min(shortestWait, waited);
      throwIfAborted(o.signal);
      await o.onLatents?.(latents, step, x0 ?? undefined);
      x0?.dispose();
      x0 = null;
      o.onProgress?.({ step: i + 1, totalSteps: o.timesteps.length, timestep: t });
      throwIfAborted(o.signal);
    }
    await watch.check();
    const out = latents;
    latents = null as unknown as Tensor;
    return out;
  } finally {
    replayer?.dispose();
    watch?.dispose();
    if (latents && !latents.disposed) latents.dispose();
    x0?.dispose();
    o.scheduler.reset();
  }
}
