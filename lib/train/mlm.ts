/**
 * BERT's masked-language-model objective. For each sequence, 15% of the non-special tokens are chosen;
 * of those 80% become [MASK], 10% a random token, 10% stay as they are; the model must predict the
 * original token at every chosen position.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../util/random";
import { BertForMaskedLM } from "../models/bert";
import { crossEntropy } from "./batching";

export interface MaskingOptions {
  maskId: number;
  vocabSize: number;
  /** Ids never chosen for prediction ([CLS], [SEP], [PAD], …). */
  specialIds: number[];
  /** Smallest id of an ordinary token, used for the random replacements (the specials come first). */
  firstRegularId: number;
  probability?: number;
}

export interface MaskedBatch {
  inputIds: tf.Tensor2D;
  attentionMask: tf.Tensor2D;
  /** Flat positions b·T + t of the chosen tokens. */
  positions: tf.Tensor1D;
  /** The original ids at those positions. */
  targets: tf.Tensor1D;
  numTargets: number;
}

/** Pads `sequences` and masks them; at least one position per sequence is chosen. */
export function maskBatch(sequences: ArrayLike<number>[], padId: number, opts: MaskingOptions, rng: Rng): MaskedBatch {
  const p = opts.probability ?? 0.15;
  const special = new Set(opts.specialIds);
  const t = Math.max(...sequences.map((s) => s.length));
  const b = sequences.length;
  const ids = new Int32Array(b * t).fill(padId);
  const mask = new Int32Array(b * t);
  const positions: number[] = [];
  const targets: number[] = [];
  sequences.forEach((seq, row) => {
    const candidates: number[] = [];
    for (let j = 0; j < seq.length; j++) {
      ids[row * t + j] = seq[j];
      mask[row * t + j] = 1;
      if (!special.has(seq[j])) candidates.push(j);
    }
    let chosen = candidates.filter(() => rng.next() < p);
    if (chosen.length === 0 && candidates.length > 0) chosen = [candidates[rng.int(candidates.length)]];
    for (const j of chosen) {
      const flat = row * t + j;
      positions.push(flat);
      targets.push(seq[j]);
      const r = rng.next();
      if (r < 0.8) ids[flat] = opts.maskId;
      else if (r < 0.9) ids[flat] = opts.firstRegularId + rng.int(opts.vocabSize - opts.firstRegularId);
    }
  });
  return {
    inputIds: tf.tensor2d(ids, [b, t], "int32"),
    attentionMask: tf.tensor2d(mask, [b, t], "int32"),
    positions: tf.tensor1d(positions, "int32"),
    targets: tf.tensor1d(targets, "int32"),
    numTargets: positions.length,
  };
}

export function disposeMaskedBatch(batch: MaskedBatch): void {
  tf.dispose([batch.inputIds, batch.attentionMask, batch.positions, batch.targets]);
}

/** Mean cross-entropy over the masked positions. */
export function mlmLoss(model: BertForMaskedLM, batch: MaskedBatch): tf.Scalar {
  return tf.tidy(() => crossEntropy(model.forward({ inputIds: batch.inputIds, attentionMask: batch.attentionMask }, batch.positions), batch.targets));
}

/** Masked-token accuracy: the share of masked positions whose arg-max prediction is the original token. */
export async function mlmAccuracy(model: BertForMaskedLM, batch: MaskedBatch): Promise<{ correct: number; total: number }> {
  const predicted = tf.tidy(() => tf.argMax(model.forward({ inputIds: batch.inputIds, attentionMask: batch.attentionMask }, batch.positions), 1));
  const [p, y] = await Promise.all([predicted.data(), batch.targets.data()]);
  predicted.dispose();
  let correct = 0;
  for (let i = 0; i < y.length; i++) if (p[i] === y[i]) correct++;
  return { correct, total: y.length };
}
