/**
 * VB-LoRA's "save only the top-k" format (peft's `save_only_topk_weights`): instead of all h logits per
 * piece, store the k chosen bank indices (uint8 when h < 2⁸, int16 when h < 2¹⁵, int32 otherwise) and the
 * first k − 1 softmax weights (the last is 1 minus their sum). The file shrinks by about h / (2k), and a
 * model loaded from it computes the same A and B — but it cannot resume training (the other logits are gone).
 */
import type { DType } from "../../io/safetensors";

export function indexDType(numVectors: number): DType {
  return numVectors < 2 ** 8 ? "U8" : numVectors < 2 ** 15 ? "I16" : "I32";
}

/** logits (..., h) → the top-k indices (..., k) and the first k−1 softmax weights (..., k−1). */
export function toTopk(logits: Float32Array, h: number, k: number): { indices: Int32Array; weights: Float32Array } {
  const rows = logits.length / h;
  const indices = new Int32Array(rows * k);
  const weights = new Float32Array(rows * (k - 1));
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * h, (r + 1) * h);
    const order = Array.from({ length: h }, (_, i) => i)
      .sort((a, b) => row[b] - row[a] || a - b)
      .slice(0, k);
    const max = row[order[0]];
    const exps = order.map((i) => Math.exp(row[i] - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    order.forEach((i, j) => {
      indices[r * k + j] = i;
      if (j < k - 1) weights[r * (k - 1) + j] = exps[j] / sum;
    });
  }
  return { indices, weights };
}

/**
 * Rebuilds logits whose top-k softmax reproduces the stored weights: log(weight) at the stored indices,
 * and a very negative number elsewhere (peft uses −∞; −1e30 keeps 0 · logit finite in the mixture).
 */
export function fromTopk(indices: ArrayLike<number>, weights: ArrayLike<number>, h: number, k: number): Float32Array {
  const rows = indices.length / k;
  const logits = new Float32Array(rows * h).fill(-1e30);
  for (let r = 0; r < rows; r++) {
    let rest = 1;
    for (let j = 0; j < k; j++) {
      const w = j < k - 1 ? weights[r * (k - 1) + j] : rest;
      if (j < k - 1) rest -= w;
      logits[r * h + indices[r * k + j]] = Math.max(Math.log(Math.max(w, 0)), -1e30);
    }
  }
  return logits;
}
