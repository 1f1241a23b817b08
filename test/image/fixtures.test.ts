/**
 * Image I/O against the reference pipeline's outputs: the PNGs hold exactly `out.image_u8_hwc`, which the reference
 * computed from `out.decoded` in float32 with numpy's round-half-to-even, so every comparison here is exact.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import {
  decodeImage, encodePng, readPngText, rgbaToTensorData, tensorToRgba,
} from '../helpers/image';
import { type HostTensor, fixturePath, loadCase } from '../helpers/fixtures';

const cases = readdirSync(fixturePath('pipeline'))
  .filter((f) => f.endsWith('.safetensors'))
  .map((f) => f.replace(/\.safetensors$/, ''));

/** HWC RGB u8 → RGBA with alpha 255. */
function hwcToRgba(t: HostTensor): number[] {
  const rgb = t.data as Uint8Array;
  const out: number[] = [];
  for (let i = 0; i < rgb.length; i += 3) out.push(rgb[i]!, rgb[i + 1]!, rgb[i + 2]!, 255);
  return out;
}

/** Index of the first differing element, for a readable failure (−1 when equal). */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe.each(cases)('pipeline/%s', (name) => {
  it('decodes the PNG to out.image_u8_hwc, and tensorToRgba(out.decoded) reproduces it exactly', async () => {
    const c = await loadCase(`pipeline/${name}`);
    const png = readFileSync(fixturePath(`pipeline/${name}.png`));
    const img = decodeImage(png, { source: `${name}.png` });
    const [, , h, w] = c.outputs.decoded!.shape as [number, number, number, number];
    expect([img.width, img.height]).toEqual([w, h]);
    const expected = hwcToRgba(c.outputs.image_u8_hwc!);
    expect(firstDiff(img.data, expected)).toBe(-1);

    const fromDecoded = tensorToRgba(c.outputs.decoded!.data as Float32Array, c.outputs.decoded!.shape, 0);
    expect(firstDiff(fromDecoded, expected)).toBe(-1);
    // out.image is already clamp(decoded/2 + 0.5, 0, 1): the 'unit' range skips the affine map
    const fromImage = tensorToRgba(c.outputs.image!.data as Float32Array, c.outputs.image!.shape, 0, 'unit');
    expect(firstDiff(fromImage, expected)).toBe(-1);

    // our encoder's PNG decodes to the same pixels and carries the parameters
    const ours = encodePng({ width: w, height: h, data: fromDecoded }, { parameters: `prompt ${name}` });
    expect(firstDiff(decodeImage(ours).data, expected)).toBe(-1);
    expect(readPngText(ours).parameters).toBe(`prompt ${name}`);
  });
});

describe.each(cases.filter((n) => n.startsWith('img2img')))('pipeline/%s input', (name) => {
  it('rgbaToTensorData(input PNG) equals in.image bit for bit', async () => {
    const c = await loadCase(`pipeline/${name}`);
    const input = decodeImage(readFileSync(fixturePath(String(c.attrs.image_png))));
    expect(firstDiff(input.data, hwcToRgba(c.inputs.image_u8_hwc!))).toBe(-1);
    const x = rgbaToTensorData(input);
    expect(x.length).toBe(3 * input.width * input.height);
    expect(firstDiff(x, c.inputs.image!.data as Float32Array)).toBe(-1);
  });
});

describe('models/vae_encode inputs', () => {
  it.each(['64x64', '48x80'])('rgbaToTensorData(vae_encode_input_%s.png) equals in.image', async (size) => {
    const c = await loadCase(`models/vae_encode_${size}`);
    const input = decodeImage(readFileSync(fixturePath(`models/vae_encode_input_${size}.png`)));
    expect(firstDiff(rgbaToTensorData(input), c.inputs.image!.data as Float32Array)).toBe(-1);
  });
});

describe('tensorToRgba', () => {
  it('picks image `index` of a batch and checks shapes', () => {
    const [h, w] = [2, 3];
    const data = new Float32Array(2 * 3 * h * w);
    data.fill(-1, 0, 3 * h * w); // image 0 black
    data.fill(1, 3 * h * w); // image 1 white
    expect([...tensorToRgba(data, [2, 3, h, w], 1)]).toEqual(Array(h * w).fill([255, 255, 255, 255]).flat());
    expect([...tensorToRgba(data, [2, 3, h, w], 0)]).toEqual(Array(h * w).fill([0, 0, 0, 255]).flat());
    expect(() => tensorToRgba(data, [2, 3, h, w], 2)).toThrow(/image index 2 out of range 0..1/);
    expect(() => tensorToRgba(data, [2, 4, h, w], 0)).toThrow(/3 channels/);
    expect(() => tensorToRgba(data, [3, 3, h, w], 0)).toThrow(/data has 36 elements, shape needs 54/);
  });

  it('keeps channel planes apart and clamps out-of-range values and NaN', () => {
    // one pixel: R = 2 (clamps to 255), G = NaN (→ 0), B = -3 (clamps to 0)
    expect([...tensorToRgba(Float32Array.from([2, NaN, -3]), [1, 3, 1, 1])]).toEqual([255, 0, 0, 255]);
    // two pixels, planes R=[−1, 1], G=[0, 0], B=[1, −1]: x/2+0.5 → 0, 1 / 0.5, 0.5 / 1, 0; 0.5·255 = 127.5 → 128 (even)
    const px = tensorToRgba(Float32Array.from([-1, 1, 0, 0, 1, -1]), [1, 3, 1, 2]);
    expect([...px]).toEqual([0, 128, 255, 255, 255, 128, 0, 255]);
  });
});
