/** Times the kernel cases of ./cases.ts on a device (one kernel-table row at a time) through the bench harness. */
import type { Device, Tensor } from '@sd-webgpu/tensor';
import { attention, conv2d, groupNorm, layerNorm, linear, matmul, setKernelRow, softmax, type KernelRow } from '@sd-webgpu/kernels';
import { type BenchResult, benchCases } from '../harness';
import { type KernelCase, caseCost } from './cases';

export interface KernelResult extends BenchResult {
  case: string;
  op: KernelCase['op'];
  dtype: 'f32' | 'f16';
  row: string;
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Deterministic values in [-0.5, 0.5) without a per-element RNG call (large tensors). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (((i + seed) * 7919) % 1000) / 1000 - 0.5;
  return out;
}

/** Inputs of one case and the closure that records it. */
function prepare(device: Device, c: KernelCase, dtype: 'f32' | 'f16'): { inputs: Tensor[]; run: () => void } {
  let seed = 0;
  const t = (shape: number[]) => device.tensor(values(numel(shape), ++seed), shape, dtype);
  switch (c.op) {
    case 'linear': {
      const [x, w, b] = [t(c.x), t(c.w), t([c.w[0]!])];
      return { inputs: [x, w, b], run: () => void linear(x, w, b) };
    }
    case 'bmm': {
      const [a, b] = [t(c.a), t(c.b)];
      return { inputs: [a, b], run: () => void matmul(a, b, { transB: c.transB }) };
    }
    case 'conv2d': {
      const [x, w, b] = [t(c.x), t(c.w), t([c.w[0]!])];
      return { inputs: [x, w, b], run: () => void conv2d(x, w, b, { stride: c.stride, padding: c.padding }) };
    }
    case 'attention': {
      const [q, k, v] = [t(c.q), t(c.kv), t(c.kv)];
      return { inputs: [q, k, v], run: () => void attention(q, k, v, { heads: c.heads }) };
    }
    case 'group_norm': {
      const ch = c.x[1]!;
      const [x, w, b] = [t(c.x), t([ch]), t([ch])];
      return { inputs: [x, w, b], run: () => void groupNorm(x, w, b, { groups: c.groups, eps: 1e-5, silu: true }) };
    }
    case 'layer_norm': {
      const d = c.x[c.x.length - 1]!;
      const [x, w, b] = [t(c.x), t([d]), t([d])];
      return { inputs: [x, w, b], run: () => void layerNorm(x, w, b, { eps: 1e-5 }) };
    }
    case 'softmax': {
      const x = t(c.x);
      return { inputs: [x], run: () => void softmax(x) };
    }
  }
}

/** Times every case in every dtype with `row` forced (null: the device's own row). */
export async function benchKernels(
  device: Device, cases: KernelCase[], dtypes: ('f32' | 'f16')[], row: KernelRow | null, rowName: string,
  opts: { warmup: number; iters: number },
): Promise<KernelResult[]> {
  const out: KernelResult[] = [];
  setKernelRow(device, row);
  try {
    for (const dtype of dtypes) {
      for (const c of cases) {
        const { inputs, run } = prepare(device, c, dtype);
        try {
          const cost = caseCost(c, dtype === 'f16' ? 2 : 4);
          const [r] = await benchCases(device, [{ name: `[${rowName}] ${c.name} ${dtype}`, run, ...cost }], opts);
          out.push({ ...r!, case: c.name, op: c.op, dtype, row: rowName });
        } finally {
          for (const x of inputs) x.dispose();
        }
      }
    }
  } finally {
    setKernelRow(device, null);
  }
  return out;
}
