// `npm run bench -- conv2d [--quick] [--dtype f32|f16] [--tiles] [--baseline]`
//
// conv2d at SD 1.5 shapes: the UNet's 3x3 convs (320 ch at 64x64, 640 at 32x32, 1280 at 16x16 and 8x8, batch 2 for
// classifier-free guidance), the downsample (3x3 s2), the 1x1 proj_in/conv_shortcut, and the VAE decoder's 3x3 convs
// (512 ch at 64x64, 128 ch at 256x256). GFLOP/s = 2·N·O·I·kh·kw·Hout·Wout / time. --quick runs batch 1 and a subset.
//
// --baseline times a naive kernel (one output per invocation, 64-lane workgroups: the "before") beside conv2d on
//   the same shapes. --tiles compares tile shapes side by side in interleaved rounds (min of the rounds: the machine
//   is shared), the data behind packages/kernels/src/conv2d/tiles.ts.
//
// Measured on lavapipe (2 shared vCPUs, Sapphire Rapids, LLVM 15; load from other jobs, so ±40 %):
//   tiles (tileY x tileX x vec → GFLOP/s, min of 4 rounds), 3x3 320→320 at 32x32: 1x16x1 6.3–11.4, 1x8x2 5.3,
//   1x16x2 4.4, 1x32x1 3.6, 1x8x1 2.9, 2x8x1 4.2, 3x8x1 4.6; a 2-row tile gave nothing (uniform loads are cheap).
//   1280→1280 at 8x8: 1x8x2 3.6–4.1 vs 1x8x1 1.6–1.7. 1x1 320→320 at 64x64: 1x16x2 4.5, 1x16x1 2.1, 1x8x4 2.2.
//   Lanes over pixels with uniform weights (the matmul layout turned around) peaked at 4.5; a lane per single
//   channel at 5.0; weights transposed to [K, O] for vec4 loads were within noise of the native layout (no repack).
import { Device, type Kernel, type Tensor } from '@sd-webgpu/tensor';
import { type Conv2dOptions, type Conv2dTile, conv2d, conv2dFlops, conv2dOutputShape } from '../packages/kernels/src/conv2d';
import { type BenchResult, benchCases, writeResults } from './harness';

interface Shape {
  name: string;
  x: number[];
  w: number[];
  opts: Conv2dOptions;
}

function shapes(batch: number, quick: boolean): Shape[] {
  const c3 = (name: string, n: number, c: number, hw: number, o = c): Shape =>
    ({ name, x: [n, c, hw, hw], w: [o, c, 3, 3], opts: { padding: 1 } });
  const all: Shape[] = [
    c3('unet 3x3 320 64x64', batch, 320, 64),
    c3('unet 3x3 640 32x32', batch, 640, 32),
    c3('unet 3x3 1280 16x16', batch, 1280, 16),
    c3('unet 3x3 1280 8x8', batch, 1280, 8),
    { name: 'unet down 3x3 s2 320 64->32', x: [batch, 320, 64, 64], w: [320, 320, 3, 3], opts: { stride: 2, padding: 1 } },
    { name: 'unet 1x1 320 64x64', x: [batch, 320, 64, 64], w: [320, 320, 1, 1], opts: {} },
    { name: 'unet 1x1 shortcut 320->640 32x32', x: [batch, 320, 32, 32], w: [640, 320, 1, 1], opts: {} },
    c3('vae 3x3 512 64x64', 1, 512, 64),
    c3('vae 3x3 128 256x256', 1, 128, 256),
    { name: 'vae enc down s2 [0,1,0,1] 128 256', x: [1, 128, 256, 256], w: [128, 128, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] } },
  ];
  return quick ? all.filter((s) => /1280 8x8|640 32x32|1x1 320 64|vae 3x3 512/.test(s.name)) : all;
}

const fill = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k) * 0.5);
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function tensors(device: Device, s: Shape, dtype: 'f32' | 'f16'): [Tensor, Tensor, Tensor] {
  return [
    device.tensor(fill(numel(s.x), 1), s.x, dtype),
    device.tensor(fill(numel(s.w), 2).map((v) => v * 0.1), s.w, dtype),
    device.tensor(fill(s.w[0]!, 3), [s.w[0]!], dtype),
  ];
}

/** The "before": one output per invocation, loops over (i, ky, kx), no register tiling. */
const naive: Kernel = {
  name: 'bench_conv2d_naive_f32',
  bindings: [
    { name: 'x', type: 'array<f32>', access: 'read' },
    { name: 'weight', type: 'array<f32>', access: 'read' },
    { name: 'bias', type: 'array<f32>', access: 'read' },
    { name: 'y', type: 'array<f32>', access: 'read_write' },
  ],
  uniforms: ['n', 'cin', 'h', 'w', 'cout', 'hout', 'wout', 'kh', 'kw', 'stride', 'pad_t', 'pad_l'].map((name) => ({ name, type: 'u32' as const })),
  workgroupSize: [64],
  source: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= params.n * params.cout * params.hout * params.wout) { return; }
  let ox = i % params.wout;
  let oy = (i / params.wout) % params.hout;
  let o = (i / (params.wout * params.hout)) % params.cout;
  let n = i / (params.wout * params.hout * params.cout);
  var s = bias[o];
  for (var c = 0u; c < params.cin; c++) {
    for (var ky = 0u; ky < params.kh; ky++) {
      let iy = i32(oy * params.stride + ky) - i32(params.pad_t);
      if (iy < 0 || iy >= i32(params.h)) { continue; }
      for (var kx = 0u; kx < params.kw; kx++) {
        let ix = i32(ox * params.stride + kx) - i32(params.pad_l);
        if (ix < 0 || ix >= i32(params.w)) { continue; }
        s += x[((n * params.cin + c) * params.h + u32(iy)) * params.w + u32(ix)] *
             weight[((o * params.cin + c) * params.kh + ky) * params.kw + kx];
      }
    }
  }
  y[i] = s;
}`,
};

function runNaive(device: Device, s: Shape, x: Tensor, w: Tensor, b: Tensor): void {
  const [n, o, ho, wo] = conv2dOutputShape(s.x, s.w, s.opts);
  const pad = s.opts.padding ?? 0;
  const [pt, , pl] = typeof pad === 'number' ? [pad, pad, pad] : pad;
  const y = device.empty([n, o, ho, wo]);
  device.run(naive, {
    bindings: { x, weight: w, bias: b, y },
    uniforms: {
      n, cin: s.x[1]!, h: s.x[2]!, w: s.x[3]!, cout: o, hout: ho, wout: wo, kh: s.w[2]!, kw: s.w[3]!,
      stride: s.opts.stride ?? 1, pad_t: pt, pad_l: pl,
    },
    workgroups: [Math.ceil((n * o * ho * wo) / 64)],
  });
}

/** Interleaved rounds of one run per variant; returns the minimum ms per variant. */
async function rounds(device: Device, fns: (() => void)[], count: number): Promise<number[]> {
  for (const f of fns) device.scope(f);
  await device.sync();
  const best = fns.map(() => Infinity);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < fns.length; i++) {
      const timer = device.timer();
      const t0 = performance.now();
      timer?.begin();
      device.scope(fns[i]!);
      timer?.end();
      await device.sync();
      const ms = timer ? await timer.ms() : performance.now() - t0;
      timer?.destroy();
      best[i] = Math.min(best[i]!, ms);
    }
  }
  return best;
}

async function compare(device: Device, label: string, s: Shape, variants: [string, () => void][], count: number) {
  const ms = await rounds(device, variants.map(([, f]) => f), count);
  const flops = conv2dFlops(s.x, s.w, s.opts);
  return variants.map(([name], i) => {
    const gflops = flops / ms[i]! / 1e6;
    console.log(`${label} ${s.name} [${s.x.join('x')}] ${name}`.padEnd(70), `${ms[i]!.toFixed(1).padStart(9)} ms`, `${gflops.toFixed(2).padStart(6)} GFLOP/s`);
    return { name: `${s.name} ${name}`, ms: ms[i]!, gflops };
  });
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const device = await Device.create();
  const quick = Boolean(args.quick);
  const dtypes = (args.dtype ? [args.dtype] : device.features.f16 ? ['f32', 'f16'] : ['f32']) as ('f32' | 'f16')[];
  const out: unknown[] = [];

  if (args.tiles) {
    const cand: Record<string, Conv2dTile[]> = {
      '3x3': [{ tileY: 1, tileX: 16, vec: 1 }, { tileY: 1, tileX: 8, vec: 2 }, { tileY: 2, tileX: 8, vec: 1 }, { tileY: 1, tileX: 12, vec: 1 }],
      '1x1': [{ tileY: 1, tileX: 16, vec: 2 }, { tileY: 1, tileX: 16, vec: 1 }, { tileY: 1, tileX: 8, vec: 4 }, { tileY: 1, tileX: 32, vec: 1 }],
    };
    const tuneShapes: Shape[] = [
      { name: '3x3 320 32x32', x: [1, 320, 32, 32], w: [320, 320, 3, 3], opts: { padding: 1 } },
      { name: '3x3 1280 8x8', x: [1, 1280, 8, 8], w: [1280, 1280, 3, 3], opts: { padding: 1 } },
      { name: '1x1 320 64x64', x: [1, 320, 64, 64], w: [320, 320, 1, 1], opts: {} },
    ];
    for (const s of tuneShapes) {
      const [x, w, b] = tensors(device, s, 'f32');
      const list = cand[s.w[2] === 1 ? '1x1' : '3x3']!;
      out.push(...await compare(device, 'tiles', s, list.map((t) => [`${t.tileY}x${t.tileX}x${t.vec}`, () => {
        conv2d(x, w, b, { ...s.opts, tile: t });
      }]), quick ? 2 : 4));
      for (const t of [x, w, b]) t.dispose();
    }
    writeResults('conv2d-tiles', device, out);
    device.dispose();
    return;
  }

  if (args.baseline) {
    // The naive kernel is ~10-20x slower: batch 1 and the shapes that finish in seconds.
    const list = shapes(1, true).filter((s) => !/vae/.test(s.name));
    for (const s of list) {
      const [x, w, b] = tensors(device, s, 'f32');
      out.push(...await compare(device, 'f32', s, [
        ['naive (before)', () => runNaive(device, s, x, w, b)],
        ['conv2d (after)', () => { conv2d(x, w, b, s.opts); }],
      ], 2));
      for (const t of [x, w, b]) t.dispose();
    }
    writeResults('conv2d-baseline', device, out);
    device.dispose();
    return;
  }

  const results: BenchResult[] = [];
  for (const dtype of dtypes) {
    for (const s of shapes(quick ? 1 : 2, quick)) {
      const [x, w, b] = tensors(device, s, dtype);
      results.push(...await benchCases(device, [{
        name: `conv2d ${s.name} n${s.x[0]} ${dtype}`,
        flops: conv2dFlops(s.x, s.w, s.opts),
        run: () => { conv2d(x, w, b, s.opts); },
      }], { warmup: 1, iters: quick ? 1 : 2 }));
      for (const t of [x, w, b]) t.dispose();
    }
  }
  writeResults('conv2d', device, results);
  device.dispose();
}
