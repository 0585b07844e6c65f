/**
 * A BERT encoder whose parameter names are exactly Hugging Face's, so that
 * `targetModules: ["query", "value"]` addresses the same layers here as in Python, and so that
 * `model.safetensors` files load in either direction.
 *
 *   bert.embeddings.{word,position,token_type}_embeddings.weight, bert.embeddings.LayerNorm.{weight,bias}
 *   bert.encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
 *   bert.encoder.layer.N.attention.output.{dense,LayerNorm}.*
 *   bert.encoder.layer.N.intermediate.dense.*     bert.encoder.layer.N.output.{dense,LayerNorm}.*
 *   bert.pooler.dense.*                          (sequence classification only)
 *   cls.predictions.{bias, transform.dense.*, transform.LayerNorm.*}   (masked LM; decoder tied to embeddings)
 *   classifier.{weight,bias}                     (sequence classification)
 */
import * as tf from "@tensorflow/tfjs";
import { Module, ModuleDict } from "../nn/module";
import { Linear } from "../nn/linear";
import { Embedding } from "../nn/embedding";
import { LayerNorm } from "../nn/layernorm";
import { Dropout } from "../nn/dropout";
import { activation } from "../nn/activations";
import { matMul } from "../ops/matmul";
import { Rng } from "../util/random";
import { BertConfig } from "./bert-config";

/** Anything with a forward(x) — a Linear, or a PEFT-adapted replacement of one. */
export interface Layer {
  forward(x: tf.Tensor): tf.Tensor;
}

/** A module whose children may be swapped by name (PEFT injection), so children are looked up at call time. */
class Block extends Module {
  protected call(name: string, x: tf.Tensor): tf.Tensor {
    return (this.children.get(name) as unknown as Layer).forward(x);
  }
}

function newLinear(c: BertConfig, rng: Rng, inF: number, outF: number): Linear {
  return new Linear(inF, outF, { init: { kind: "normal", std: c.initializerRange }, rng });
}

export class BertEmbeddings extends Block {
  constructor(
    readonly config: BertConfig,
    rng: Rng,
  ) {
    super();
    const std = config.initializerRange;
    this.addModule("word_embeddings", new Embedding(config.vocabSize, config.hiddenSize, { std, rng }));
    this.addModule("position_embeddings", new Embedding(config.maxPositionEmbeddings, config.hiddenSize, { std, rng }));
    this.addModule("token_type_embeddings", new Embedding(config.typeVocabSize, config.hiddenSize, { std, rng }));
    this.addModule("LayerNorm", new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.addModule("dropout", new Dropout(config.hiddenDropoutProb, rng.fork()));
  }

  get wordEmbeddings(): Embedding {
    return this.getSubmodule("word_embeddings", Embedding);
  }

  forward(inputIds: tf.Tensor, tokenTypeIds?: tf.Tensor): tf.Tensor {
    const [, seqLen] = inputIds.shape;
    if (seqLen > this.config.maxPositionEmbeddings) {
      throw new Error(`sequence length ${seqLen} exceeds max_position_embeddings ${this.config.maxPositionEmbeddings}; truncate the input`);
    }
    const words = this.call("word_embeddings", inputIds);
    const positions = this.getSubmodule("position_embeddings", Embedding).forward(tf.range(0, seqLen, 1, "int32"));
    const types = tokenTypeIds ?? tf.zerosLike(inputIds);
    const sum = tf.add(tf.add(words, positions), this.call("token_type_embeddings", types));
    return this.call("dropout", this.call("LayerNorm", sum));
  }
}

export class BertSelfAttention extends Block {
  readonly numHeads: number;
  readonly headSize: number;

  constructor(config: BertConfig, rng: Rng) {
    super();
    const d = config.hiddenSize;
    this.numHeads = config.numAttentionHeads;
    this.headSize = d / this.numHeads;
    this.addModule("query", newLinear(config, rng, d, d));
    this.addModule("key", newLinear(config, rng, d, d));
    this.addModule("value", newLinear(config, rng, d, d));
    this.addModule("dropout", new Dropout(config.attentionProbsDropoutProb, rng.fork()));
  }

  /** (B, T, d) → (B·H, T, d/H): one row of matrices per (sequence, head). */
  private splitHeads(x: tf.Tensor): tf.Tensor {
    const [b, t] = x.shape;
    return tf.reshape(tf.transpose(tf.reshape(x, [b, t, this.numHeads, this.headSize]), [0, 2, 1, 3]), [b * this.numHeads, t, this.headSize]);
  }

  /** hidden (B, T, d); maskBias (B, 1, 1, T) holding 0 for real tokens and a large negative number for padding. */
  forward(hidden: tf.Tensor, maskBias: tf.Tensor | null): tf.Tensor {
    // Each block's forward is its own tf.tidy: its intermediates are freed as soon as it returns (the
    // gradient tape keeps what backward needs), so a forward pass peaks at one block's tensors, not all.
    return tf.tidy(() => {
      const [b, t, d] = hidden.shape;
      const q = this.splitHeads(this.call("query", hidden));
      const kT = tf.transpose(this.splitHeads(this.call("key", hidden)), [0, 2, 1]);
      const v = this.splitHeads(this.call("value", hidden));
      let scores = tf.reshape(tf.mul(matMul(q, kT), 1 / Math.sqrt(this.headSize)), [b, this.numHeads, t, t]);
      if (maskBias) scores = tf.add(scores, maskBias);
      const probs = this.call("dropout", tf.softmax(scores));
      const context = matMul(tf.reshape(probs, [b * this.numHeads, t, t]), v);
      return tf.reshape(tf.transpose(tf.reshape(context, [b, this.numHeads, t, this.headSize]), [0, 2, 1, 3]), [b, t, d]);
    });
  }
}

/** dense → dropout → LayerNorm(· + residual): used after attention ("attention.output") and after the MLP ("output"). */
export class BertResidualOutput extends Block {
  constructor(config: BertConfig, rng: Rng, inFeatures: number) {
    super();
    this.addModule("dense", newLinear(config, rng, inFeatures, config.hiddenSize));
    this.addModule("LayerNorm", new LayerNorm(config.hiddenSize, config.layerNormEps));
    this.addModule("dropout", new Dropout(config.hiddenDropoutProb, rng.fork()));
  }

  forward(x: tf.Tensor, residual: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.call("LayerNorm", tf.add(this.call("dropout", this.call("dense", x)), residual)));
  }
}

export class BertAttention extends Module {
  constructor(config: BertConfig, rng: Rng) {
    super();
    this.addModule("self", new BertSelfAttention(config, rng));
    this.addModule("output", new BertResidualOutput(config, rng, config.hiddenSize));
  }

  forward(hidden: tf.Tensor, maskBias: tf.Tensor | null): tf.Tensor {
    const context = this.getSubmodule("self", BertSelfAttention).forward(hidden, maskBias);
    return this.getSubmodule("output", BertResidualOutput).forward(context, hidden);
  }
}

export class BertIntermediate extends Block {
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(config: BertConfig, rng: Rng) {
    super();
    this.addModule("dense", newLinear(config, rng, config.hiddenSize, config.intermediateSize));
    this.act = activation(config.hiddenAct);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.act(this.call("dense", x)));
  }
}

export class BertLayer extends Module {
  constructor(config: BertConfig, rng: Rng) {
    super();
    this.addModule("attention", new BertAttention(config, rng));
    this.addModule("intermediate", new BertIntermediate(config, rng));
    this.addModule("output", new BertResidualOutput(config, rng, config.intermediateSize));
  }

  forward(hidden: tf.Tensor, maskBias: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => {
      const attended = this.getSubmodule("attention", BertAttention).forward(hidden, maskBias);
      const mlp = this.getSubmodule("intermediate", BertIntermediate).forward(attended);
      return this.getSubmodule("output", BertResidualOutput).forward(mlp, attended);
    });
  }
}

/** A list of layers named "0", "1", … like PyTorch's ModuleList. */
export class BertEncoder extends Module {
  readonly numLayers: number;

  constructor(config: BertConfig, rng: Rng) {
    super();
    const layers = new ModuleDict();
    for (let i = 0; i < config.numHiddenLayers; i++) layers.add(String(i), new BertLayer(config, rng));
    this.addModule("layer", layers);
    this.numLayers = config.numHiddenLayers;
  }

  forward(hidden: tf.Tensor, maskBias: tf.Tensor | null): tf.Tensor {
    let h = hidden;
    for (let i = 0; i < this.numLayers; i++) h = this.getSubmodule(`layer.${i}`, BertLayer).forward(h, maskBias);
    return h;
  }
}

export class BertPooler extends Block {
  constructor(config: BertConfig, rng: Rng) {
    super();
    this.addModule("dense", newLinear(config, rng, config.hiddenSize, config.hiddenSize));
  }

  /** tanh(dense(hidden state of the first token, [CLS])). */
  forward(hidden: tf.Tensor): tf.Tensor {
    const [b, , d] = hidden.shape;
    const first = tf.reshape(tf.slice(hidden, [0, 0, 0], [b, 1, d]), [b, d]);
    return tf.tanh(this.call("dense", first));
  }
}

export interface BertInputs {
  /** (B, T) int32 token ids. */
  inputIds: tf.Tensor2D;
  /** (B, T) 1 for real tokens, 0 for padding. */
  attentionMask?: tf.Tensor2D;
  tokenTypeIds?: tf.Tensor2D;
}

/** (B, T) mask of 1/0 → (B, 1, 1, T) additive bias of 0/−1e9. */
export function attentionBias(mask: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [b, t] = mask.shape;
    return tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, "float32")), -1e9), [b, 1, 1, t]);
  });
}

export class BertModel extends Module {
  constructor(
    readonly config: BertConfig,
    opts: { addPoolingLayer?: boolean; rng?: Rng } = {},
  ) {
    super();
    const rng = opts.rng ?? new Rng(42);
    this.addModule("embeddings", new BertEmbeddings(config, rng));
    this.addModule("encoder", new BertEncoder(config, rng));
    if (opts.addPoolingLayer ?? true) this.addModule("pooler", new BertPooler(config, rng));
  }

  get embeddings(): BertEmbeddings {
    return this.getSubmodule("embeddings", BertEmbeddings);
  }

  /** Last hidden states (B, T, d). */
  forward(inputs: BertInputs): tf.Tensor3D {
    const bias = inputs.attentionMask ? attentionBias(inputs.attentionMask) : null;
    const embedded = this.embeddings.forward(inputs.inputIds, inputs.tokenTypeIds);
    return this.getSubmodule("encoder", BertEncoder).forward(embedded, bias) as tf.Tensor3D;
  }

  pool(hidden: tf.Tensor): tf.Tensor2D {
    if (!this.children.has("pooler")) throw new Error("this BertModel was built without a pooling layer");
    return this.getSubmodule("pooler", BertPooler).forward(hidden) as tf.Tensor2D;
  }
}

/** Masked-language-model head: transform (dense, gelu, LayerNorm), then scores against the tied word embeddings. */
export class BertLMPredictionHead extends Block {
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(config: BertConfig, rng: Rng) {
    super();
    this.addModule(
      "transform",
      new ModuleDict([
        ["dense", newLinear(config, rng, config.hiddenSize, config.hiddenSize)],
        ["LayerNorm", new LayerNorm(config.hiddenSize, config.layerNormEps)],
      ]),
    );
    this.addParameter("bias", tf.zeros([config.vocabSize]));
    this.act = activation(config.hiddenAct);
  }

  /** hidden (N, d), decoder weight (V, d) → logits (N, V). */
  forward(hidden: tf.Tensor, decoderWeight?: tf.Tensor): tf.Tensor {
    if (!decoderWeight) throw new Error("BertLMPredictionHead needs the (tied) word-embedding matrix");
    const dense = this.getSubmodule("transform.dense") as unknown as Layer;
    const norm = this.getSubmodule("transform.LayerNorm", LayerNorm);
    return tf.tidy(() => {
      const h = norm.forward(this.act(dense.forward(hidden)));
      return tf.add(matMul(h, tf.transpose(decoderWeight)), this.param("bias"));
    });
  }
}

export class BertForMaskedLM extends Module {
  static readonly architecture = "BertForMaskedLM";

  constructor(
    readonly config: BertConfig,
    opts: { rng?: Rng } = {},
  ) {
    super();
    const rng = opts.rng ?? new Rng(42);
    this.addModule("bert", new BertModel(config, { addPoolingLayer: false, rng }));
    this.addModule("cls", new ModuleDict([["predictions", new BertLMPredictionHead(config, rng)]]));
  }

  get bert(): BertModel {
    return this.getSubmodule("bert", BertModel);
  }

  /**
   * Vocabulary logits. With `positions` (flat indices b·T + t of the masked tokens) only those rows are
   * scored — the expensive (N, V) product is then 15% of the full one.
   */
  forward(inputs: BertInputs, positions?: tf.Tensor1D): tf.Tensor {
    const hidden = this.bert.forward(inputs);
    const [b, t, d] = hidden.shape;
    const flat = tf.reshape(hidden, [b * t, d]);
    const rows = positions ? tf.gather(flat, positions) : flat;
    const head = this.getSubmodule("cls.predictions", BertLMPredictionHead);
    const logits = head.forward(rows, this.bert.embeddings.wordEmbeddings.weight);
    return positions ? logits : tf.reshape(logits, [b, t, this.config.vocabSize]);
  }
}

export class BertForSequenceClassification extends Block {
  static readonly architecture = "BertForSequenceClassification";
  readonly numLabels: number;

  constructor(
    readonly config: BertConfig,
    opts: { numLabels?: number; rng?: Rng } = {},
  ) {
    super();
    const rng = opts.rng ?? new Rng(42);
    this.numLabels = opts.numLabels ?? config.labels?.length ?? 2;
    this.addModule("bert", new BertModel(config, { addPoolingLayer: true, rng }));
    this.addModule("dropout", new Dropout(config.classifierDropout ?? config.hiddenDropoutProb, rng.fork()));
    this.addModule("classifier", newLinear(config, rng, config.hiddenSize, this.numLabels));
  }

  get bert(): BertModel {
    return this.getSubmodule("bert", BertModel);
  }

  /** Class logits (B, numLabels) from the pooled [CLS] state. */
  forward(inputs: BertInputs): tf.Tensor2D {
    const pooled = this.bert.pool(this.bert.forward(inputs));
    return this.call("classifier", this.call("dropout", pooled)) as tf.Tensor2D;
  }
}
