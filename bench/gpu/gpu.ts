/**
 * Opening Dawn for the GPU benchmark, with errors that say what is missing: the `dawn.node` addon (from
 * SD_WEBGPU_DAWN_NODE, e.g. the `.device/bin/dawn.node` of ../shared/device/pack.sh, else the `webgpu` package),
 * the Vulkan loader or driver, shader-f16, or a Dawn too old for what the kernels use.
 */
import { createRequire } from 'node:module';
import { Device } from '@sd-webgpu/tensor';

/** Dawn toggles: f16 on NVIDIA's Vulkan driver; unsafe APIs so that the subgroup-matrix feature is listed if present. */
export const DAWN_FLAGS = [
  'disable-dawn-features=timestamp_quantization',
  'enable-dawn-features=vulkan_enable_f16_on_nvidia,allow_unsafe_apis',
];

export class BenchSetupError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'BenchSetupError';
  }
}

interface DawnModule {
  create(flags: string[]): GPU;
  globals: object;
}

/** Dawn node objects must stay referenced while their device lives. */
const keepAlive: unknown[] = [];

async function loadDawn(): Promise<{ mod: DawnModule; from: string }> {
  const path = process.env.SD_WEBGPU_DAWN_NODE;
  try {
    if (path) return { mod: createRequire(import.meta.url)(path) as DawnModule, from: path };
    const name = 'webgpu';
    return { mod: (await import(/* @vite-ignore */ name)) as DawnModule, from: 'the webgpu npm package' };
  } catch (e) {
    const msg = (e as Error).message;
    const hint = /libvulkan/.test(msg)
      ? 'the Vulkan loader (libvulkan.so.1) is missing: install libvulkan1, or on the device machine source .device/unpack.sh first'
      : path ? `check SD_WEBGPU_DAWN_NODE=${path}` : 'run `npm ci`, or set SD_WEBGPU_DAWN_NODE to a dawn.node file';
    throw new BenchSetupError(`cannot load Dawn (${path ?? 'webgpu'}): ${msg}\n  ${hint}`, 3);
  }
}

export interface OpenedGpu {
  device: Device;
  /** Dawn source, adapter info, features, limits and what was found about f16 and subgroup matrices. */
  report: Record<string, unknown>;
}

/** Creates the Device on the best adapter; `requireGpu` rejects CPU adapters (lavapipe, SwiftShader). */
export async function openGpu(requireGpu: boolean): Promise<OpenedGpu> {
  const { mod, from } = await loadDawn();
  if (typeof mod.create !== 'function') throw new BenchSetupError(`Dawn from ${from} has no create(): not a dawn.node addon`, 3);
  for (const [k, v] of Object.entries(mod.globals ?? {})) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const gpu = mod.create(DAWN_FLAGS);
  keepAlive.push(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new BenchSetupError('no WebGPU adapter: Dawn found no Vulkan driver.\n' +
      '  NVIDIA: the driver\'s Vulkan ICD must be installed and visible (VK_DRIVER_FILES=.../nvidia_icd.json; on the ' +
      'device machine .device/unpack.sh exports it)\n  CPU: `bash scripts/install-vulkan-cpu.sh` installs lavapipe', 4);
  }
  const info = adapter.info as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: unknown[] }) | undefined;
  if (!info || typeof info.vendor !== 'string') {
    throw new BenchSetupError(`Dawn from ${from} is too old: GPUAdapter.info is missing (webgpu >= 0.6 is needed)`, 5);
  }
  if (info.subgroupMinSize === undefined) {
    throw new BenchSetupError(`Dawn from ${from} is too old: GPUAdapterInfo has no subgroupMinSize (the kernel table needs ` +
      'the subgroup sizes; webgpu >= 0.6 is needed)', 5);
  }
  const features = [...adapter.features].sort();
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  if (requireGpu && /llvmpipe|lavapipe|swiftshader/i.test(text)) {
    throw new BenchSetupError(`the adapter is a CPU driver (${text.trim()}), not a GPU: the GPU's Vulkan driver is ` +
      'missing or not visible to the loader (use --quick to benchmark a CPU adapter on purpose)', 4);
  }
  const device = await Device.create({ gpu });
  const report = {
    dawn: from,
    adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
    subgroupSizes: [info.subgroupMinSize, info.subgroupMaxSize],
    f16: device.features.f16
      ? 'shader-f16'
      : `no shader-f16${/nvidia/i.test(text) ? ' (Dawn was passed vulkan_enable_f16_on_nvidia: the driver does not offer it)' : ''}: f16 cases are skipped`,
    subgroupMatrix: features.includes('chromium-experimental-subgroup-matrix')
      ? { feature: true, configs: info.subgroupMatrixConfigs ?? [] }
      : { feature: false, configs: info.subgroupMatrixConfigs ?? [] },
    features,
    limits: device.limits,
  };
  return { device, report };
}
