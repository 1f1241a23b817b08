/**
 * The real CLI as a subprocess: `node scripts/run-ts.mjs packages/pipeline/src/cli/main.ts generate ...` with the
 * bundled tiny demo model on the WebGPU device (lavapipe in CI). Checks the exit code, the stdout report, the PNG
 * and its parameters chunk; and that a bad argument fails fast with exit code 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage, formatParameters, parseParameters, readPngText } from '../helpers/image';

const ROOT = join(import.meta.dirname, '../..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-e2e-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sdWebgpu(args: string[]) {
  const r = spawnSync(process.execPath, ['scripts/run-ts.mjs', 'packages/pipeline/src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sd-webgpu CLI (subprocess)', () => {
  it('generates a 64x64 PNG with the demo model and records its parameters', () => {
    const out = join(dir, 'out.png');
    const r = sdWebgpu(['generate', '--steps', '2', '--width', '64', '--height', '64', '--prompt', 'x', '--seed', '42', '--output', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`wrote ${out} (seed 42)\n`);
    expect(r.stderr).toContain('bundled demo model');
    expect(r.stderr).not.toMatch(/^Warning: /m); // Dawn's own log lines (lavapipe: two) need --verbose
    expect(readdirSync(dir)).toEqual(['out.png']); // no temporaries left

    const png = readFileSync(out);
    const img = decodeImage(png);
    expect([img.width, img.height]).toEqual([64, 64]);
    // random weights give noise-like pictures, but a working pipeline never yields a single flat colour
    expect(new Set(Array.from({ length: 64 * 64 }, (_, p) => img.data[p * 4])).size).toBeGreaterThan(1);

    const text = readPngText(png).parameters;
    expect(text).toBe(
      formatParameters({ prompt: 'x', negativePrompt: '', steps: 2, guidanceScale: 7.5, seed: 42, scheduler: 'pndm', width: 64, height: 64 }),
    );
    expect(parseParameters(text!)).toMatchObject({ prompt: 'x', steps: 2, seed: 42, scheduler: 'pndm', width: 64, height: 64 });
  });

  it('rejects a bad argument with one line and exit code 2', () => {
    const r = sdWebgpu(['generate', '--prompt', 'x', '--steps', 'abc', '--output', join(dir, 'bad.png')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('sd-webgpu: --steps must be an integer in 1..1000 (got "abc")\n');
    expect(r.stdout).toBe('');
  });
});
