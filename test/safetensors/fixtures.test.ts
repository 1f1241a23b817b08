// Reading the real reference fixtures (written by Python's safetensors) with the project's reader, and the
// test/helpers/fixtures.ts API that every other test area uses.
import { describe, expect, it } from 'vitest';
import { asFloat32, compare, expectClose, fixturePath, loadCase, parsePythonJson, readFixtureJson, toNumbers } from '../helpers/fixtures';
import { openSafetensors, type ByteSource } from '../../packages/models/src/safetensors';
import { NodeFileSource, openSafetensorsFile } from '../../packages/models/src/safetensors/node';
import { SafetensorsFile } from '../../packages/models/src/safetensors';

/** Wraps a source and counts the bytes requested from it. */
class CountingSource implements ByteSource {
  bytesRead = 0;
  constructor(private readonly inner: ByteSource) {}
  get size() {
    return this.inner.size;
  }
  get name() {
    return this.inner.name;
  }
  async read(offset: number, length: number) {
    this.bytesRead += length;
    return this.inner.read(offset, length);
  }
  async close() {
    await this.inner.close?.();
  }
}

describe('real fixture files', () => {
  it('tiny-sd-v1-original.safetensors: 981 F16 tensors, read lazily', async () => {
    const src = new CountingSource(await NodeFileSource.open(fixturePath('models/tiny-sd-v1-original.safetensors')));
    const st = await SafetensorsFile.open(src);
    try {
      expect(st.entries.size).toBe(981);
      expect([...st.entries.values()].every((e) => e.dtype === 'F16')).toBe(true);
      expect(Object.keys(st.metadata)).toEqual([]);
      // Opening reads only the prefix and the header, not 20 MB of weights.
      expect(src.bytesRead).toBe(8 + st.header.headerLength);
      const prefixes = new Set(st.keys().map((k) => k.split('.')[0]));
      expect(prefixes).toEqual(new Set(['cond_stage_model', 'first_stage_model', 'model']));
      // The converter cast position_ids to F16 too: 0..76 exactly.
      const pos = await st.readFloat32('cond_stage_model.transformer.text_model.embeddings.position_ids');
      expect(Array.from(pos)).toEqual(Array.from({ length: 77 }, (_, i) => i));
      const tok = st.info('cond_stage_model.transformer.text_model.embeddings.token_embedding.weight');
      expect(tok.shape).toEqual([49408, 64]);
      const before = src.bytesRead;
      await st.readRaw(tok.name);
      expect(src.bytesRead - before).toBe(49408 * 64 * 2);
      expect(tok.byteLength).toBe(49408 * 64 * 2);
    } finally {
      await st.close();
    }
  });

  it('single-file weights equal the diffusers-folder weights (F16 file vs F16 and F32 files)', async () => {
    const single = await openSafetensors(fixturePath('models/tiny-sd-v1-original.safetensors'));
    const unet = await openSafetensorsFile(fixturePath('models/tiny-sd/unet/diffusion_pytorch_model.safetensors'));
    const vae = await openSafetensorsFile(fixturePath('models/tiny-sd/vae/diffusion_pytorch_model.safetensors'));
    const te = await openSafetensorsFile(fixturePath('models/tiny-sd/text_encoder/model.safetensors'));
    try {
      expect(vae.info('encoder.conv_in.weight').dtype).toBe('F32');
      const pairs: [SafetensorsFile, string, string][] = [
        [unet, 'time_embedding.linear_1.weight', 'model.diffusion_model.time_embed.0.weight'],
        [unet, 'down_blocks.0.resnets.1.conv1.weight', 'model.diffusion_model.input_blocks.2.0.in_layers.2.weight'],
        [vae, 'encoder.conv_in.weight', 'first_stage_model.encoder.conv_in.weight'],
        [vae, 'decoder.up_blocks.0.resnets.0.conv1.weight', 'first_stage_model.decoder.up.3.block.0.conv1.weight'],
        [te, 'text_model.final_layer_norm.weight', 'cond_stage_model.transformer.text_model.final_layer_norm.weight'],
      ];
      for (const [folder, a, b] of pairs) {
        expect(folder.info(a).shape).toEqual(single.info(b).shape);
        const x = await folder.readFloat32(a);
        const y = await single.readFloat32(b);
        expect(x.length).toBeGreaterThan(0);
        expect(compare(x, y, { atol: 0 }).ok, `${a} vs ${b}`).toBe(true); // weights are exactly representable in f16
        // And the F32 folder weights convert back to exactly the single file's F16 bits.
        expect(await folder.readFloat16Bits(a)).toEqual(await single.readTyped(b));
      }
    } finally {
      await Promise.all([single, unet, vae, te].map((f) => f.close()));
    }
  });

  it('f32 → f16 rounding matches torch: out.y_f32 rounded equals out.y_f16 bit for bit', async () => {
    for (const name of ['f16_matmul_64x40x77', 'f16_softmax_8x77', 'f16_attention_cross_q64_k77_h8_d40']) {
      const st = await openSafetensors(fixturePath(`ops/${name}.safetensors`));
      try {
        const rounded = await st.readFloat16Bits('out.y_f32');
        const torch = await st.readTyped('out.y_f16');
        expect(rounded.length).toBeGreaterThan(100);
        expect(rounded).toEqual(torch);
      } finally {
        await st.close();
      }
    }
  });
});

describe('test/helpers/fixtures.ts', () => {
  it('loadCase splits in./w./out. tensors and parses attrs', async () => {
    const c = await loadCase('ops/group_norm_1x32x8x8_g32_eps1e-05');
    expect(c.name).toBe('ops/group_norm_1x32x8x8_g32_eps1e-05');
    expect(c.op).toBe('group_norm');
    expect(c.attrs).toEqual({ affine: true, eps: 1e-5, num_groups: 32 });
    expect(Object.keys(c.inputs)).toEqual(['x']);
    expect(Object.keys(c.weights).sort()).toEqual(['bias', 'weight']);
    expect(Object.keys(c.outputs)).toEqual(['y']);
    expect(c.inputs.x!.shape).toEqual([1, 32, 8, 8]);
    expect(c.inputs.x!.data).toBeInstanceOf(Float32Array);
    expect(c.tensors['w.weight']).toBe(c.weights.weight);
  });

  it('matmul_7x13x5: the loaded tensors reproduce the reference product', async () => {
    const c = await loadCase('ops/matmul_7x13x5.safetensors');
    expect(c.op).toBe('matmul');
    const a = c.inputs.a!;
    const b = c.inputs.b!;
    const [m, k] = a.shape as [number, number];
    const n = b.shape[1]!;
    const y = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += Number(a.data[i * k + p]) * Number(b.data[p * n + j]);
        y[i * n + j] = s;
      }
    // The reference is the float64 product rounded to f32: allow one f32 rounding (2^-24 relative) plus tiny slack.
    expectClose(y, c.outputs.y!.data as Float32Array, { atol: 1e-7, rtol: 1.2e-7, shape: [m, n] }, 'matmul 7x13x5');
  });

  it('I64, U8, F16 and F64 fixture tensors come back in the documented host types', async () => {
    const rng = await loadCase('rng/seed_42');
    const words = rng.outputs.mt19937_u32_first1000!;
    expect(words.dtype).toBe('I64');
    expect(words.data).toBeInstanceOf(BigInt64Array);
    expect(words.data[0]).toBe(1608637542n); // first mt19937 output for seed 42 (numpy RandomState(42))
    expect(words.toNumbers()[0]).toBe(1608637542);
    expect(rng.inputs.seed!.shape).toEqual([]);
    expect(toNumbers(rng.inputs.seed!.data as BigInt64Array)).toEqual([42]);
    expect(asFloat32(rng.inputs.seed!)).toEqual(new Float32Array([42]));
    expect(asFloat32(rng.outputs.randn_5!)).toBe(rng.outputs.randn_5!.data);

    const pipe = await loadCase('pipeline/txt2img_ddim_10steps_g7.5_seed42');
    const u8 = pipe.outputs.image_u8_hwc!;
    expect(u8.data).toBeInstanceOf(Uint8Array);
    const img = pipe.outputs.image!.data as Float32Array; // NCHW [1,3,64,64]
    const hw = 64 * 64;
    const fromImage = Array.from(u8.data as Uint8Array, (_, idx) => {
      const pix = Math.floor(idx / 3);
      return Math.round(img[(idx % 3) * hw + pix]! * 255);
    });
    // round(image·255) with ties practically absent (fixture README, section 9).
    expect(compare(fromImage, u8.data as Uint8Array, { atol: 0 }).ok).toBe(true);

    const f16 = await loadCase('ops/f16_matmul_64x40x77');
    expect(f16.inputs.a!.dtype).toBe('F16');
    expect(f16.inputs.a!.data).toBeInstanceOf(Float32Array);

    const tables = await loadCase('schedulers/tables_sd1');
    expect(tables.outputs.alphas_cumprod_f64!.data).toBeInstanceOf(Float64Array);
    // The f32 table is the f64 one within ~5e-7 (README section 8).
    const r = expectClose(tables.outputs.alphas_cumprod!.data as Float32Array, tables.outputs.alphas_cumprod_f64!.data as Float64Array, { atol: 5e-7 }, 'alphas_cumprod');
    expect(r.maxAbs).toBeCloseTo(tables.attrs.alphas_cumprod_f32_vs_f64_maxabs, 9);
  });

  it('loadCase covers every safetensors case of the manifest', async () => {
    const manifest = await readFixtureJson<{ cases: { name: string; file: string; op: string }[] }>('manifest.json');
    const cases = manifest.cases.filter((c) => c.file.endsWith('.safetensors'));
    expect(cases.length).toBeGreaterThan(100);
    for (const m of cases) {
      const c = await loadCase(m.file);
      // The single-file checkpoint is plain weights (no __metadata__); the manifest labels it 'original_single_file'.
      expect(c.op, m.file).toBe(m.op === 'original_single_file' ? '' : m.op);
      expect(Object.keys(c.tensors).length, m.file).toBeGreaterThan(0);
      if (c.op) expect(Object.keys(c.outputs).length, m.file).toBeGreaterThan(0);
    }
  });

  it('accepts the NaN/Infinity tokens that Python writes into JSON', async () => {
    const dpm = await loadCase('schedulers/timesteps_dpmpp_2m');
    expect(dpm.attrs.config.lambda_min_clipped).toBe(-Infinity);
    const v = parsePythonJson('{"a": NaN, "b": [Infinity, -Infinity, -1.5], "c": "NaN -Infinity \\" Infinity"}') as any;
    expect(v.a).toBeNaN();
    expect(v.b).toEqual([Infinity, -Infinity, -1.5]);
    expect(v.c).toBe('NaN -Infinity " Infinity');
    expect(() => parsePythonJson('{"a": Nan}')).toThrow(SyntaxError);
  });

  it('loadCase names the missing file', async () => {
    await expect(loadCase('ops/does_not_exist')).rejects.toThrow(/does_not_exist\.safetensors/);
  });

  it('compare and expectClose report the worst element', () => {
    const r = compare([1, 2, 3.5, 4], [1, 2, 3, 4.01], { atol: 0.05 });
    expect(r).toMatchObject({ ok: false, worstIndex: 2, mismatches: 1, n: 4 });
    expect(r.maxAbs).toBeCloseTo(0.5, 12);
    expect(r.maxRel).toBeCloseTo(0.5 / 3, 12);
    expect(compare([100.5], [100], { rtol: 0.01 }).ok).toBe(true);
    expect(compare([100.5], [100], { rtol: 0.001 }).ok).toBe(false);
    expect(compare([NaN, Infinity], [NaN, Infinity]).ok).toBe(true);
    expect(compare([NaN], [0], { atol: 1 })).toMatchObject({ ok: false, maxAbs: Infinity, worstIndex: 0 });
    expect(compare([0], [NaN], { atol: 1 }).ok).toBe(false);
    expect(compare([Infinity], [-Infinity], { atol: 1 }).ok).toBe(false);
    expect(() => compare([1], [1, 2])).toThrow(/1 elements, expected has 2/);
    expect(() => expectClose([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6.5], { atol: 1e-3, shape: [2, 3] }, 'conv out')).toThrow(
      /conv out: 1 of 6 elements outside atol=0.001 rtol=0; max abs error 0\.500000.*worst at index 5 \[1, 2\]: actual 6\.00000 vs expected 6\.50000/,
    );
    expect(expectClose([1], [1.0000001], { atol: 1e-6 }, 'ok').ok).toBe(true);
  });
});
