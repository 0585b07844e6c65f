/**
 * Forgetting: what fine-tuning for a task costs the pre-training objective. The fine-tuned encoder (adapters
 * merged in) is put back into the pre-trained masked-language model — its own prediction head and the word
 * embeddings it shares with that head — and the masked-LM loss is measured on held-out pre-training text:
 * the validation splits, which pre-training never saw, masked once with a fixed seed so that every run is
 * scored on the same positions. Forgetting = loss after − loss before (> 0: the model got worse at its
 * pre-training task). Head-only fine-tuning changes no encoder weight, so its forgetting is exactly 0.
 */
import * as tf from "@tensorflow/tfjs";
import { loadBertForMaskedLM } from "../io/hf-checkpoint";
import { loadTextCorpus } from "../data/datasets";
import { BertForMaskedLM } from "../models/bert";
import { BertTokenizer } from "../tokenizer/bert-tokenizer";
import { disposeMaskedBatch, maskBatch, MaskedBatch, mlmLoss } from "../train/mlm";
import { Rng } from "../util/random";
import type { Module } from "../nn/module";

export interface HeldOutOptions {
  /** Texts taken from each dataset's validation split (default 256). */
  textsPerDataset?: number;
  /** Tokens per text, [CLS] and [SEP] included (default 64, as in pre-training). */
  maxLength?: number;
  batchSize?: number;
  /** The masking's seed: the same positions for every model scored (default 2024). */
  seed?: number;
}

/** The held-out texts, tokenised and masked once (BERT's 15 % / 80-10-10), in batches. Dispose with {@link disposeHeldOut}. */
export function heldOutMaskedBatches(tokenizer: BertTokenizer, o: HeldOutOptions = {}): MaskedBatch[] {
  const texts = loadTextCorpus({ splits: ["validation"], limit: o.textsPerDataset ?? 256 });
  const ids = texts.map((t) => tokenizer.encode(t, { maxLength: o.maxLength ?? 64, truncation: true }).inputIds);
  const specialIds = [tokenizer.padId, tokenizer.unkId, tokenizer.clsId, tokenizer.sepId, tokenizer.maskId];
  const masking = { maskId: tokenizer.maskId, vocabSize: tokenizer.vocabSize, specialIds, firstRegularId: Math.max(...specialIds) + 1 };
  const rng = new Rng(o.seed ?? 2024);
  const size = o.batchSize ?? 32;
  const batches: MaskedBatch[] = [];
  for (let i = 0; i < ids.length; i += size) batches.push(maskBatch(ids.slice(i, i + size), tokenizer.padId, masking, rng));
  return batches;
}

export function disposeHeldOut(batches: MaskedBatch[]): void {
  for (const b of batches) disposeMaskedBatch(b);
}

/** Mean masked-LM cross-entropy over every masked position of `batches` (the model in eval mode). */
export async function maskedLmLoss(model: BertForMaskedLM, batches: readonly MaskedBatch[]): Promise<number> {
  model.eval();
  let sum = 0;
  let count = 0;
  for (const b of batches) {
    const loss = mlmLoss(model, b);
    sum += (await loss.data())[0] * b.numTargets;
    count += b.numTargets;
    loss.dispose();
  }
  return sum / count;
}

/**
 * Copies a fine-tuned classifier's encoder (every `bert.*` weight but the pooler, which a masked LM has not)
 * into `mlm`. The classifier must hold plain weights: merge adapters first (`peft.mergeAndUnload()`).
 */
export function loadEncoderInto(mlm: BertForMaskedLM, classifier: Module): void {
  const state = new Map<string, tf.Tensor>();
  for (const [name, p] of classifier.namedParameters()) if (name.startsWith("bert.") && !name.startsWith("bert.pooler.")) state.set(name, p);
  const { missing, unexpected } = mlm.loadStateDict(state, { strict: false });
  const missingEncoder = missing.filter((n) => n.startsWith("bert."));
  if (unexpected.length || missingEncoder.length)
    throw new Error(
      `the classifier's encoder does not fit the masked LM (merge adapters first): unexpected [${unexpected.slice(0, 5).join(", ")}], missing [${missingEncoder.slice(0, 5).join(", ")}]`,
    );
}

/** Scores the pre-trained model once ("before"); `after(classifier)` scores a fine-tuned encoder on the same masked positions. */
export class ForgettingProbe {
  private constructor(
    private readonly mlm: BertForMaskedLM,
    private readonly batches: MaskedBatch[],
    readonly before: number,
  ) {}

  static async create(checkpointDir: string, o: HeldOutOptions = {}): Promise<ForgettingProbe> {
    const { model, tokenizer } = loadBertForMaskedLM(checkpointDir);
    const batches = heldOutMaskedBatches(tokenizer, o);
    return new ForgettingProbe(model, batches, await maskedLmLoss(model, batches));
  }

  /** The held-out masked-LM loss with `classifier`'s encoder (adapters merged). */
  async after(classifier: Module): Promise<number> {
    loadEncoderInto(this.mlm, classifier);
    return maskedLmLoss(this.mlm, this.batches);
  }

  dispose(): void {
    disposeHeldOut(this.batches);
    this.mlm.dispose();
  }
}
