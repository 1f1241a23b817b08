// `npm run bench -- conv2d [--quick] [--dtype f32|f16] [--tiles [--only <shape name part>]] [--baseline]
//   [--subgroup [--sgtiles 1x32x1,2x16x1,4x8x1r,4x8x1v (r: shared rows, v: vec4 x loads)] [--only <shape name part>]]`
//
// conv2d at SD 1.5 shapes: the UNet's 3x3 convs (320 ch at 64x64, 640 at 32x32, 1280 at 16x16 and 8x8, batch 2 for
// classifier-free guidance), the downsample (3x3 s2), the 1x1 proj_in/conv_shortcut, and the VAE decoder's 3x3 convs
// (512 ch at 64x64, 128 ch at 256x256). GFLOP/s = 2·N·O·I·kh·kw·Hout·Wout / time. --quick runs batch 1 and a subset.
//
// --baseline times a naive kernel (one output per invocation, 64-lane workgroups: the "before") beside conv2d on
//   the same shapes. --tiles compares tile shapes side by side in interleaved rounds (min of the rounds: the machine
//   is shared), the data behind packages/kernels/src/conv2d/tiles.ts.
//
// Measured on lavapipe (2 shared vCPUs, Sapphire Rapids, Mesa 25 / LLVM 15), f32, "cpu" GFLOP/s (FLOPs per CPU
// second of this process / cores: steadier than elapsed time while other jobs share the machine):
//   before (--baseline, naive kernel)  3x3 640@32x32 0.72, 3x3 1280@8x8 0.80, 1x1 320@64x64 0.37
//   after  (default run, batch 2)      3x3 320@64x64 11.9 (f16 13.0), 640@32x32 7.4–10 (11.2), 1280@16x16 8.7–9.4
//                                      (9.8), 1280@8x8 6.9–9.3 (9.7), down s2 8.9, 1x1 9.4, VAE 512@64x64 9.7–11,
//                                      VAE 128@256x256 9.1–11.3: 10–30x the naive kernel.
//   --tiles (channel-lane kernel, tileY x tileX x vec): 320@32x32 1x16x1 12.7, 1x8x2 12.7, 2x8x1 12.5, 1x12x1 10.2,
//     1x16x2 8.1 (spills); 1280@8x8 1x16x1 4.7 (half the tile idle), 1x8x2 7.9, 2x8x1 8.2; 3x3 s2 1x16x1 5.6,
//     1x8x2 9.3; 1x1 320@64x64 pointwise 16x2 11.4, 8x4 11.2, 12x2 10.7, channel-lane 1x16x2 10.0.
//   --subgroup (uniform-load table tile "before" vs the default, on lavapipe the subgroup-shared kernel of
//     conv2d/subgroup.ts; batch 1, 2 interleaved rounds, cpu GFLOP/s), f32: 320@64x64 10.9 → 19.7, 640@32x32 7.6 → 18.3,
//     1280@16x16 8.0 → 13.1, 1280@8x8 8.7 → 18.0, s2 320 6.0 → 16.3, VAE 512@64x64 11.5 → 25.1, VAE 128@256x256
//     10.7 → 23.6, VAE enc s2 9.0 → 17.9; f16 (one round): 12.6 → 25.5, 8.3 → 19.3, 13.1 → 27.5, 11.3 → 22.5,
//     s2 10.4 → 25.7. Tile sweeps behind the choice are quoted in packages/kernels/src/conv2d/tiles.ts.
//     1x1 (pointwise, weights shared by subgroupBroadcast; --tiles --only 1x1 --sgtiles p16x2): 320@64x64 11.0 → 20.4;
//     default run --quick: 1x1 320@64x64 14.6-15.6, shortcut 320->640 32x32 6.5 → 19.7-21.1 (f32/f16).
//   Packing a 1280x1280x3x3 weight on the fly costs ~45 ms (~17 % of a batch-1 conv at 8x8): pack once at load.
//   Design experiments (same machine): lanes over pixels with uniform weights (matmul's layout turned around) 4.5 on
//   3x3; a lane per scalar channel 5.0; unrolling the kernel-row or input-channel loop 2x slower (code size);
//   unrolled epilogue stores made compiles 4–20x slower (now a rolled loop: 3–4 s per variant, cached by Mesa).
import { availableParallelism } from 'node:os';
import { Device, type Kernel, type Tensor } from '@sd-webgpu/tensor';
import {
  type Conv2dOptions, type Conv2dTile, chooseConv2dTile, conv2d, conv2dFlops, conv2dOutputShape, conv2dPackWeight,
} from '../packages/kernels/src/conv2d';
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

const CORES = availableParallelism();
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

/**
 * Interleaved rounds of one run per variant. Returns per variant the minimum GPU ms and the minimum CPU ms of the
 * process divided by the core count: lavapipe runs on this process's threads, so CPU time is much less disturbed by
 * other jobs on the shared machine than elapsed time.
 */
async function rounds(device: Device, fns: (() => void)[], count: number): Promise<{ ms: number[]; cpu: number[] }> {
  for (const f of fns) device.scope(f);
  await device.sync();
  const ms = fns.map(() => Infinity);
  const cpu = fns.map(() => Infinity);
  for (let r = 0; r < count; r++) {
    for (let i = 0; i < fns.length; i++) {
      const timer = device.timer();
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      timer?.begin();
      device.scope(fns[i]!);
      timer?.end();
      await device.sync();
      const c = process.cpuUsage(c0);
      ms[i] = Math.min(ms[i]!, timer ? await timer.ms() : performance.now() - t0);
      cpu[i] = Math.min(cpu[i]!, (c.user + c.system) / 1000 / CORES);
      timer?.destroy();
    }
  }
  return { ms, cpu };
}

async function compare(device: Device, label: string, s: Shape, variants: [string, () => void][], count: number) {
  const { ms, cpu } = await rounds(device, variants.map(([, f]) => f), count);
  const flops = conv2dFlops(s.x, s.w, s.opts);
  return variants.map(([name], i) => {
    const gflops = flops / ms[i]! / 1e6;
    const cpuGflops = flops / cpu[i]! / 1e6;
    console.log(`${label} ${s.name} [${s.x.join('x')}] ${name}`.padEnd(72), `${ms[i]!.toFixed(1).padStart(9)} ms`,
      `${gflops.toFixed(2).padStart(6)} GFLOP/s   cpu ${cpuGflops.toFixed(2).padStart(6)}`);
    return { name: `${s.name} ${name}`, ms: ms[i]!, gflops, cpuGflops };
  });
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const device = await Device.create();
  const quick = Boolean(args.quick);
  const dtypes = (args.dtype ? [args.dtype] : device.features.f16 ? ['f32', 'f16'] : ['f32']) as ('f32' | 'f16')[];
  const out: unknown[] = [];

  if (args.tiles) {
    const tiles: Conv2dTile[] = [
      { tileY: 1, tileX: 16, vec: 1 }, { tileY: 1, tileX: 8, vec: 2 }, { tileY: 2, tileX: 8, vec: 1 },
      { tileY: 1, tileX: 12, vec: 1 }, { tileY: 1, tileX: 16, vec: 2 },
    ];
    const pointwise: { rows: number; vec: number; subgroup?: boolean }[] = [
      { rows: 16, vec: 2 }, { rows: 12, vec: 2 }, { rows: 8, vec: 4 }, { rows: 32, vec: 1 },
      ...(typeof args.sgtiles === 'string' ? args.sgtiles : '').split(',').filter((t) => /^p\d+x\d+$/.test(t)).map((t) => {
        const [rows, vec] = t.slice(1).split('x').map(Number) as [number, number];
        return { rows, vec, subgroup: true };
      }),
    ];
    const only = typeof args.only === 'string' ? args.only : '';
    const tuneShapes: Shape[] = [
      { name: '3x3 320 32x32', x: [1, 320, 32, 32], w: [320, 320, 3, 3], opts: { padding: 1 } },
      { name: '3x3 1280 8x8', x: [1, 1280, 8, 8], w: [1280, 1280, 3, 3], opts: { padding: 1 } },
      { name: '3x3 s2 320 64->32', x: [1, 320, 64, 64], w: [320, 320, 3, 3], opts: { stride: 2, padding: 1 } },
      { name: '1x1 320 64x64', x: [1, 320, 64, 64], w: [320, 320, 1, 1], opts: {} },
    ];
    for (const s of tuneShapes.filter((t) => t.name.includes(only))) {
      const [x, w, b] = tensors(device, s, 'f32');
      const variants: [string, () => void][] = tiles.map((t) => [`channel-lane ${t.tileY}x${t.tileX}x${t.vec}`, () => {
        conv2d(x, w, b, { ...s.opts, tile: t });
      }]);
      if (s.w[2] === 1) {
        variants.push(...pointwise.map((p): [string, () => void] => [`pointwise ${p.rows}x${p.vec}${p.subgroup ? ' subgroup' : ''}`, () => {
          conv2d(x, w, b, { ...s.opts, pointwiseTile: p });
        }]));
      } else {
        const packed = conv2dPackWeight(w);
        variants.push(['default, prepacked weight', () => { conv2d(x, packed, b, s.opts); }]);
        variants.push(['pack only', () => { conv2dPackWeight(w).tensor.dispose(); }]);
      }
      out.push(...await compare(device, 'tiles', s, variants, quick ? 2 : 3));
      for (const t of [x, w, b]) t.dispose();
    }
    writeResults('conv2d-tiles', device, out);
    device.dispose();
    return;
  }

  if (args.subgroup) {
    // The uniform-load kernel's table tile ("before") beside the default (on lavapipe: the subgroup-shared kernel of
    // ./conv2d/subgroup.ts) and any --sgtiles subgroup tiles, per 3x3 shape at batch 1.
    const sgTiles: Conv2dTile[] = (typeof args.sgtiles === 'string' ? args.sgtiles : '')
      .split(',').filter((t) => t).map((t) => {
        const [tileY, tileX, vec] = t.replace(/[rv]$/, '').split('x').map(Number) as [number, number, number];
        return { tileY, tileX, vec, subgroup: true, shareRows: t.endsWith('r'), x4: t.endsWith('v') };
      });
    const only = typeof args.only === 'string' ? args.only : '';
    const list = shapes(1, false).filter((s) => s.w[2] === 3 && s.name.includes(only));
    for (const s of list) {
      const [x, w, b] = tensors(device, s, dtypes[0]!);
      const packed = conv2dPackWeight(w);
      const old = chooseConv2dTile(false, s.opts.stride ?? 1, conv2dOutputShape(s.x, s.w, s.opts)[3]);
      const variants: [string, () => void][] = [
        [`uniform-load ${old.tileY}x${old.tileX}x${old.vec}`, () => { conv2d(x, packed, b, { ...s.opts, tile: old }); }],
        ['default', () => { conv2d(x, packed, b, s.opts); }],
        ...sgTiles.map((t): [string, () => void] => [`subgroup ${t.tileY}x${t.tileX}x${t.vec}${t.shareRows ? ' shared rows' : ''}${t.x4 ? ' vec4 x' : ''}`, () => {
          conv2d(x, packed, b, { ...s.opts, tile: t });
        }]),
      ];
      out.push(...await compare(device, `sg ${dtypes[0]}`, s, variants, quick ? 1 : 2));
      for (const t of [x, w, b, packed.tensor]) t.dispose();
    }
    writeResults('conv2d-subgroup', device, out);
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

  // The harness times each case on the GPU; the CPU time of the process over the timed runs (compiles done by a
  // run beforehand) is printed beside it as the steadier figure on a shared machine.
  const results: (BenchResult & { cpuGflops: number })[] = [];
  const iters = quick ? 1 : 2;
  for (const dtype of dtypes) {
    for (const s of shapes(quick ? 1 : 2, quick)) {
      const [x, w, b] = tensors(device, s, dtype);
      const run = () => { conv2d(x, w, b, s.opts); };
      device.scope(run);
      await device.sync();
      const c0 = process.cpuUsage();
      const flops = conv2dFlops(s.x, s.w, s.opts);
      const [r] = await benchCases(device, [{ name: `conv2d ${s.name} n${s.x[0]} ${dtype}`, flops, run }], { warmup: 0, iters });
      const c = process.cpuUsage(c0);
      const cpuGflops = flops / ((c.user + c.system) / 1000 / CORES / iters) / 1e6;
      console.log(`${''.padEnd(44)} cpu ${cpuGflops.toFixed(2)} GFLOP/s`);
      results.push({ ...r!, cpuGflops });
      for (const t of [x, w, b]) t.dispose();
    }
  }
  writeResults('conv2d', device, results);
  device.dispose();
}
