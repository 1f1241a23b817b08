import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@sd-webgpu/pipeline/node': fileURLToPath(new URL('./packages/pipeline/src/node.ts', import.meta.url)),
      '@sd-webgpu/tensor': pkg('tensor'),
      '@sd-webgpu/kernels': pkg('kernels'),
      '@sd-webgpu/models': pkg('models'),
      '@sd-webgpu/pipeline': pkg('pipeline'),
      '@sd-webgpu/server': pkg('server'),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // One WebGPU device per worker; lavapipe has 2 cores, so run files one at a time.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
