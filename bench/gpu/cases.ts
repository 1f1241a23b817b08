/**
 * The kernel cases of the GPU benchmark at SD 1.5 shapes (batch 2 = classifier-free guidance, 64x64 latent = 512²
 * images), and the reduced shapes of `--quick`. The same list is handed to bench/gpu/torch_bench.py, so PyTorch runs
 * exactly these shapes.
 */
export type KernelCase =
  | { name: string; op: 'linear'; x: number[]; w: number[] }
  | { name: string; op: 'bmm'; a: number[]; b: number[]; transB: boolean }
  | { name: string; op: 'conv2d'; x: number[]; w: number[]; stride: 1 | 2; padding: [number, number, number, number] }
  | { name: string; op: 'attention'; q: number[]; kv: number[]; heads: number }
  | { name: string; op: 'group_norm'; x: number[]; groups: number }
  | { name: string; op: 'layer_norm'; x: number[] }
  | { name: string; op: 'softmax'; x: number[] };

const p1: [number, number, number, number] = [1, 1, 1, 1];
const vaePad: [number, number, number, number] = [0, 1, 0, 1];

/** Every kernel at the shapes a 512² SD 1.5 generation runs (UNet batch 2, VAE decoder batch 1). */
export const SD15_CASES: KernelCase[] = [
  { name: 'linear attn proj 8192x320x320', op: 'linear', x: [8192, 320], w: [320, 320] },
  { name: 'linear geglu 8192x320->2560', op: 'linear', x: [8192, 320], w: [2560, 320] },
  { name: 'linear ff out 8192x1280->320', op: 'linear', x: [8192, 1280], w: [320, 1280] },
  { name: 'linear 16² 512x1280x1280', op: 'linear', x: [512, 1280], w: [1280, 1280] },
  { name: 'bmm q·kᵀ 32² 16x1024x1024x80', op: 'bmm', a: [16, 1024, 80], b: [16, 1024, 80], transB: true },
  { name: 'bmm p·v 32² 16x1024x80x1024', op: 'bmm', a: [16, 1024, 1024], b: [16, 1024, 80], transB: false },
  { name: 'conv3x3 320@64² b2', op: 'conv2d', x: [2, 320, 64, 64], w: [320, 320, 3, 3], stride: 1, padding: p1 },
  { name: 'conv3x3 640@32² b2', op: 'conv2d', x: [2, 640, 32, 32], w: [640, 640, 3, 3], stride: 1, padding: p1 },
  { name: 'conv3x3 1280@16² b2', op: 'conv2d', x: [2, 1280, 16, 16], w: [1280, 1280, 3, 3], stride: 1, padding: p1 },
  { name: 'conv3x3 1280@8² b2', op: 'conv2d', x: [2, 1280, 8, 8], w: [1280, 1280, 3, 3], stride: 1, padding: p1 },
  { name: 'conv3x3 s2 320 64²->32² b2', op: 'conv2d', x: [2, 320, 64, 64], w: [320, 320, 3, 3], stride: 2, padding: p1 },
  { name: 'conv1x1 320->640 @32² b2', op: 'conv2d', x: [2, 320, 32, 32], w: [640, 320, 1, 1], stride: 1, padding: [0, 0, 0, 0] },
  { name: 'vae conv3x3 512@64²', op: 'conv2d', x: [1, 512, 64, 64], w: [512, 512, 3, 3], stride: 1, padding: p1 },
  { name: 'vae conv3x3 256@256²', op: 'conv2d', x: [1, 256, 256, 256], w: [256, 256, 3, 3], stride: 1, padding: p1 },
  { name: 'vae conv3x3 128@512²', op: 'conv2d', x: [1, 128, 512, 512], w: [128, 128, 3, 3], stride: 1, padding: p1 },
  { name: 'vae enc conv3x3 s2 (0,1,0,1) 128@512²', op: 'conv2d', x: [1, 128, 512, 512], w: [128, 128, 3, 3], stride: 2, padding: vaePad },
  { name: 'attention self 64² 2x4096 h8 d40', op: 'attention', q: [2, 4096, 320], kv: [2, 4096, 320], heads: 8 },
  { name: 'attention cross 64² 2x4096x77 h8 d40', op: 'attention', q: [2, 4096, 320], kv: [2, 77, 320], heads: 8 },
  { name: 'attention self 32² 2x1024 h8 d80', op: 'attention', q: [2, 1024, 640], kv: [2, 1024, 640], heads: 8 },
  { name: 'attention vae 64² 1x4096 h1 d512', op: 'attention', q: [1, 4096, 512], kv: [1, 4096, 512], heads: 1 },
  { name: 'group_norm 32g 2x320x64²', op: 'group_norm', x: [2, 320, 64, 64], groups: 32 },
  { name: 'group_norm 32g vae 1x128x512²', op: 'group_norm', x: [1, 128, 512, 512], groups: 32 },
  { name: 'layer_norm 8192x320', op: 'layer_norm', x: [8192, 320] },
  { name: 'softmax 65536x77', op: 'softmax', x: [65536, 77] },
];

/** `--quick`: one case per kernel family at small shapes (seconds on lavapipe). */
export const QUICK_CASES: KernelCase[] = [
  { name: 'linear 256x320x320', op: 'linear', x: [256, 320], w: [320, 320] },
  { name: 'bmm q·kᵀ 4x64x64x40', op: 'bmm', a: [4, 64, 40], b: [4, 64, 40], transB: true },
  { name: 'conv3x3 64@16² b2', op: 'conv2d', x: [2, 64, 16, 16], w: [64, 64, 3, 3], stride: 1, padding: p1 },
  { name: 'conv3x3 s2 (0,1,0,1) 32@16²', op: 'conv2d', x: [1, 32, 16, 16], w: [32, 32, 3, 3], stride: 2, padding: vaePad },
  { name: 'conv1x1 64->32 @16²', op: 'conv2d', x: [1, 64, 16, 16], w: [32, 64, 1, 1], stride: 1, padding: [0, 0, 0, 0] },
  { name: 'attention 1x256 h2 d32', op: 'attention', q: [1, 256, 64], kv: [1, 256, 64], heads: 2 },
  { name: 'group_norm 8g 1x64x16²', op: 'group_norm', x: [1, 64, 16, 16], groups: 8 },
  { name: 'layer_norm 256x320', op: 'layer_norm', x: [256, 320] },
  { name: 'softmax 512x77', op: 'softmax', x: [512, 77] },
];

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Floating-point operations and bytes moved (inputs read once, output written once) of a case. */
export function caseCost(c: KernelCase, bytesPerElement: number): { flops: number; bytes: number } {
  switch (c.op) {
    case 'linear': {
      const [m, k] = c.x as [number, number];
      const n = c.w[0]!;
      return { flops: 2 * m * n * k, bytes: (m * k + n * k + m * n + n) * bytesPerElement };
    }
    case 'bmm': {
      const [z, m, k] = c.a as [number, number, number];
      const n = c.transB ? c.b[1]! : c.b[2]!;
      return { flops: 2 * z * m * n * k, bytes: (numel(c.a) + numel(c.b) + z * m * n) * bytesPerElement };
    }
    case 'conv2d': {
      const [n, ci, h, w] = c.x as [number, number, number, number];
      const [o, , kh, kw] = c.w as [number, number, number, number];
      const [t, b, l, r] = c.padding;
      const ho = Math.floor((h + t + b - kh) / c.stride) + 1;
      const wo = Math.floor((w + l + r - kw) / c.stride) + 1;
      return { flops: 2 * n * o * ci * kh * kw * ho * wo, bytes: (numel(c.x) + numel(c.w) + n * o * ho * wo + o) * bytesPerElement };
    }
    case 'attention': {
      const [b, sq, hd] = c.q as [number, number, number];
      const sk = c.kv[1]!;
      return { flops: 4 * b * sq * sk * hd, bytes: (2 * numel(c.q) + 2 * numel(c.kv)) * bytesPerElement };
    }
    case 'group_norm':
    case 'layer_norm':
    case 'softmax':
      return { flops: 8 * numel(c.x), bytes: 2 * numel(c.x) * bytesPerElement };
  }
}
