import { describe, expect, it } from 'vitest';
import { UnsupportedError } from '@sd-webgpu/tensor';
import {
  ADAPTER_CLASSES, type AdapterFacts, KERNEL_ROWS, adapterClass, checkKernelRow, kernelRow, runnableRows, setKernelRow,
} from '../../packages/kernels/src/table';
import { gemmSharedBytes } from '../../packages/kernels/src/gemm/core';
import { testDevice } from '../helpers/device';

const facts = (f: Partial<AdapterFacts>): AdapterFacts => ({
  vendor: '', architecture: '', device: '', description: '', subgroups: true, ...f,
});

describe('kernel table', () => {
  it('classifies adapters from their info, features and subgroup sizes', () => {
    // What Dawn reports for lavapipe and SwiftShader here, and vendor strings of the GPU classes.
    const lavapipe = { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', subgroupMinSize: 8, subgroupMaxSize: 8 };
    expect(adapterClass(facts(lavapipe))).toBe('lavapipe');
    expect(adapterClass(facts({ ...lavapipe, subgroupMinSize: 4, subgroupMaxSize: 4 }))).toBe('default'); // 128-bit build
    expect(adapterClass(facts({ ...lavapipe, subgroups: false }))).toBe('default');
    expect(adapterClass(facts({ vendor: 'google', architecture: 'swiftshader', device: 'swiftshader-device-subzero-', subgroupMinSize: 4 }))).toBe('swiftshader');
    expect(adapterClass(facts({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' }))).toBe('nvidia');
    expect(adapterClass(facts({ vendor: '0x10de' }))).toBe('nvidia');
    expect(adapterClass(facts({ vendor: 'amd', architecture: 'rdna-3' }))).toBe('amd');
    expect(adapterClass(facts({ vendor: 'apple', architecture: 'metal-3' }))).toBe('apple');
    expect(adapterClass(facts({ vendor: 'intel', architecture: 'xe-lpg' }))).toBe('intel');
    expect(adapterClass(facts({ vendor: 'qualcomm', architecture: 'adreno-7xx' }))).toBe('default');
  });

  it('has one row per class, GPU rows on the GEMM core with at least 64 invocations within 16 KiB of workgroup memory', () => {
    expect(Object.keys(KERNEL_ROWS).sort()).toEqual([...ADAPTER_CLASSES].sort());
    for (const c of ['nvidia', 'amd', 'apple', 'intel', 'default'] as const) {
      const t = KERNEL_ROWS[c].conv2d;
      if (t === 'subgroup' || 'direct' in t) throw new Error(`${c} must run the GEMM core`);
      expect(t.wgX * t.wgY).toBeGreaterThanOrEqual(64);
      expect(gemmSharedBytes(t)).toBeLessThanOrEqual(16384);
    }
  });

  it('is overridable per device and rejects rows that cannot run', async () => {
    const dev = await testDevice();
    const auto = kernelRow(dev);
    expect(runnableRows(dev).map((r) => r.adapter)).toContain(auto.adapter);
    setKernelRow(dev, 'nvidia');
    expect(kernelRow(dev)).toBe(KERNEL_ROWS.nvidia);
    setKernelRow(dev, null);
    expect(kernelRow(dev)).toBe(auto);
    expect(() => setKernelRow(dev, 'bogus' as 'nvidia')).toThrow(/unknown adapter class 'bogus'/);
    const huge = { ...KERNEL_ROWS.nvidia, adapter: 'default' as const, conv2d: { wgX: 64, wgY: 64, rm: 4, rn: 4, tk: 64 } };
    expect(() => checkKernelRow(dev, huge)).toThrow(UnsupportedError);
    expect(() => setKernelRow(dev, huge)).toThrow(/exceeds this device's limits/);
    const sg8 = dev.features.subgroups && dev.adapterInfo.subgroupMinSize === 8 && dev.adapterInfo.subgroupMaxSize === 8;
    if (!sg8) expect(() => setKernelRow(dev, 'lavapipe')).toThrow(/8-lane subgroups/);
    expect(kernelRow(dev)).toBe(auto);
  });

  // `npm run test:swiftshader` (CI) sets SD_WEBGPU_EXPECT_ADAPTER: a missing SwiftShader ICD must fail there, not
  // quietly run the suite on lavapipe again.
  const expected = process.env.SD_WEBGPU_EXPECT_ADAPTER;
  it.skipIf(!expected)(`runs on the adapter the test command asked for (${expected ?? 'not set'})`, async () => {
    const dev = await testDevice();
    expect(adapterClass({ ...dev.adapterInfo, subgroups: dev.features.subgroups })).toBe(expected);
  });
});
