/**
 * The UNet as a dispatch graph (UNetGraph, what the denoising loop uses): the first call captures, later calls replay,
 * and every output is bit-identical to `UNet2DConditionModel.forward` on the same inputs, hence as close to the
 * diffusers references as the plain forward.
 */
import { describe, expect, it } from 'vitest';
import { DisposedTensorError, type Device, type Tensor } from '@sd-webgpu/tensor';
import { GenerationAbortedError, TorchGenerator, createScheduler, denoise, GpuLatentBackend } from '@sd-webgpu/pipeline';
import { UNet2DConditionModel } from '../../../packages/models/src/unet/unet';
import { parseUNetConfig } from '../../../packages/models/src/configs';
import { RandomStore } from '../../../packages/models/src/weights/random';
import { rootScope } from '../../../packages/models/src/weights/scope';
import type { WeightDType } from '../../../packages/models/src/weights/store';
import { loadTiny } from '../../helpers/tiny';
import { testDevice } from '../../helpers/device';
import { asFloat32, expectClose, loadCase, readFixtureJson } from '../../helpers/fixtures';
import { errorScale, upload } from './helpers';

const tinyUNet = (dev: Device, dtype: WeightDType) =>
  loadTiny(dev, 'unet', 'folder', dtype, (scope, configs) => new UNet2DConditionModel(scope, configs.unet));

async function read(dev: Device, make: () => Tensor): Promise<Float32Array> {
  const t = dev.scope(make);
  const v = await t.float32();
  t.dispose();
  return v;
}

describe('UNetGraph', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`${dtype}: capture, then replays bit-identical to forward and to the fixtures' tolerance`, async (ctx) => {
      const dev = await testDevice();
      if (dtype === 'f16' && !dev.features.f16) ctx.skip('this adapter has no shader-f16');
      const unet = await tinyUNet(dev, dtype);
      const graph = unet.replayable();
      try {
        for (const name of ['unet_8x8_t1', 'unet_8x8_t500', 'unet_8x8_t999', 'unet_8x16_t500', 'unet_8x16_t999']) {
          const c = await loadCase(`models/${name}`);
          const [t] = c.inputs.timestep!.toNumbers();
          const sample = upload(dev, c.inputs.sample!, dtype);
          const ctx = upload(dev, c.inputs.encoder_hidden_states!, dtype);
          const viaGraph = await read(dev, () => graph.forward(sample, t!, ctx));
          const plain = await read(dev, () => unet.forward(sample, t!, ctx));
          expectClose(viaGraph, plain, { atol: 0, shape: sample.shape }, `${name} graph vs forward`);
          const want = asFloat32(c.outputs.sample!);
          expectClose(viaGraph, want, { atol: (dtype === 'f32' ? 2e-3 : 3e-2) * errorScale(want), shape: sample.shape }, `${name} graph vs diffusers`);
          sample.dispose();
          ctx.dispose();
        }
        // 8x8 three times (one capture, two replays), then 8x16 twice (a new shape recaptures, then replays)
        expect(graph.captures).toBe(2);
        expect(graph.replays).toBe(3);
        expect(graph.dispatches).toBeGreaterThan(100);
      } finally {
        graph.dispose();
      }
    });
  }

  it('recaptures after its weights are disposed instead of binding freed buffers (and then reports the disposed weight)', async () => {
    const dev = await testDevice();
    const cfg = parseUNetConfig(await readFixtureJson('models/tiny-sd/unet/config.json'));
    const unet = new UNet2DConditionModel(rootScope(new RandomStore(dev, 3, 'f32')), cfg);
    const graph = unet.replayable();
    const sample = dev.tensor(Array.from({ length: 2 * 4 * 64 }, (_, i) => Math.sin(i)), [2, 4, 8, 8]);
    const ctx = dev.tensor(Array.from({ length: 2 * 77 * cfg.crossAttentionDim }, (_, i) => Math.cos(i)), [2, 77, cfg.crossAttentionDim]);
    await read(dev, () => graph.forward(sample, 10, ctx));
    await read(dev, () => graph.forward(sample, 20, ctx));
    expect([graph.captures, graph.replays]).toEqual([1, 1]);
    unet.dispose();
    expect(() => dev.scope(() => graph.forward(sample, 30, ctx))).toThrow(DisposedTensorError);
    expect(graph.replays).toBe(1);
    graph.dispose();
    sample.dispose();
    ctx.dispose();
    await dev.sync();
  });

  it('the denoising loop gives the same latents with and without replay (CFG, 4 steps), capturing once', async () => {
    const dev = await testDevice();
    const unet = await tinyUNet(dev, 'f32');
    const ctxHost = Array.from({ length: 2 * 77 * unet.cfg.crossAttentionDim }, (_, i) => Math.sin(i * 0.37));
    const run = async (replay: boolean) => {
      const graphs: ReturnType<typeof unet.replayable>[] = [];
      const predictor = { forward: unet.forward.bind(unet), replayable: () => (graphs.push(unet.replayable()), graphs[0]!) };
      const sched = createScheduler('euler_a', new GpuLatentBackend(dev));
      sched.setTimesteps(4);
      const gen = new TorchGenerator(5);
      const latents = dev.tensor(gen.randn([1, 4, 8, 8]).map((v) => v * sched.initNoiseSigma), [1, 4, 8, 8]);
      const context = dev.tensor(ctxHost, [2, 77, unet.cfg.crossAttentionDim]);
      const out = await denoise({
        device: dev, unet: predictor, scheduler: sched, generator: gen, latents, timesteps: sched.timesteps, context, guidanceScale: 7.5, replay,
      });
      const v = await out.float32();
      out.dispose();
      context.dispose();
      return { v, graphs };
    };
    await dev.sync();
    const live = dev.poolStats().liveBytes;
    const a = await run(true);
    await dev.sync();
    expect(dev.poolStats().liveBytes).toBe(live); // the loop disposed the graph
    const b = await run(false);
    expect(a.graphs.length).toBe(1);
    expect([a.graphs[0]!.captures, a.graphs[0]!.replays]).toEqual([1, 3]);
    expect(b.graphs.length).toBe(0);
    expectClose(a.v, b.v, { atol: 0, shape: [1, 4, 8, 8] }, 'denoise with replay vs without');
  });

  it('an abort after the capture frees the graph with everything else', async () => {
    const dev = await testDevice();
    const unet = await tinyUNet(dev, 'f32');
    await dev.sync();
    const live = dev.poolStats().liveBytes;
    const sched = createScheduler('ddim', new GpuLatentBackend(dev));
    sched.setTimesteps(5);
    const gen = new TorchGenerator(2);
    const latents = dev.tensor(gen.randn([1, 4, 8, 8]), [1, 4, 8, 8]);
    const context = dev.tensor(Array.from({ length: 2 * 77 * unet.cfg.crossAttentionDim }, (_, i) => Math.cos(i)), [2, 77, unet.cfg.crossAttentionDim]);
    const ctl = new AbortController();
    const run = denoise({
      device: dev, unet, scheduler: sched, generator: gen, latents, timesteps: sched.timesteps, context, guidanceScale: 7.5,
      signal: ctl.signal, onProgress: (p) => p.step === 3 && ctl.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(GenerationAbortedError);
    context.dispose();
    await dev.sync();
    expect(dev.poolStats().liveBytes).toBe(live);
  });
});
