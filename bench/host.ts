// `npm run bench -- host [--model tiny|sd15|both] [--size 8] [--reps 5] [--dtype f16|f32] [--breakdown] [--write]
//  [--profile FILE] [--count-only]`:
// host cost of recording a UNet evaluation (what a fast GPU would wait for). For the tiny UNet (the fixture config)
// and the SD 1.5 UNet (random weights, batch 2 as with classifier-free guidance) it records one evaluation after a
// warm-up (pipelines compiled, pool and caches in their steady state) and times only the recording: no submit
// happens inside the timed region (the batch cap is lifted). Each repetition also times raw Dawn recording an empty
// dispatch with a cached bind group in the same minute, and reports the ratio, and times the same evaluation replayed
// from its dispatch graph (`UNetGraph`: time_proj upload, three input copies, the replay, one output copy). Last, the
// real denoising loop (CFG, Euler a, 14 steps) with and without replay: host time per dispatch of a step's recording.
// Host time is `hostClock`'s (min of process CPU and wall time). Run the SD 1.5 part under `flock /tmp/sd15.lock`
// (it builds 1.7 GiB of weights). `--profile` writes a V8 CPU profile of the timed repetitions only
// (FILE.<model>.cpuprofile). `--count-only` records one evaluation, prints its dispatches per kernel family and never
// submits it (for large latents, whose evaluation takes minutes on a CPU adapter).
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Device, type Kernel, ParameterError, type RunArgs, type Tensor } from '@sd-webgpu/tensor';
import { GpuLatentBackend, TorchGenerator, createScheduler, denoise } from '../packages/pipeline/src/index';
import { parseUNetConfig, sd15, type UNetConfig } from '../packages/models/src/configs';
import { UNet2DConditionModel } from '../packages/models/src/unet/unet';
import { RandomStore } from '../packages/models/src/weights/random';
import { rootScope } from '../packages/models/src/weights/scope';
import { median, writeResults } from './harness';

const RAW_DISPATCHES = 2000;

/**
 * Steps of each timed denoising loop: the first two (capture, pool settling) are left out and the median of the rest
 * reported, so that a garbage collection landing in a step (Dawn's polling fills the heap while lavapipe computes)
 * moves no figure.
 */
const LOOP_STEPS = 14;

/** CPU time of this process in ms (all its threads). */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Host time of a region: the smaller of the process's CPU time and the wall time spent in it, an upper bound of the
 * main thread's own CPU time (which Node cannot read precisely). Recording is single-threaded JavaScript plus the
 * Dawn calls it makes. CPU time alone would add the process's other threads (lavapipe's workers winding down after
 * a submit, V8's concurrent GC); wall time alone would add other processes on this shared machine; each bounds the
 * main thread's time from above, so the minimum does too.
 */
function hostClock(): () => number {
  const c = cpuMs();
  const w = performance.now();
  return () => Math.min(cpuMs() - c, performance.now() - w);
}

/** Raw Dawn: µs per setPipeline + setBindGroup + dispatchWorkgroups of an empty kernel, with one cached bind group. */
function rawDawn(gpu: GPUDevice, fresh = false): number {
  const module = gpu.createShaderModule({
    code: '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(64) fn main() {}',
  });
  const layout = gpu.createBindGroupLayout({
    entries: [{ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } }],
  });
  const pipeline = gpu.createComputePipeline({
    layout: gpu.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' },
  });
  const buffer = gpu.createBuffer({ size: 256, usage: GPUBufferUsage.STORAGE });
  const entries = [{ binding: 0, resource: { buffer, offset: 0, size: 256 } }];
  const group = gpu.createBindGroup({ layout, entries });
  const enc = gpu.createCommandEncoder();
  const pass = enc.beginComputePass();
  const elapsed = hostClock();
  for (let i = 0; i < RAW_DISPATCHES; i++) {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, fresh ? gpu.createBindGroup({ layout, entries }) : group);
    pass.dispatchWorkgroups(1);
  }
  const us = (elapsed() * 1000) / RAW_DISPATCHES;
  pass.end();
  enc.finish(); // never submitted
  buffer.destroy();
  return us;
}

interface ModelResult {
  model: string;
  dispatches: number;
  /** Median host µs per dispatch of recording one evaluation (`hostClock`). */
  hostUsPerDispatch: number;
  /** Median host ms of recording one evaluation. */
  hostMs: number;
  /** Median wall ms of the same (includes whatever else the machine ran meanwhile). */
  wallMs: number;
  /** Raw Dawn µs per cached-bind-group dispatch, median over the same repetitions. */
  rawUsPerDispatch: number;
  /** Median over repetitions of (host µs per dispatch / raw Dawn µs per dispatch of the same repetition). */
  ratio: number;
  /** Raw Dawn µs per dispatch with a fresh bind group each time (what an uncached runtime pays at least). */
  rawFreshUsPerDispatch: number;
  /** Median host µs per dispatch of the same evaluation replayed from its dispatch graph (the loop's steady state). */
  replayUsPerDispatch: number;
  /** Median host ms of one replayed evaluation. */
  replayMs: number;
  /**
   * The same, for the third of three replays recorded back to back. On a CPU adapter the GPU work that precedes the
   * first replay runs on this CPU and evicts its caches (an SD 1.5 evaluation's working set is gigabytes); a real
   * GPU leaves them alone, so this is the closer figure for one.
   */
  replayWarmUsPerDispatch: number;
  /** Median over repetitions of (replay µs per dispatch / raw Dawn µs per dispatch of the same repetition). */
  replayRatio: number;
  /**
   * The real denoising loop (`denoise`, CFG, Euler a, `LOOP_STEPS` steps): median host µs per dispatch of recording a
   * step from the third on (between the end of one step's wait for the GPU and the start of the next), with and without
   * replay, and the dispatches per step.
   */
  loop: { replayUsPerDispatch: number; plainUsPerDispatch: number; dispatchesPerStep: number };
  /** Bind groups created while recording the last evaluation (0 when the cache serves all). */
  bindGroupsCreated: number;
  breakdown?: Record<string, number>;
}


/** Kernel family of a kernel name: `strided_add_r1_v4_f16v_f16` → `strided_add`, `matmul_f16_…` → `matmul`. */
function family(name: string): string {
  const parts = name.split('_');
  return parts[0] === 'strided' ? `${parts[0]}_${parts[1]}` : parts[0]!;
}

async function measure(
  device: Device, model: string, cfg: UNetConfig, size: number, dtype: 'f16' | 'f32', reps: number, breakdown: boolean,
  profile?: string, countOnly = false,
): Promise<ModelResult | null> {
  const t0 = performance.now();
  const unet = new UNet2DConditionModel(rootScope(new RandomStore(device, 1, dtype)), cfg);
  const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const sample = device.tensor(rand(2 * cfg.inChannels * size * size), [2, cfg.inChannels, size, size], unet.dtype);
  const context = device.tensor(rand(2 * 77 * cfg.crossAttentionDim), [2, 77, cfg.crossAttentionDim], unet.dtype);
  await device.sync();
  console.log(`${model}: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (countOnly) {
    const counts: Record<string, number> = {};
    const before = device.dispatchCount;
    const t = performance.now();
    withCounts(device, counts, () => void device.scope(() => void unet.forward(sample, 981, context)));
    const dispatches = device.dispatchCount - before;
    console.log(`${model} ${size}x${size}: ${dispatches} dispatches (first recording: ${(performance.now() - t).toFixed(0)} ms), by kernel family: ${JSON.stringify(sorted(counts))}`);
    return null; // the device is disposed without submitting
  }
  try {
    // warm-up: compiles pipelines, fills the pool and the caches; two rounds so the pool reaches its steady order;
    // the graph captures first (it keeps its buffers), then both paths run twice more
    const graph = unet.replayable();
    for (let i = 0; i < 3; i++) {
      device.scope(() => void graph.forward(sample, 981, context));
      if (i) device.scope(() => void unet.forward(sample, 981, context));
      await device.sync();
    }
    const replay: number[] = [];
    const warm: number[] = [];
    const replayRatios: number[] = [];
    const host: number[] = [];
    const raw: number[] = [];
    const fresh: number[] = [];
    const ratios: number[] = [];
    const wall: number[] = [];
    let dispatches = 0;
    let misses = 0;
    const session = profile ? new Session() : null;
    session?.connect();
    await session?.post('Profiler.enable');
    await session?.post('Profiler.setSamplingInterval', { interval: 100 }); // µs: a dispatch costs a few tens of them
    await session?.post('Profiler.start');
    for (let r = 0; r < reps; r++) {
      const rawUs = rawDawn(device.gpu);
      fresh.push(rawDawn(device.gpu, true));
      const before = device.dispatchCount;
      const groups0 = device.bindGroupStats();
      const w = performance.now();
      const elapsed = hostClock();
      device.scope(() => void unet.forward(sample, 981, context));
      const ms = elapsed();
      wall.push(performance.now() - w);
      dispatches = device.dispatchCount - before;
      const groups1 = device.bindGroupStats();
      misses = groups1.misses - groups0.misses;
      await device.sync();
      const us = (ms * 1000) / dispatches;
      const r0 = device.dispatchCount;
      const replayed = hostClock();
      device.scope(() => void graph.forward(sample, 981 - r, context));
      const rms = replayed();
      const rus = (rms * 1000) / (device.dispatchCount - r0);
      if (device.dispatchCount - r0 !== dispatches) throw new Error(`replay issued ${device.dispatchCount - r0} dispatches, forward ${dispatches}`);
      // again, twice, before the GPU runs: the caches of this CPU (which is also the GPU here) are warm
      device.scope(() => void graph.forward(sample, 981 - r, context));
      const warmClock = hostClock();
      device.scope(() => void graph.forward(sample, 981 - r, context));
      warm.push(warmClock());
      await device.sync();
      replay.push(rms);
      replayRatios.push(rus / rawUs);
      host.push(ms);
      raw.push(rawUs);
      ratios.push(us / rawUs);
      console.log(`  rep ${r}: ${dispatches} dispatches, ${ms.toFixed(1)} ms, ${us.toFixed(2)} µs/dispatch, raw Dawn ${rawUs.toFixed(2)} µs (x${(us / rawUs).toFixed(1)}), ${misses} bind groups created; replay ${rms.toFixed(2)} ms, ${rus.toFixed(2)} µs/dispatch (x${(rus / rawUs).toFixed(1)})`);
    }
    if (session) {
      const { profile: prof } = await session.post('Profiler.stop');
      writeFileSync(`${profile}.${model}.cpuprofile`, JSON.stringify(prof));
      session.disconnect();
    }
    const loopReplay = await loopSteps(device, unet, sample, context, LOOP_STEPS, true);
    const loopPlain = await loopSteps(device, unet, sample, context, LOOP_STEPS, false);
    await device.sync();
    console.log(`  denoise loop: ${loopReplay.dispatchesPerStep} dispatches/step, ${loopReplay.us.toFixed(2)} µs/dispatch with replay, ${loopPlain.us.toFixed(2)} without`);
    const result: ModelResult = {
      model, dispatches, hostMs: median(host), wallMs: median(wall), hostUsPerDispatch: (median(host) * 1000) / dispatches,
      rawUsPerDispatch: median(raw), bindGroupsCreated: misses, ratio: median(ratios), rawFreshUsPerDispatch: median(fresh),
      replayMs: median(replay), replayUsPerDispatch: (median(replay) * 1000) / dispatches, replayRatio: median(replayRatios),
      replayWarmUsPerDispatch: (median(warm) * 1000) / dispatches,
      loop: { replayUsPerDispatch: loopReplay.us, plainUsPerDispatch: loopPlain.us, dispatchesPerStep: loopReplay.dispatchesPerStep },
    };
    graph.dispose();
    if (breakdown) result.breakdown = await countByFamily(device, () => void unet.forward(sample, 981, context));
    return result;
  } finally {
    sample.dispose();
    context.dispose();
    unet.dispose();
    await device.sync();
  }
}

/**
 * Host time per dispatch of recording the denoising loop's steps: `device.sync` is wrapped so that a step's
 * recording is the time from the previous step's sync returning to this step's sync being called (the GPU work, which
 * runs on the CPU here, happens inside sync and is excluded). Steps from the third on are the steady state.
 */
async function loopSteps(
  device: Device, unet: UNet2DConditionModel, sample: Tensor, context: Tensor, steps: number, replay: boolean,
): Promise<{ us: number; dispatchesPerStep: number }> {
  const sync = device.sync;
  const perStep: { ms: number; dispatches: number }[] = [];
  let elapsed = hostClock();
  let d = device.dispatchCount;
  device.sync = async (opts) => {
    perStep.push({ ms: elapsed(), dispatches: device.dispatchCount - d });
    await sync.call(device, opts);
    elapsed = hostClock();
    d = device.dispatchCount;
  };
  try {
    const sched = createScheduler('euler_a', new GpuLatentBackend(device));
    sched.setTimesteps(steps);
    const gen = new TorchGenerator(1);
    const [, c, h, w] = sample.shape as [number, number, number, number];
    const latents = device.tensor(gen.randn([1, c, h, w]).map((v) => v * sched.initNoiseSigma), [1, c, h, w], sample.dtype);
    elapsed = hostClock();
    d = device.dispatchCount;
    const made: ReturnType<UNet2DConditionModel['replayable']>[] = [];
    const predictor = { forward: unet.forward.bind(unet), replayable: () => (made.push(unet.replayable()), made[0]!) };
    const out = await denoise({
      device, unet: predictor, scheduler: sched, generator: gen, latents, timesteps: sched.timesteps, context, guidanceScale: 7.5, replay,
    });
    out.dispose();
    const g = made[0];
    if (replay && (g?.captures !== 1 || g.replays !== steps - 1)) {
      throw new Error(`the loop should capture once and replay ${steps - 1} times, did ${g?.captures} and ${g?.replays}`);
    }
  } finally {
    device.sync = sync;
  }
  const steady = perStep.slice(2, steps);
  return {
    us: median(steady.map((s) => (s.ms * 1000) / s.dispatches)),
    dispatchesPerStep: steady[0]!.dispatches,
  };
}

/** Counts dispatches per kernel family while `fn` runs (wraps `device.run`). */
function withCounts(device: Device, counts: Record<string, number>, fn: () => void): void {
  const run = device.run;
  device.run = (kernel: Kernel, args: RunArgs) => {
    counts[family(kernel.name)] = (counts[family(kernel.name)] ?? 0) + 1;
    run.call(device, kernel, args);
  };
  try {
    fn();
  } finally {
    device.run = run;
  }
}

const sorted = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));

/** Dispatches of one evaluation per kernel family (an untimed extra pass). */
async function countByFamily(device: Device, fn: () => void): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  withCounts(device, counts, () => device.scope(fn));
  await device.sync();
  return sorted(counts);
}

function intFlag(args: Record<string, string | true>, name: string, fallback: number): number {
  const v = args[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < 1) throw new ParameterError('bench host', `--${name}`, `must be an integer ≥ 1, got ${String(v)}`);
  return n;
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const which = args.model ?? 'both';
  if (which !== 'tiny' && which !== 'sd15' && which !== 'both') {
    throw new ParameterError('bench host', '--model', `must be tiny, sd15 or both, got ${String(which)}`);
  }
  const dtype = args.dtype ?? 'f16';
  if (dtype !== 'f16' && dtype !== 'f32') throw new ParameterError('bench host', '--dtype', `must be f16 or f32, got ${String(dtype)}`);
  const size = intFlag(args, 'size', 8);
  const reps = intFlag(args, 'reps', 5);
  // nothing may submit while a forward is being recorded
  const device = await Device.create({ maxBatchDispatches: 1 << 30 });
  const results: ModelResult[] = [];
  try {
    const models: [string, UNetConfig][] = [];
    if (which !== 'sd15') {
      const json = JSON.parse(readFileSync('test/fixtures/models/tiny-sd/unet/config.json', 'utf8')) as Record<string, unknown>;
      models.push(['tiny', parseUNetConfig(json)]);
    }
    if (which !== 'tiny') models.push(['sd15', sd15().unet]);
    for (const [name, cfg] of models) {
      const profile = typeof args.profile === 'string' ? args.profile : undefined;
      const r = await measure(device, name, cfg, size, dtype, reps, !!args.breakdown, profile, !!args['count-only']);
      if (!r) continue;
      results.push(r);
      console.log(
        `${name.padEnd(5)} ${String(r.dispatches).padStart(5)} dispatches/eval  host ${r.hostUsPerDispatch.toFixed(2)} µs/dispatch ` +
          `(${r.hostMs.toFixed(1)} ms host, ${r.wallMs.toFixed(1)} ms wall per eval)  raw Dawn cached ${r.rawUsPerDispatch.toFixed(2)} µs, fresh bind group ` +
          `${r.rawFreshUsPerDispatch.toFixed(2)} µs  ratio x${r.ratio.toFixed(1)}`,
      );
      console.log(
        `${''.padEnd(5)} replayed from its dispatch graph: ${r.replayUsPerDispatch.toFixed(2)} µs/dispatch ` +
          `(${r.replayMs.toFixed(2)} ms host per eval)  ratio x${r.replayRatio.toFixed(1)}; back to back (CPU caches warm) ${r.replayWarmUsPerDispatch.toFixed(2)} µs/dispatch`,
      );
      console.log(
        `${''.padEnd(5)} denoise loop steady state (CFG, Euler a, ${r.loop.dispatchesPerStep} dispatches/step): ` +
          `${r.loop.replayUsPerDispatch.toFixed(2)} µs/dispatch with replay, ${r.loop.plainUsPerDispatch.toFixed(2)} without`,
      );
      if (r.breakdown) console.log(`  by kernel family: ${JSON.stringify(r.breakdown)}`);
    }
    if (args.write) writeResults('host', device, { size, dtype, results });
  } finally {
    device.dispose();
  }
}
