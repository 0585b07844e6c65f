/**
 * BERT's configuration, with the same fields (in camelCase) as Hugging Face's `BertConfig` and conversion
 * to and from its `config.json` (snake_case) so checkpoints move between this kit and `transformers`.
 */
export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  hiddenAct: string;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  initializerRange: number;
  layerNormEps: number;
  padTokenId: number;
  /** Classification heads: label names in class-id order (HF's id2label). */
  labels?: string[];
  classifierDropout?: number | null;
}

export const BERT_BASE_DEFAULTS: BertConfig = {
  vocabSize: 30522,
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  hiddenAct: "gelu",
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
  maxPositionEmbeddings: 512,
  typeVocabSize: 2,
  initializerRange: 0.02,
  layerNormEps: 1e-12,
  padTokenId: 0,
};

/** Hugging Face config.json field ← our field. */
const FIELDS: Array<[keyof BertConfig, string]> = [
  ["vocabSize", "vocab_size"],
  ["hiddenSize", "hidden_size"],
  ["numHiddenLayers", "num_hidden_layers"],
  ["numAttentionHeads", "num_attention_heads"],
  ["intermediateSize", "intermediate_size"],
  ["hiddenAct", "hidden_act"],
  ["hiddenDropoutProb", "hidden_dropout_prob"],
  ["attentionProbsDropoutProb", "attention_probs_dropout_prob"],
  ["maxPositionEmbeddings", "max_position_embeddings"],
  ["typeVocabSize", "type_vocab_size"],
  ["initializerRange", "initializer_range"],
  ["layerNormEps", "layer_norm_eps"],
  ["padTokenId", "pad_token_id"],
  ["classifierDropout", "classifier_dropout"],
];

export function bertConfig(overrides: Partial<BertConfig>): BertConfig {
  const c = { ...BERT_BASE_DEFAULTS, ...overrides };
  if (c.hiddenSize % c.numAttentionHeads !== 0) {
    throw new Error(`hiddenSize ${c.hiddenSize} is not a multiple of numAttentionHeads ${c.numAttentionHeads}`);
  }
  return c;
}

/** Reads a Hugging Face config.json object. Unknown fields are ignored; a non-BERT model is an error. */
export function configFromHF(json: Record<string, unknown>, source = "config.json"): BertConfig {
  const modelType = json.model_type;
  if (modelType !== undefined && modelType !== "bert") {
    throw new Error(`${source}: model_type is "${String(modelType)}", but this loader reads BERT checkpoints (model_type "bert")`);
  }
  const out: Partial<BertConfig> = {};
  for (const [ours, theirs] of FIELDS) {
    if (json[theirs] !== undefined) (out as Record<string, unknown>)[ours] = json[theirs];
  }
  const posType = json.position_embedding_type;
  if (posType !== undefined && posType !== "absolute") {
    throw new Error(`${source}: position_embedding_type "${String(posType)}" is not supported (only "absolute")`);
  }
  const id2label = json.id2label as Record<string, string> | undefined;
  if (id2label && Object.keys(id2label).length > 0) {
    out.labels = Object.keys(id2label)
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => id2label[k]);
  }
  return bertConfig(out);
}

/** Writes a Hugging Face config.json object for `architecture` (e.g. "BertForMaskedLM"). */
export function configToHF(c: BertConfig, architecture: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    architectures: [architecture],
    model_type: "bert",
    position_embedding_type: "absolute",
    use_cache: true,
    torch_dtype: "float32",
  };
  for (const [ours, theirs] of FIELDS) {
    if (c[ours] !== undefined) json[theirs] = c[ours];
  }
  if (c.labels) {
    json.id2label = Object.fromEntries(c.labels.map((l, i) => [String(i), l]));
    json.label2id = Object.fromEntries(c.labels.map((l, i) => [l, i]));
  }
  return Object.fromEntries(
    Object.keys(json)
      .sort()
      .map((k) => [k, json[k]]),
  );
}
