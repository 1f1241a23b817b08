/**
 * `--row NAME` (one kernel-table row, e.g. `nvidia`), `--row all` (every row that can run here) or nothing (the
 * device's own row) for the kernel benchmarks; results files carry the adapter class so figures from lavapipe and
 * SwiftShader sit side by side in bench/results/.
 */
import { Device } from '@sd-webgpu/tensor';
import { type AdapterClass, KERNEL_ROWS, type KernelRow, adapterClass, deviceFacts, kernelRow, runnableRows, setKernelRow } from '../packages/kernels/src/table';
import { type BenchResult, writeResults } from './harness';

/** The rows to time for `--row` (a name, a comma-separated list, or `all`). */
export function benchRows(device: Device, arg: string | true | undefined): KernelRow[] {
  if (arg === undefined || arg === true) return [kernelRow(device)];
  if (arg === 'all') return runnableRows(device);
  return arg.split(',').map((name) => {
    const row = KERNEL_ROWS[name as AdapterClass];
    if (!row) throw new Error(`--row ${name}: not a kernel-table row (${Object.keys(KERNEL_ROWS).join(', ')}, all)`);
    return row;
  });
}

/** Runs `fn` with `row` forced on `device`, then restores the automatic row. */
export async function withBenchRow<T>(device: Device, row: KernelRow, fn: () => Promise<T>): Promise<T> {
  setKernelRow(device, row);
  try {
    return await fn();
  } finally {
    setKernelRow(device, null);
  }
}

/** `<family>-<adapter class>` (plus `-row-<row>` for a single forced other row): the results file name. */
export function resultsName(family: string, device: Device, arg: string | true | undefined): string {
  const own = adapterClass(deviceFacts(device));
  return typeof arg === 'string' && arg !== 'all' && !arg.includes(',') && arg !== own ? `${family}-${own}-row-${arg}` : `${family}-${own}`;
}

/**
 * The main of a kernel benchmark timed per row: on a new device, for each `--row` and each dtype (`--dtype`, else f32
 * and f16 where the device has it), `cases(device, dtype, tag, quick)`; writes `<family>-<adapter class>.json`.
 */
export async function benchEachRow(
  family: string,
  args: Record<string, string | true>,
  cases: (device: Device, dtype: 'f32' | 'f16', tag: string, quick: boolean) => Promise<BenchResult[]>,
): Promise<void> {
  const device = await Device.create();
  const dtypes = (args.dtype ? [args.dtype] : device.features.f16 ? ['f32', 'f16'] : ['f32']) as ('f32' | 'f16')[];
  const results: BenchResult[] = [];
  try {
    for (const row of benchRows(device, args.row)) {
      await withBenchRow(device, row, async () => {
        for (const dtype of dtypes) results.push(...(await cases(device, dtype, ` [${row.adapter}]`, Boolean(args.quick))));
      });
    }
    writeResults(resultsName(family, device, args.row), device, results);
  } finally {
    device.dispose();
  }
}
