/**
 * DoRA's Figure 2 measured on our model (Liu et al., arXiv:2402.09353, §3.2, eq. 5–6): how fine-tuning moves
 * the magnitude and the direction of each weight row. For a weight W against the pre-trained W₀ (out × in),
 *
 *   ΔM = mean over rows i of | ‖wᵢ‖ − ‖w0ᵢ‖ |          ΔD = mean over rows i of 1 − cos(wᵢ, w0ᵢ)
 *
 * (the paper splits W into columns because its W is in × out; PyTorch's and ours is out × in, so rows — the
 * same vectors DoRA gives a magnitude each). The paper plots (ΔD, ΔM) for several layers at several training
 * steps: full fine-tuning and DoRA showed a negative slope (large direction changes with small magnitude
 * changes, or the reverse), LoRA a positive one (both move together).
 */
import * as tf from "@tensorflow/tfjs";
import { loadBertForSequenceClassification } from "../io/hf-checkpoint";
import { labelNames } from "../data/datasets";
import { loadTask } from "../data/task";
import { finetuneClassifier } from "../train/finetune";
import { AdapterLayer, isBaseLinear } from "../peft/adapter-layer";
import { ENCODER_LINEARS, prepareMethod, MethodOptions } from "./methods";
import { mean, pearson } from "../util/stats";
import type { Module } from "../nn/module";
import type { Figure } from "../plot/plotly";

export interface MagnitudeDirection {
  deltaM: number;
  deltaD: number;
}

/** ΔM and ΔD of `w` against `w0` (both out × in), row by row. */
export async function magnitudeDirectionChange(w0: tf.Tensor2D, w: tf.Tensor2D): Promise<MagnitudeDirection> {
  if (!tf.util.arraysEqual(w0.shape, w.shape)) throw new Error(`shapes differ: [${w0.shape}] vs [${w.shape}]`);
  const both = tf.tidy(() => {
    const n0 = tf.norm(w0, "euclidean", 1);
    const n = tf.norm(w, "euclidean", 1);
    const cos = tf.div(tf.sum(tf.mul(w0, w), 1), tf.mul(n0, n));
    return tf.stack([tf.mean(tf.abs(tf.sub(n, n0))), tf.mean(tf.sub(1, cos))]);
  });
  const [deltaM, deltaD] = await both.data();
  both.dispose();
  return { deltaM, deltaD };
}

/** The weight a layer applies now: W₀ + ΔW of the active adapter for an adapted layer, W for a plain Linear. Caller disposes. */
export function effectiveWeight(layer: Module): tf.Tensor2D {
  if (layer instanceof AdapterLayer)
    return tf.tidy(() => {
      const w = layer.base.weightValue();
      return layer.merged.length || layer.disabled ? w : (tf.add(w, layer.deltaWeight(layer.activeAdapter)) as tf.Tensor2D);
    });
  if (isBaseLinear(layer)) return layer.weightValue();
  throw new Error(`${layer.constructor.name} is not a linear layer`);
}

export interface TracePoint extends MagnitudeDirection {
  method: string;
  /** Optimisation steps done when measured. */
  step: number;
  /** The layer, short: "0.query", "1.intermediate", … */
  layer: string;
}

export interface TraceOptions {
  method: string;
  checkpoint: string;
  /** Optimisation steps in all, and how often to measure (every `every` steps). */
  steps: number;
  every: number;
  /** Training mails of the spam task (default 640). */
  trainExamples?: number;
  seed?: number;
  options?: MethodOptions;
  progress?: "auto" | "terminal" | "silent";
}

const shortName = (name: string) =>
  name
    .replace(/^bert\.encoder\.layer\./, "")
    .replace(/attention\.self\.|attention\.output\.dense|\.dense$/g, (m) => (m === "attention.output.dense" ? "attention.output" : ""))
    .replace(/\.$/, "");

/**
 * Fine-tunes the shipped model on spam with `method` and measures (ΔD, ΔM) of every encoder linear every
 * `every` steps. Full fine-tuning, LoRA and DoRA are the paper's three; any method of `prepareMethod` works.
 */
export async function traceMagnitudeDirection(o: TraceOptions): Promise<TracePoint[]> {
  const seed = o.seed ?? 0;
  const { model, tokenizer } = loadBertForSequenceClassification(o.checkpoint, { labels: labelNames("spam"), seed });
  const task = loadTask("spam", tokenizer, { limit: o.trainExamples ?? 640 });
  const prepared = prepareMethod(o.method, model, o.options ?? {}, seed);
  const pattern = new RegExp(`^(?:${ENCODER_LINEARS})$`);
  const targets = model.namedModules().filter(([name]) => pattern.test(name));
  const initial = targets.map(([, layer]) => effectiveWeight(layer));
  const points: TracePoint[] = [];
  try {
    await finetuneClassifier(prepared.model, task.splits.train, [], {
      epochs: Math.ceil((o.steps * 16) / task.splits.train.length) + 1,
      maxSteps: o.steps,
      lr: prepared.lr,
      lrScale: prepared.lrScale,
      seed,
      evaluateEachEpoch: false,
      progress: o.progress ?? "silent",
      onStep: async (step) => {
        if (step % o.every !== 0) return;
        for (const [i, [name, layer]] of targets.entries()) {
          const w = effectiveWeight(layer);
          points.push({ method: o.method, step, layer: shortName(name), ...(await magnitudeDirectionChange(initial[i], w)) });
          w.dispose();
        }
      },
    });
  } finally {
    tf.dispose(initial);
    (prepared.peft ?? model).dispose();
  }
  return points;
}

export interface TraceCorrelation {
  /** Over every point of the method (layers × steps). */
  all: number;
  /** Within each measuring step, across the layers. */
  byStep: Record<number, number>;
}

/** Per method, the Pearson correlation of ΔD and ΔM (the sign of the paper's slopes): over all points, and step by step. */
export function traceCorrelations(points: readonly TracePoint[]): Record<string, TraceCorrelation> {
  const r = (ps: readonly TracePoint[]) =>
    pearson(
      ps.map((p) => p.deltaD),
      ps.map((p) => p.deltaM),
    );
  const out: Record<string, TraceCorrelation> = {};
  for (const method of [...new Set(points.map((p) => p.method))]) {
    const mine = points.filter((p) => p.method === method);
    const byStep: Record<number, number> = {};
    for (const step of [...new Set(mine.map((p) => p.step))]) byStep[step] = r(mine.filter((p) => p.step === step));
    out[method] = { all: r(mine), byStep };
  }
  return out;
}

/**
 * Per method, mean ΔM ÷ mean ΔD over the layers at `step` (default: the last measured): how much a method
 * rescales rows for each unit it turns them.
 */
export function magnitudePerDirection(points: readonly TracePoint[], step?: number): Record<string, number> {
  const at = step ?? Math.max(...points.map((p) => p.step));
  const out: Record<string, number> = {};
  for (const method of [...new Set(points.map((p) => p.method))]) {
    const mine = points.filter((p) => p.method === method && p.step === at);
    if (mine.length === 0) throw new Error(`no ${method} point at step ${at}`);
    out[method] = mean(mine.map((p) => p.deltaM)) / mean(mine.map((p) => p.deltaD));
  }
  return out;
}

/** One panel per method, side by side: ΔM against ΔD, a marker per layer, coloured by step (the paper's Figure 2). */
export function traceFigure(points: readonly TracePoint[]): Figure {
  const methods = [...new Set(points.map((p) => p.method))];
  const r = traceCorrelations(points);
  const layout: Record<string, unknown> = {
    title: { text: "How fine-tuning moves magnitude and direction (DoRA Fig. 2, on our model)" },
    showlegend: false,
    height: 380,
    annotations: methods.map((m, i) => ({
      text: `${m}: r = ${r[m].all.toFixed(2)} over all points`,
      xref: `x${i ? i + 1 : ""} domain`,
      yref: "paper",
      x: 0.5,
      y: 1.02,
      showarrow: false,
      xanchor: "center",
      yanchor: "bottom",
    })),
  };
  const gap = 0.06;
  const width = (1 - gap * (methods.length - 1)) / methods.length;
  methods.forEach((m, i) => {
    const suffix = i ? String(i + 1) : "";
    layout[`xaxis${suffix}`] = { domain: [i * (width + gap), i * (width + gap) + width], title: { text: "ΔD (1 − cos)" }, exponentformat: "e" };
    layout[`yaxis${suffix}`] = { anchor: `x${suffix}`, ...(i === 0 ? { title: { text: "ΔM (|‖w‖ − ‖w₀‖|)" } } : {}), exponentformat: "e" };
  });
  const data = methods.map((m, i) => {
    const mine = points.filter((p) => p.method === m);
    const suffix = i ? String(i + 1) : "";
    return {
      type: "scatter",
      mode: "markers",
      name: m,
      x: mine.map((p) => p.deltaD),
      y: mine.map((p) => p.deltaM),
      text: mine.map((p) => `${p.layer}, step ${p.step}`),
      marker: {
        color: mine.map((p) => p.step),
        colorscale: "Viridis",
        size: 7,
        ...(i === methods.length - 1 ? { showscale: true, colorbar: { title: { text: "step" } } } : {}),
      },
      xaxis: `x${suffix}`,
      yaxis: `y${suffix}`,
    };
  });
  return { data, layout };
}
