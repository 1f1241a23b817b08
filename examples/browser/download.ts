/**
 * The page's "Download PNG": the canvas encoded by the browser, with the generation `parameters` text chunk that the
 * CLI writes (inserted by the library's browser-safe chunk writer, so A1111-style tools read the same text).
 */
import { withParametersChunk } from '@sd-webgpu/pipeline';

/** The canvas as PNG bytes (the browser's encoder; lossless for the opaque pixels the page draws). */
function canvasPng(canvas: HTMLCanvasElement): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (!blob) reject(new Error('canvas: the browser could not encode a PNG'));
      else blob.arrayBuffer().then((b) => resolve(new Uint8Array(b)), reject);
    }, 'image/png');
  });
}

/** A PNG Blob of the canvas carrying `parameters` (see formatParameters) in a tEXt/iTXt chunk after IHDR. */
export async function pngWithParameters(canvas: HTMLCanvasElement, parameters: string): Promise<Blob> {
  const png = withParametersChunk(await canvasPng(canvas), parameters, 'canvas PNG');
  return new Blob([png as Uint8Array<ArrayBuffer>], { type: 'image/png' });
}
