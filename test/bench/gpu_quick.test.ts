import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { QUICK_CASES } from '../../bench/gpu/cases';

// bench/gpu/run.sh --quick end to end (bundle, adapter report, every kernel family, the tiny model's txt2img, the
// PyTorch comparison where python3 has torch, table and JSON): what a GPU machine runs, at small shapes.
describe('bench/gpu/run.sh --quick', () => {
  it('prints the table and writes JSON for every quick case', { timeout: 240_000 }, () => {
    const out = mkdtempSync(join(tmpdir(), 'gpu-bench-'));
    try {
      const r = spawnSync('bash', ['bench/gpu/run.sh', '--quick', '--out', out], {
        encoding: 'utf8', timeout: 230_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/^adapter: /m);
      expect(r.stdout).toMatch(/ours\/torch/);
      const json = JSON.parse(readFileSync(join(out, 'gpu-quick.json'), 'utf8')) as {
        kernels: { case: string; dtype: string; ms: number }[]; models: { name: string; ms: number; hostUsPerDispatch?: number }[];
        torch: { available: boolean; reason?: string; results: { case: string; ms?: number; error?: string }[] };
      };
      for (const c of QUICK_CASES) {
        const k = json.kernels.find((x) => x.case === c.name && x.dtype === 'f32');
        expect(k?.ms, c.name).toBeGreaterThan(0);
      }
      expect(json.models[0]?.ms).toBeGreaterThan(0);
      // the UNet's host cost per dispatch, through the op layer and replayed from its dispatch graph
      for (const how of ['forward', 'replayed']) {
        const h = json.models.find((m) => m.name.startsWith('host: unet') && m.name.endsWith(how));
        expect(h?.hostUsPerDispatch, how).toBeGreaterThan(0);
      }
      // With torch (CPU-only here: the CUDA path is skipped gracefully) every case has a time or a stated error.
      if (json.torch.available) {
        for (const c of QUICK_CASES) expect(json.torch.results.some((t) => t.case === c.name && (t.ms! > 0 || !!t.error))).toBe(true);
      } else expect(json.torch.reason).toBeTruthy();
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('fails with a clear message and exit code 4 when no GPU adapter is there', { timeout: 120_000 }, () => {
    // Without --quick a CPU adapter is refused (lavapipe here, or no Vulkan driver at all in a bare container).
    const r = spawnSync('bash', ['bench/gpu/run.sh', '--no-models', '--no-torch'], {
      encoding: 'utf8', timeout: 110_000, env: { ...process.env, XDG_RUNTIME_DIR: '/tmp', VK_DRIVER_FILES: '/nonexistent_icd.json' },
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(4);
    expect(r.stderr).toMatch(/no WebGPU adapter|CPU driver/);
  });
});
