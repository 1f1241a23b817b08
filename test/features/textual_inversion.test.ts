import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParameterError } from '@sd-webgpu/tensor';
import { LoraError } from '@sd-webgpu/models';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { type FixtureCase, expectClose, fixturePath, loadCase } from '../helpers/fixtures';
import { TINY_PATHS } from '../helpers/tiny';

const CAT = fixturePath('features/textual_inversion/cat-toy/learned_embeds.safetensors');
const STYLE = fixturePath('features/textual_inversion/style_a1111.safetensors');

let sd: StableDiffusion;
let c: FixtureCase;
beforeAll(async () => {
  c = await loadCase('features/textual_inversion/ti_text_encoder');
  // the fixture's load order: <cat-toy> (diffusers format, token from the key), then <style> (A1111 emb_params, 2 vectors)
  sd = await StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice(), embeddings: [{ source: CAT }, { source: STYLE, token: '<style>' }] });
});
afterAll(() => sd?.dispose());

describe('textual inversion (diffusers load_textual_inversion)', () => {
  it('appends the tokens to the vocabulary in load order, multi-vector tokens as t, t_1, …', () => {
    const added = c.attrs.added_tokens as Record<string, number>;
    for (const [token, id] of Object.entries(added)) expect(sd.tokenizer.tokenToId(token), token).toBe(id);
    expect(sd.tokenizer.vocabSize).toBe(c.attrs.vocab_size_after);
    expect(sd.textEncoder.vocabRows).toBe(c.attrs.vocab_size_after);
  });

  it('tokenizes prompts as diffusers does (added tokens split first, <style> expanded to both vectors)', () => {
    const prompts = c.attrs.prompts as string[];
    const want = c.inputs.input_ids!.toNumbers();
    prompts.forEach((p, i) => expect(Array.from(sd.tokenizer.tokenize(p).ids), p).toEqual(want.slice(i * 77, (i + 1) * 77)));
  });

  it('gives the reference last hidden state with the extended embedding table', async () => {
    const ids = sd.device.tensor(Int32Array.from(c.inputs.input_ids!.toNumbers()), [4, 77], 'i32');
    const out = sd.textEncoder.forward(ids);
    ids.dispose();
    const got = await out.float32();
    out.dispose();
    // README 11: ti last_hidden_state 1e-4 (f32)
    expectClose(got, c.outputs.last_hidden_state!.data as Float32Array, { atol: 1e-4 }, 'last_hidden_state');
  });

  it('lowMemory: the reloaded text encoder gets the embeddings again', async () => {
    const lm = await StableDiffusion.load(TINY_PATHS.folder, { device: sd.device, lowMemory: true, embeddings: [{ source: CAT }, { source: STYLE, token: '<style>' }] });
    try {
      const prompt = (c.attrs.prompts as string[])[2]!;
      const want = await sd.encodePrompt(prompt, '', 1, false);
      for (let run = 0; run < 2; run++) {
        const got = await lm.encodePrompt(prompt, '', 1, false);
        expect(Array.from(await got.float32())).toEqual(Array.from(await want.float32()));
        got.dispose();
      }
      want.dispose();
    } finally {
      lm.dispose();
    }
  });

  it('rejects a token already in the vocabulary, a wrong width, and an emb_params file without a token', async () => {
    await expect(sd.loadEmbedding({ source: CAT })).rejects.toBeInstanceOf(ParameterError);
    await expect(sd.loadEmbedding({ source: CAT, token: 'cat' })).rejects.toThrow(/already in the vocabulary/);
    const { readFileSync } = await import('node:fs');
    await expect(sd.loadEmbedding({ source: new Uint8Array(readFileSync(STYLE)) })).rejects.toBeInstanceOf(LoraError);
    const lora = fixturePath('features/lora/tiny_kohya.safetensors');
    await expect(sd.loadEmbedding({ source: lora, token: '<x>' })).rejects.toThrow(/exactly one tensor/);
  });
});
