/** Classification metrics, as scikit-learn defines them. */

export function accuracy(truth: ArrayLike<number>, predicted: ArrayLike<number>): number {
  if (truth.length !== predicted.length) throw new Error(`accuracy: ${truth.length} labels vs ${predicted.length} predictions`);
  if (truth.length === 0) return 0;
  let right = 0;
  for (let i = 0; i < truth.length; i++) if (truth[i] === predicted[i]) right++;
  return right / truth.length;
}

/** Per-class precision, recall, F1 and support for every class id in [0, numClasses). */
export function perClass(truth: ArrayLike<number>, predicted: ArrayLike<number>, numClasses: number) {
  const tp = new Array<number>(numClasses).fill(0);
  const fp = new Array<number>(numClasses).fill(0);
  const fn = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] === predicted[i]) tp[truth[i]]++;
    else {
      fp[predicted[i]]++;
      fn[truth[i]]++;
    }
  }
  return tp.map((t, c) => {
    const precision = t + fp[c] === 0 ? 0 : t / (t + fp[c]);
    const recall = t + fn[c] === 0 ? 0 : t / (t + fn[c]);
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { precision, recall, f1, support: t + fn[c], predicted: t + fp[c] };
  });
}

/**
 * Macro-averaged F1: the unweighted mean of per-class F1 over the classes that occur in the truth or the
 * predictions (sklearn's `f1_score(average="macro")` with its default labels; undefined F1 counts as 0).
 */
export function macroF1(truth: ArrayLike<number>, predicted: ArrayLike<number>, numClasses: number): number {
  const rows = perClass(truth, predicted, numClasses).filter((r) => r.support > 0 || r.predicted > 0);
  return rows.length === 0 ? 0 : rows.reduce((s, r) => s + r.f1, 0) / rows.length;
}
