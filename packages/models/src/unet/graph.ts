import { CaptureError, type DispatchGraph, type Tensor, debugLog } from '@sd-webgpu/tensor';
import type { UNet2DConditionModel } from './unet.js';

/**
 * The UNet for a denoising loop: the first call captures `forwardProjected` (everything after the host-computed
 * `time_proj`) as one dispatch graph over graph-owned copies of its three inputs; later calls with the same shapes
 * upload the step's `time_proj` rows, copy the new sample, time rows and context into the graph's inputs, replay it
 * and copy its output into a tensor the caller owns. The numbers are those of `UNet2DConditionModel.forward` (the same
 * kernels over the same values); the host cost per dispatch drops to about Dawn's own (`npm run bench -- host`).
 *
 * A shape change, or a graph gone stale (its weights were disposed, e.g. a LoRA swap), recaptures. Should a capture
 * ever be refused (`CaptureError`), the model is evaluated the usual way from then on. Dispose it when the loop ends:
 * it holds the evaluation's activations (what the pool would otherwise keep on its free lists).
 */
export class UNetGraph {
  #graph: DispatchGraph | null = null;
  #key = '';
  #refused: string | null = null;
  /** Captures and replays so far (for tests and benchmarks). */
  captures = 0;
  replays = 0;

  constructor(readonly unet: UNet2DConditionModel) {}

  /** Dispatches per replay (0 before the first capture). */
  get dispatches(): number {
    return this.#graph?.dispatches ?? 0;
  }

  forward(sample: Tensor, timestep: number | readonly number[], context: Tensor): Tensor {
    const unet = this.unet;
    unet.check(sample, context);
    const device = sample.device;
    return device.scope(() => {
      const tEmb = unet.timeProjection(timestep, sample);
      if (this.#refused) return unet.forwardProjected(sample, tEmb, context);
      const key = `${sample.shape.join(',')}|${context.shape.join(',')}`;
      if (this.#graph && (this.#graph.stale || key !== this.#key)) this.#drop();
      const operands = [sample, tEmb, context];
      let graph = this.#graph;
      if (graph) {
        operands.forEach((t, i) => copyInto(t, graph!.inputs[i]!));
        graph.replay();
        this.replays++;
      } else {
        const inputs = operands.map((t) => device.keep(device.empty(t.shape, t.dtype)));
        operands.forEach((t, i) => copyInto(t, inputs[i]!));
        try {
          graph = device.capture(() => unet.forwardProjected(inputs[0]!, inputs[1]!, inputs[2]!), { owns: inputs });
        } catch (e) {
          for (const t of inputs) t.dispose();
          if (!(e instanceof CaptureError)) throw e;
          this.#refused = e.message;
          debugLog('unet', `evaluating without a dispatch graph: ${e.message}`);
          return unet.forwardProjected(sample, tEmb, context);
        }
        this.#graph = graph;
        this.#key = key;
        this.captures++;
      }
      const out = device.empty(graph.output.shape, graph.output.dtype);
      copyInto(graph.output, out);
      return out;
    });
  }

  /** Gives the graph's buffers back (after the work already recorded). */
  dispose(): void {
    this.#drop();
  }

  #drop(): void {
    this.#graph?.dispose();
    this.#graph = null;
  }
}

/** Copies `src` into `dst` of the same size (pool buffers are 256-byte multiples: a 2-byte f16 tail rounds up safely). */
function copyInto(src: Tensor, dst: Tensor): void {
  src.device.copy(src, 0, dst, 0, Math.ceil(src.byteLength / 4) * 4);
}
