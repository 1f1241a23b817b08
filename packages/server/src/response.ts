/** A1111 response bodies: generation results (`images`, `parameters`, `info`) and `/sdapi/v1/progress`. */
import { SAMPLER_DISPLAY_NAMES } from '@sd-webgpu/pipeline';
import type { QueueState } from './backend.js';
import type { ValidJob } from './job.js';
import type { JobResult } from './run_job.js';

export interface GenerationResponse {
  images: string[];
  parameters: Record<string, unknown>;
  /** JSON text, as A1111 sends it. */
  info: string;
}

const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);

/** The request as it was run (every default and the drawn seed filled in) and A1111's `info` fields. */
export function generationResponse(job: ValidJob, result: JobResult, ctx: { jobId: string; modelName: string; startedAt: number }): GenerationResponse {
  const s = job.spec;
  const sampler = SAMPLER_DISPLAY_NAMES[s.scheduler];
  const parameters: Record<string, unknown> = {
    prompt: s.prompt, negative_prompt: s.negativePrompt, steps: s.steps, cfg_scale: s.guidanceScale, seed: s.seed,
    sampler_name: sampler, width: s.width, height: s.height, batch_size: s.numImages, n_iter: 1,
    ...(s.mode === 'img2img' ? { denoising_strength: s.strength, init_images: null } : {}),
  };
  const n = result.images.length;
  const info = {
    prompt: s.prompt, all_prompts: Array(n).fill(s.prompt), negative_prompt: s.negativePrompt,
    all_negative_prompts: Array(n).fill(s.negativePrompt),
    // one generator draws the whole batch (diffusers semantics), so every image of a batch reports the same seed
    seed: s.seed, all_seeds: Array(n).fill(s.seed), subseed: -1, all_subseeds: Array(n).fill(-1), subseed_strength: 0,
    width: s.width, height: s.height, sampler_name: sampler, cfg_scale: s.guidanceScale, steps: s.steps, batch_size: s.numImages,
    denoising_strength: s.mode === 'img2img' ? s.strength : null, sd_model_name: result.model ?? ctx.modelName, infotexts: result.infotexts,
    job_timestamp: stamp(ctx.startedAt), job_id: ctx.jobId, worker: result.worker ?? null, interrupted: result.interrupted,
  };
  return { images: result.images, parameters, info: JSON.stringify(info) };
}

/** `GET /sdapi/v1/progress` (A1111's ProgressResponse; no live preview: current_image is always null). */
export function progressResponse(q: QueueState, now = Date.now()) {
  const a = q.active;
  const progress = a && a.totalSteps > 0 ? a.step / a.totalSteps : 0;
  const elapsed = a ? (now - a.startedAt) / 1000 : 0;
  return {
    progress,
    eta_relative: progress > 0 ? elapsed / progress - elapsed : 0,
    state: {
      skipped: false,
      interrupted: false,
      job: a ? a.id : '',
      job_count: q.running + q.waiting,
      job_timestamp: a ? stamp(a.startedAt) : '0',
      job_no: 0,
      sampling_step: a?.step ?? 0,
      sampling_steps: a?.totalSteps ?? 0,
    },
    current_image: null,
    textinfo: null,
  };
}
