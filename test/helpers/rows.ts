import type { TestContext } from 'vitest';
import type { Device } from '@sd-webgpu/tensor';
import {
  ADAPTER_CLASSES, type AdapterClass, KERNEL_ROWS, type KernelRow, adapterClass, checkKernelRow, deviceFacts, setKernelRow,
} from '../../packages/kernels/src/table';

/**
 * The kernel-table rows with distinct kernels for `op`, labelled by the adapter classes that share them (e.g.
 * `nvidia/amd`). Kernel tests run each on the test device by forcing the row, so every GPU row's kernels are checked
 * against the CPU references on lavapipe.
 */
export function distinctRows(op: 'matmul' | 'conv2d' | 'attention' | 'norm' | 'softmax'): [string, KernelRow][] {
  const groups = new Map<string, AdapterClass[]>();
  for (const c of ADAPTER_CLASSES) {
    const key = JSON.stringify(KERNEL_ROWS[c][op]);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  // The group's representative: its last class, so a group shared by lavapipe and SwiftShader is forced as the
  // SwiftShader row (which runs on both adapters; lavapipe's needs 8-lane subgroups).
  return [...groups.values()].map((cs) => [cs.join('/'), KERNEL_ROWS[cs[cs.length - 1]!]]);
}

/**
 * Runs `fn` with `row` forced on `dev` and restores the automatic choice afterwards; skips the test (reported as
 * skipped) when the row cannot run on this adapter (lavapipe's row needs 8-lane subgroups) or, on SwiftShader, for
 * the other rows (unless `gpuRowsOnSwiftShader`: kernels that compile quickly there, such as the reductions, whose
 * subgroup variant then meets 4-lane subgroups).
 */
export async function withRow<T>(
  ctx: TestContext, dev: Device, row: KernelRow, fn: () => Promise<T>, opts: { gpuRowsOnSwiftShader?: boolean } = {},
): Promise<T | undefined> {
  try {
    checkKernelRow(dev, row);
  } catch (e) {
    ctx.skip(`row '${row.adapter}' cannot run here: ${(e as Error).message}`);
    return undefined;
  }
  if (adapterClass(deviceFacts(dev)) === 'swiftshader' && row.adapter !== 'swiftshader' && !opts.gpuRowsOnSwiftShader) {
    // SwiftShader takes 10-20 s per 256-invocation GEMM shader: the GPU rows are checked on lavapipe (CI) instead.
    ctx.skip('GPU rows are checked on lavapipe; on SwiftShader only its own row runs');
    return undefined;
  }
  setKernelRow(dev, row);
  try {
    return await fn();
  } finally {
    setKernelRow(dev, null);
  }
}
