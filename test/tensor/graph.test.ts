import { describe, expect, it } from 'vitest';
import { CaptureError, type Device, StaleGraphError, type Tensor } from '@sd-webgpu/tensor';
import { axpyOp } from '../helpers/axpy';
import { createDevice, testDevice } from '../helpers/device';

/** A small "model": four dispatches with different uniforms and intermediates freed along the way. */
function model(dev: Device, x: Tensor, w: Tensor): Tensor {
  const h1 = axpyOp(dev, x, w, 2); // x + 2w
  const h2 = axpyOp(dev, h1, x, -0.5); // h1 - x/2
  const h3 = axpyOp(dev, h2, h2, 1); // 2·h2
  h1.dispose();
  return axpyOp(dev, h3, w, 0.25); // h3 + w/4
}
const modelHost = (x: number[], w: number[]) => x.map((v, i) => 2 * (v + 2 * w[i]! - v / 2) + w[i]! / 4);

const N = 300;
const values = (seed: number) => Array.from({ length: N }, (_, i) => ((i * 37 + seed * 11) % 23) - 11);

/** Captures `model` over a graph-owned input initialised from `x0`. */
function captureModel(dev: Device, w: Tensor, x0: number[]) {
  const xIn = dev.tensor(x0, [N]);
  return dev.capture(() => model(dev, xIn, w), { owns: [xIn] });
}

/** The plain (uncaptured) path still computes `model` correctly on `dev`. */
async function expectModelRuns(dev: Device, w: Tensor): Promise<void> {
  const y = dev.scope(() => dev.keep(model(dev, dev.tensor(values(3), [N]), w)));
  expect(Array.from(await y.data())).toEqual(modelHost(values(3), values(1)));
  y.dispose();
}

async function replayWith(dev: Device, g: { inputs: readonly Tensor[]; replay(): void }, x: number[]): Promise<void> {
  const src = dev.tensor(x, [N]);
  dev.copy(src, 0, g.inputs[0]!, 0, src.byteLength);
  g.replay();
  await dev.sync();
  src.dispose();
}

describe('dispatch graphs (Device.capture / DispatchGraph.replay)', () => {
  it('the capture computes as usual; a replay computes the same function of new inputs, bit for bit', async () => {
    const dev = await testDevice();
    const w = dev.tensor(values(1), [N]);
    const g = captureModel(dev, w, values(2));
    expect(g.dispatches).toBe(4);
    expect(Array.from(await g.output.data())).toEqual(modelHost(values(2), values(1)));
    for (const seed of [3, 4, 5]) {
      await replayWith(dev, g, values(seed));
      const direct = dev.scope(() => dev.keep(model(dev, dev.tensor(values(seed), [N]), w)));
      expect(Array.from(await g.output.data())).toEqual(Array.from(await direct.data()));
      expect(Array.from(await g.output.data())).toEqual(modelHost(values(seed), values(1)));
      direct.dispose();
    }
    g.dispose();
    w.dispose();
  });

  it('owns its intermediates: tensors created after the capture never share a buffer with it and survive replays', async () => {
    const dev = await testDevice();
    const w = dev.tensor(values(1), [N]);
    const g = captureModel(dev, w, values(2));
    const owned = new Set<GPUBuffer>([...g.adopted, g.output.buffer, g.inputs[0]!.buffer]);
    expect(g.adopted.length).toBeGreaterThan(0);
    // the same bucket size as every intermediate: a pool that handed graph buffers out would give one of them
    const others = Array.from({ length: 6 }, (_, i) => dev.tensor(values(10 + i), [N]));
    const outs = Array.from({ length: 6 }, () => dev.empty([N]));
    for (const t of [...others, ...outs]) expect(owned.has(t.buffer)).toBe(false);
    outs.forEach((o, i) => dev.copy(others[i]!, 0, o, 0, o.byteLength));
    for (let r = 0; r < 3; r++) await replayWith(dev, g, values(20 + r));
    for (let i = 0; i < 6; i++) expect(Array.from(await outs[i]!.data())).toEqual(values(10 + i));
    expect(Array.from(await g.output.data())).toEqual(modelHost(values(22), values(1)));
    for (const t of [...others, ...outs]) t.dispose();
    g.dispose();
    w.dispose();
  });

  it('is stale once a buffer it binds without owning is released: replay throws instead of binding a reused buffer', async () => {
    const dev = await testDevice();
    const w = dev.tensor(values(1), [N]);
    const g = captureModel(dev, w, values(2));
    expect(g.external.has(w.buffer)).toBe(true);
    expect(g.stale).toBeNull();
    w.dispose();
    // the released buffer goes to another tensor: a stale replay would read its values as the weight
    const other = dev.tensor(values(9), [N]);
    expect(g.stale).toMatch(/released after the capture/);
    expect(() => g.replay()).toThrow(StaleGraphError);
    g.dispose();
    other.dispose();
  });

  it('dispose gives every buffer back; a disposed graph cannot be replayed', async () => {
    const dev = await testDevice();
    const w = dev.tensor(values(1), [N]);
    await dev.sync();
    const live0 = dev.poolStats().liveBytes;
    const g = captureModel(dev, w, values(2));
    await dev.sync();
    expect(dev.poolStats().liveBytes).toBeGreaterThan(live0);
    g.dispose();
    await dev.sync();
    expect(dev.poolStats().liveBytes).toBe(live0);
    expect(g.output.disposed).toBe(true);
    expect(() => g.replay()).toThrow(StaleGraphError);
    await expectModelRuns(dev, w); // the device carries on normally
    w.dispose();
  });

  it('records copies and replays them', async () => {
    const dev = await testDevice();
    const w = dev.tensor(values(1), [N]);
    const xIn = dev.tensor(values(2), [N]);
    const g = dev.capture(() => {
      const c = dev.empty([N]);
      dev.copy(xIn, 0, c, 0, 4 * 100); // the first 100 values of x, the rest from w
      dev.copy(w, 4 * 100, c, 4 * 100, 4 * (N - 100));
      return axpyOp(dev, c, w, 1);
    }, { owns: [xIn] });
    const expected = (x: number[]) => x.map((v, i) => (i < 100 ? v : values(1)[i]!) + values(1)[i]!);
    expect(Array.from(await g.output.data())).toEqual(expected(values(2)));
    await replayWith(dev, g, values(7));
    expect(Array.from(await g.output.data())).toEqual(expected(values(7)));
    g.dispose();
    w.dispose();
  });

  it('refuses uploads, readbacks, nested captures and replays inside a capture, and the device works afterwards', async () => {
    const dev = await testDevice();
    const w = dev.tensor(values(1), [N]);
    expect(() => dev.capture(() => dev.tensor(values(2), [N]))).toThrow(CaptureError);
    expect(() => dev.capture(() => dev.capture(() => axpyOp(dev, w, w, 1)).output)).toThrow(CaptureError);
    let read: Promise<unknown> | undefined;
    const g = dev.capture(() => {
      read = w.data();
      return axpyOp(dev, w, w, 1);
    });
    await expect(read).rejects.toThrow(CaptureError);
    expect(() => dev.capture(() => {
      g.replay();
      return axpyOp(dev, w, w, 1);
    })).toThrow(CaptureError);
    g.dispose();
    await expectModelRuns(dev, w);
    w.dispose();
  });

  it('refuses a capture that releases a pre-existing tensor it bound (a replay would read whatever reused it)', async () => {
    const dev = await testDevice();
    const w = dev.tensor(values(1), [N]);
    const tmp = dev.tensor(values(2), [N]);
    expect(() => dev.capture(() => {
      const y = axpyOp(dev, tmp, w, 1);
      tmp.dispose();
      return y;
    })).toThrow(/released a buffer it binds/);
    w.dispose();
  });

  it('a capture that spans batch-cap submits still uploads its uniforms in time and replays correctly', async () => {
    const dev = await createDevice({ maxBatchDispatches: 1 });
    try {
      const w = dev.tensor(values(1), [N]);
      const g = captureModel(dev, w, values(2));
      expect(Array.from(await g.output.data())).toEqual(modelHost(values(2), values(1)));
      await replayWith(dev, g, values(6));
      expect(Array.from(await g.output.data())).toEqual(modelHost(values(6), values(1)));
      g.dispose();
      w.dispose();
    } finally {
      dev.dispose();
    }
  });
});
