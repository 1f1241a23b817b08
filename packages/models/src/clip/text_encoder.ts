import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { add, attention, concat, embedding, gelu, quickGelu } from '@sd-webgpu/kernels';
import { ParameterError } from '@sd-webgpu/tensor';
import type { ClipTextConfig } from '../configs.js';
import { LayerNorm, Linear } from '../nn/linear.js';
import type { WeightScope } from '../weights/scope.js';

/** Receives named intermediate activations (for tests); copy what you keep, the model frees its intermediates. */
export type Taps = (name: string, t: Tensor) => void;

/** HF CLIPAttention: q/k/v/out projections with bias, causal multi-head self-attention. */
class ClipAttention {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly out_proj: Linear;

  constructor(scope: WeightScope, readonly cfg: ClipTextConfig) {
    const h = cfg.hiddenSize;
    this.q_proj = new Linear(scope.pp('q_proj'), h, h);
    this.k_proj = new Linear(scope.pp('k_proj'), h, h);
    this.v_proj = new Linear(scope.pp('v_proj'), h, h);
    this.out_proj = new Linear(scope.pp('out_proj'), h, h);
  }

  forward(x: Tensor): Tensor {
    // HF multiplies q (bias included) by head_dim^-0.5; the attention kernel applies the same scale to q·k.
    const q = this.q_proj.forward(x);
    const k = this.k_proj.forward(x);
    const v = this.v_proj.forward(x);
    return this.out_proj.forward(attention(q, k, v, { heads: this.cfg.numAttentionHeads, causal: true }));
  }
}

/** HF CLIPMLP: fc1, the config's `hidden_act` (quick_gelu for OpenAI CLIP / SD 1.x, exact gelu for OpenCLIP / SD 2.x), fc2. */
class ClipMlp {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly #act: (x: Tensor) => Tensor;

  constructor(scope: WeightScope, cfg: ClipTextConfig) {
    this.fc1 = new Linear(scope.pp('fc1'), cfg.hiddenSize, cfg.intermediateSize);
    this.fc2 = new Linear(scope.pp('fc2'), cfg.intermediateSize, cfg.hiddenSize);
    this.#act = cfg.hiddenAct === 'gelu' ? gelu : quickGelu;
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.#act(this.fc1.forward(x)));
  }
}

/** HF CLIPEncoderLayer (pre-LN). */
export class ClipEncoderLayer {
  readonly layer_norm1: LayerNorm;
  readonly self_attn: ClipAttention;
  readonly layer_norm2: LayerNorm;
  readonly mlp: ClipMlp;

  constructor(scope: WeightScope, cfg: ClipTextConfig) {
    this.layer_norm1 = new LayerNorm(scope.pp('layer_norm1'), cfg.hiddenSize, cfg.layerNormEps);
    this.self_attn = new ClipAttention(scope.pp('self_attn'), cfg);
    this.layer_norm2 = new LayerNorm(scope.pp('layer_norm2'), cfg.hiddenSize, cfg.layerNormEps);
    this.mlp = new ClipMlp(scope.pp('mlp'), cfg);
  }

  forward(x: Tensor): Tensor {
    const dev = x.device;
    return dev.scope(() => {
      const h = add(x, this.self_attn.forward(this.layer_norm1.forward(x)));
      return add(h, this.mlp.forward(this.layer_norm2.forward(h)));
    });
  }
}

class ClipEmbeddings {
  readonly token_embedding: { weight: Tensor };
  readonly position_embedding: { weight: Tensor };

  constructor(scope: WeightScope, cfg: ClipTextConfig) {
    this.token_embedding = { weight: scope.pp('token_embedding').get('weight', [cfg.vocabSize, cfg.hiddenSize]) };
    this.position_embedding = {
      weight: scope.pp('position_embedding').get('weight', [cfg.maxPositionEmbeddings, cfg.hiddenSize]),
    };
  }

  /** Appends rows `[k, hidden]` to the token table (new token ids from the current row count on). */
  appendTokens(rows: Float32Array): void {
    const old = this.token_embedding.weight;
    const dev = old.device;
    const hidden = old.shape[1]!;
    const grown = dev.keep(dev.scope(() => concat([old, dev.tensor(rows, [rows.length / hidden, hidden], old.dtype)], 0)));
    this.token_embedding.weight = grown;
    old.dispose();
  }

  forward(ids: Tensor): Tensor {
    const [, seq] = ids.shape as [number, number];
    const pos = this.position_embedding.weight;
    const posUsed = seq === pos.shape[0] ? pos : null;
    if (!posUsed) throw new ShapeError('CLIP embeddings', `sequence length ${seq} != ${pos.shape[0]} positions`, [ids.shape]);
    return add(embedding(ids, this.token_embedding.weight), posUsed);
  }
}

/** HF CLIPTextModel's `text_model`: embeddings, pre-LN encoder, final layer norm → last_hidden_state. */
export class ClipTextModel {
  readonly embeddings: ClipEmbeddings;
  readonly encoder: { layers: ClipEncoderLayer[] };
  readonly final_layer_norm: LayerNorm;

  constructor(scope: WeightScope /* at `text_model` */, readonly cfg: ClipTextConfig) {
    this.embeddings = new ClipEmbeddings(scope.pp('embeddings'), cfg);
    const layers = scope.pp('encoder').pp('layers');
    this.encoder = {
      layers: Array.from({ length: cfg.numHiddenLayers }, (_, i) => new ClipEncoderLayer(layers.pp(String(i)), cfg)),
    };
    this.final_layer_norm = new LayerNorm(scope.pp('final_layer_norm'), cfg.hiddenSize, cfg.layerNormEps);
  }

  /** Token-table rows (the vocabulary size, textual-inversion tokens included). */
  get vocabRows(): number {
    return this.embeddings.token_embedding.weight.shape[0]!;
  }

  /**
   * ids: i32 `[B, 77]` → last_hidden_state `[B, 77, hidden]`. `clipSkip` counts as A1111 does: 1 (default) uses every
   * layer, 2 stops after the penultimate layer (diffusers `clip_skip=1`), and so on; the final layer norm is applied
   * to whichever layer's output is used.
   */
  forward(ids: Tensor, taps?: Taps, clipSkip = 1): Tensor {
    if (ids.dtype !== 'i32' || ids.rank !== 2) {
      throw new ShapeError('ClipTextModel', `expected i32 ids [B, ${this.cfg.maxPositionEmbeddings}], got ${ids.describe()}`);
    }
    const layers = this.encoder.layers.length;
    if (!Number.isInteger(clipSkip) || clipSkip < 1 || clipSkip > layers) {
      throw new ParameterError('ClipTextModel', 'clipSkip', `must be an integer in 1..${layers} (got ${String(clipSkip)})`);
    }
    return ids.device.scope(() => {
      let x = this.embeddings.forward(ids);
      taps?.('embeddings', x);
      this.encoder.layers.slice(0, layers - clipSkip + 1).forEach((layer, i) => {
        x = layer.forward(x);
        taps?.(`layer${i}`, x);
      });
      return this.final_layer_norm.forward(x);
    });
  }
}
