/**
 * Pre-trains the kit's small BERT with masked-language modelling on the datasets' own text, and writes it
 * as a Hugging Face checkpoint folder (loadable by `transformers.BertForMaskedLM.from_pretrained`).
 *
 *   npm run pretrain -- [--minutes 25] [--epochs N] [--out datasets/checkpoints/bert-tiny-peft] [--quick]
 *
 * Steps: train a WordPiece vocabulary on the training texts → tokenise → train BertForMaskedLM (BERT's
 * 15% / 80-10-10 masking, AdamW, warm-up + linear decay, clipping) → measure masked-token accuracy on the
 * validation texts against always predicting the most frequent token → write the folder, a training log,
 * a loss-curve SVG and a README. `--quick` is a seconds-long smoke run into tmp/.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend";
import { loadTextCorpus, SHIPPED_CHECKPOINT_DIR } from "../lib/data/datasets";
import { trainWordPiece } from "../lib/tokenizer/train-wordpiece";
import { BertTokenizer } from "../lib/tokenizer/bert-tokenizer";
import { bertConfig, BertConfig } from "../lib/models/bert-config";
import { BertForMaskedLM } from "../lib/models/bert";
import { AdamW } from "../lib/train/adamw";
import { learningRate } from "../lib/train/schedule";
import { trainStep } from "../lib/train/step";
import { maskBatch, mlmLoss, mlmAccuracy, disposeMaskedBatch, MaskingOptions } from "../lib/train/mlm";
import { progress } from "../lib/train/progress";
import { saveBertCheckpoint } from "../lib/io/hf-checkpoint";
import { svgLineChart } from "../lib/plot/svg-line";
import { Rng } from "../lib/util/random";
import { parseArgs, runMain } from "../lib/util/args";

const args = parseArgs(process.argv.slice(2), {
  minutes: { type: "number", default: 25, above: 0, help: "wall-clock training budget" },
  epochs: { type: "number", default: 100, min: 1, integer: true, help: "upper bound on epochs" },
  out: { type: "string", default: SHIPPED_CHECKPOINT_DIR, help: "output folder" },
  "vocab-size": { type: "number", default: 8192, min: 128, integer: true, help: "WordPiece vocabulary size" },
  "max-length": { type: "number", default: 64, min: 8, integer: true, help: "tokens per sequence, [CLS] and [SEP] included" },
  "tokens-per-batch": { type: "number", default: 2048, min: 64, integer: true, help: "batch size × padded length budget" },
  lr: { type: "number", default: 1e-3, above: 0, help: "peak learning rate" },
  seed: { type: "number", default: 0, min: 0, integer: true, help: "random seed" },
  quick: { type: "boolean", default: false, help: "a tiny smoke run into tmp/" },
  overwrite: { type: "boolean", default: false, help: "replace an existing checkpoint" },
});

const QUICK = args.quick;
const outDir = QUICK ? "tmp/pretrain-quick" : args.out;

const config: BertConfig = bertConfig({
  vocabSize: args["vocab-size"],
  hiddenSize: QUICK ? 32 : 128,
  numHiddenLayers: 2,
  numAttentionHeads: 2,
  intermediateSize: QUICK ? 64 : 512,
  maxPositionEmbeddings: 128,
  hiddenDropoutProb: 0.1,
  attentionProbsDropoutProb: 0.1,
});

/** Groups sequences of similar length into batches of about `tokens` padded tokens, in a seeded order. */
function lengthBucketedBatches(lengths: number[], tokens: number, rng: Rng): number[][] {
  const order = rng.shuffle(lengths.map((_, i) => i));
  const batches: number[][] = [];
  const chunk = 4096; // sort within chunks: similar lengths together, still random overall
  for (let c = 0; c < order.length; c += chunk) {
    const part = order.slice(c, c + chunk).sort((a, b) => lengths[a] - lengths[b]);
    let current: number[] = [];
    let longest = 0;
    for (const i of part) {
      const l = Math.max(longest, lengths[i]);
      if (current.length > 0 && l * (current.length + 1) > tokens) {
        batches.push(current);
        current = [];
        longest = 0;
      }
      current.push(i);
      longest = Math.max(longest, lengths[i]);
    }
    if (current.length) batches.push(current);
  }
  return rng.shuffle(batches);
}

async function main(): Promise<void> {
  if (!QUICK && fs.existsSync(path.join(outDir, "model.safetensors")) && !args.overwrite) {
    throw new Error(`${outDir} already has a checkpoint; pass --overwrite to replace it`);
  }
  const backend = await initBackend();
  const started = Date.now();

  // 1. Text and vocabulary (training splits only; validation texts are the held-out set).
  let texts = loadTextCorpus({ splits: ["train"] });
  let heldOut = loadTextCorpus({ splits: ["validation"] });
  if (QUICK) {
    texts = texts.filter((_, i) => i % 50 === 0);
    heldOut = heldOut.slice(0, 200);
  }
  console.log(`corpus: ${texts.length} training texts, ${heldOut.length} held-out texts`);
  const vocab = trainWordPiece(texts, { vocabSize: config.vocabSize, minFrequency: 2, lowercase: true });
  const tokenizer = new BertTokenizer(vocab, { lowercase: true, modelMaxLength: config.maxPositionEmbeddings });
  config.vocabSize = tokenizer.vocabSize;
  console.log(`WordPiece vocabulary: ${tokenizer.vocabSize} tokens (${((Date.now() - started) / 1000).toFixed(1)} s)`);

  // 2. Token ids.
  const encode = (t: string) => tokenizer.encode(t, { maxLength: args["max-length"], truncation: true }).inputIds;
  const train = texts.map(encode);
  const valid = heldOut.map(encode);
  const trainTokens = train.reduce((n, s) => n + s.length, 0);
  console.log(`tokens: ${trainTokens} training, ${valid.reduce((n, s) => n + s.length, 0)} held-out`);

  const special = { pad: tokenizer.padId, unk: tokenizer.unkId, cls: tokenizer.clsId, sep: tokenizer.sepId, mask: tokenizer.maskId };
  const masking: MaskingOptions = {
    maskId: special.mask,
    vocabSize: tokenizer.vocabSize,
    specialIds: [special.pad, special.unk, special.cls, special.sep, special.mask],
    firstRegularId: Math.max(special.pad, special.unk, special.cls, special.sep, special.mask) + 1,
  };

  // 3. A fixed masked held-out set, and the baseline: always predict the most frequent training token.
  const evalRng = new Rng(12345);
  const evalBatches = lengthBucketedBatches(
    valid.map((s) => s.length),
    args["tokens-per-batch"],
    new Rng(1),
  ).map((idx) =>
    maskBatch(
      idx.map((i) => valid[i]),
      special.pad,
      masking,
      evalRng,
    ),
  );
  const counts = new Map<number, number>();
  for (const seq of train) for (const id of seq) if (!masking.specialIds.includes(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
  const [mostFrequent] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
  let baseHits = 0;
  let evalTotal = 0;
  for (const b of evalBatches) {
    for (const y of await b.targets.data()) if (y === mostFrequent) baseHits++;
    evalTotal += b.numTargets;
  }
  const baseline = baseHits / evalTotal;
  console.log(`held-out masked positions: ${evalTotal}; most-frequent-token baseline ("${tokenizer.tokenOf(mostFrequent)}"): ${(100 * baseline).toFixed(2)}%`);

  const evaluate = async (model: BertForMaskedLM): Promise<{ accuracy: number; loss: number }> => {
    model.eval();
    let correct = 0;
    let lossSum = 0;
    for (const b of evalBatches) {
      correct += (await mlmAccuracy(model, b)).correct;
      const l = mlmLoss(model, b);
      lossSum += (await l.data())[0] * b.numTargets;
      l.dispose();
    }
    model.train();
    return { accuracy: correct / evalTotal, loss: lossSum / evalTotal };
  };

  // 4. Training, within a time budget.
  const rng = new Rng(args.seed);
  const model = new BertForMaskedLM(config, { rng: new Rng(args.seed + 1) });
  const optimizer = new AdamW(model.namedParameters(), { lr: args.lr, weightDecay: 0.01 });
  const budgetMs = (QUICK ? 0.25 : args.minutes) * 60_000;
  const probe = lengthBucketedBatches(
    train.map((s) => s.length),
    args["tokens-per-batch"],
    new Rng(0),
  ).length;
  // Estimate total steps from a short timing of the first 20 steps, so the schedule decays within the budget.
  let totalSteps = probe * args.epochs;
  const warmupSteps = () => Math.round(0.06 * totalSteps);
  const log: Array<{ step: number; epoch: number; loss: number; lr: number; seconds: number }> = [];
  const evals: Array<{ step: number; epoch: number; accuracy: number; loss: number }> = [];
  const trainStart = Date.now();
  let step = 0;
  let windowLoss = 0;
  let windowCount = 0;
  let bar = progress("pretrain", totalSteps, "terminal");
  outer: for (let epoch = 1; epoch <= args.epochs; epoch++) {
    model.train();
    for (const idx of lengthBucketedBatches(
      train.map((s) => s.length),
      args["tokens-per-batch"],
      rng,
    )) {
      if (step === 20) {
        const perStep = (Date.now() - trainStart) / 20;
        totalSteps = Math.min(totalSteps, Math.floor(budgetMs / perStep));
        bar = progress("pretrain", totalSteps, "terminal");
      }
      if (step >= totalSteps) break outer;
      const batch = maskBatch(
        idx.map((i) => train[i]),
        special.pad,
        masking,
        rng,
      );
      const lr = learningRate("linear", args.lr, step, totalSteps, warmupSteps());
      const { loss } = await trainStep(optimizer, () => mlmLoss(model, batch), { lr, maxGradNorm: 1.0 });
      disposeMaskedBatch(batch);
      step++;
      windowLoss += loss;
      windowCount++;
      if (step % 50 === 0) {
        log.push({ step, epoch, loss: windowLoss / windowCount, lr, seconds: (Date.now() - trainStart) / 1000 });
        windowLoss = 0;
        windowCount = 0;
      }
      bar.update(step, { epoch, loss });
    }
    const e = await evaluate(model);
    evals.push({ step, epoch, ...e });
    console.log(`\nepoch ${epoch}: held-out masked-token accuracy ${(100 * e.accuracy).toFixed(2)}%, loss ${e.loss.toFixed(3)}`);
  }
  if (evals.length === 0 || evals[evals.length - 1].step !== step) {
    const e = await evaluate(model);
    evals.push({ step, epoch: evals.length + 1, ...e });
  }
  bar.end();
  const trainSeconds = (Date.now() - trainStart) / 1000;
  const final = evals[evals.length - 1];
  console.log(`final held-out masked-token accuracy ${(100 * final.accuracy).toFixed(2)}% vs most-frequent-token baseline ${(100 * baseline).toFixed(2)}%`);

  // 5. The checkpoint folder.
  fs.mkdirSync(outDir, { recursive: true });
  await saveBertCheckpoint(model, outDir, { tokenizer, overwrite: true });
  const summary = {
    backend: backend.choice,
    parameters: model.numParameters(),
    config: {
      layers: config.numHiddenLayers,
      hidden: config.hiddenSize,
      heads: config.numAttentionHeads,
      intermediate: config.intermediateSize,
      vocab: config.vocabSize,
      maxPositions: config.maxPositionEmbeddings,
    },
    corpus: { texts: texts.length, tokens: trainTokens, heldOutTexts: heldOut.length, heldOutMaskedPositions: evalTotal },
    training: {
      steps: step,
      epochs: Number((step / probe).toFixed(1)),
      seconds: Math.round(trainSeconds),
      peakLr: args.lr,
      tokensPerBatch: args["tokens-per-batch"],
      maxLength: args["max-length"],
      seed: args.seed,
    },
    heldOut: {
      maskedTokenAccuracy: final.accuracy,
      loss: final.loss,
      mostFrequentToken: tokenizer.tokenOf(mostFrequent) ?? "?",
      mostFrequentTokenAccuracy: baseline,
    },
    evaluations: evals,
    lossLog: log,
  };
  fs.writeFileSync(path.join(outDir, "training_log.json"), JSON.stringify(summary, null, 1) + "\n");
  fs.writeFileSync(
    path.join(outDir, "loss_curve.svg"),
    svgLineChart(
      [
        { name: "training loss (mean of 50 steps)", x: log.map((l) => l.step), y: log.map((l) => l.loss) },
        { name: "held-out loss (end of epoch)", x: evals.map((e) => e.step), y: evals.map((e) => e.loss) },
      ],
      { title: "Masked-LM pre-training", xLabel: "step", yLabel: "cross-entropy" },
    ),
  );
  fs.writeFileSync(path.join(outDir, "README.md"), readme(summary, fs.statSync(path.join(outDir, "model.safetensors")).size));
  console.log(`wrote ${outDir} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  optimizer.dispose();
  evalBatches.forEach(disposeMaskedBatch);
  tf.disposeVariables();
}

type Summary = {
  backend: string;
  parameters: number;
  config: Record<string, number>;
  corpus: { texts: number; tokens: number; heldOutTexts: number; heldOutMaskedPositions: number };
  training: { steps: number; epochs: number; seconds: number; peakLr: number; tokensPerBatch: number; maxLength: number; seed: number };
  heldOut: { maskedTokenAccuracy: number; loss: number; mostFrequentToken: string; mostFrequentTokenAccuracy: number };
  evaluations: Array<{ step: number; epoch: number; accuracy: number; loss: number }>;
};

function readme(s: Summary, bytes: number): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  return `# bert-tiny-peft — the course kit's pretrained model

A small BERT (${s.config.layers} layers, hidden size ${s.config.hidden}, ${s.config.heads} heads, intermediate ${s.config.intermediate},
vocabulary ${s.config.vocab}, ${s.config.maxPositions} positions — the shape of Google's BERT-Tiny) pre-trained from scratch
with masked-language modelling by this kit's own TensorFlow.js code, so that every notebook fine-tunes a model
that has really learnt something, in about a minute on a laptop CPU.

| | |
| --- | --- |
| parameters | ${s.parameters.toLocaleString("en-US")} |
| model.safetensors | ${(bytes / 1e6).toFixed(2)} MB (float32) |
| training data | the **train** splits of \`datasets/spam\` and \`datasets/wordnet\` (text only, labels unused): ${s.corpus.texts.toLocaleString("en-US")} texts, ${s.corpus.tokens.toLocaleString("en-US")} tokens |
| vocabulary | WordPiece, ${s.config.vocab} tokens, trained on the same texts (lower-cased, accents stripped) |
| objective | BERT's MLM: 15% of tokens chosen, 80% → [MASK], 10% → random, 10% unchanged |
| steps | ${s.training.steps} (${s.training.epochs} epochs; ~${s.training.tokensPerBatch} padded tokens per batch, sequences ≤ ${s.training.maxLength} tokens) |
| optimiser | AdamW, peak lr ${s.training.peakLr}, 6% warm-up then linear decay, weight decay 0.01, grad-norm clip 1.0, seed ${s.training.seed} |
| time | ${Math.round(s.training.seconds / 60)} min on the ${s.backend} backend, 1 CPU core |
| **held-out masked-token accuracy** | **${pct(s.heldOut.maskedTokenAccuracy)}** on ${s.corpus.heldOutMaskedPositions.toLocaleString("en-US")} masked positions of the validation splits (loss ${s.heldOut.loss.toFixed(3)}) |
| baseline: always predict the most frequent token ("${s.heldOut.mostFrequentToken}") | ${pct(s.heldOut.mostFrequentTokenAccuracy)} |

![loss curve](loss_curve.svg)

| epoch | step | held-out accuracy | held-out loss |
| --- | --- | --- | --- |
${s.evaluations.map((e) => `| ${e.epoch} | ${e.step} | ${pct(e.accuracy)} | ${e.loss.toFixed(3)} |`).join("\n")}

## Files
- \`config.json\`, \`model.safetensors\` — Hugging Face format (\`BertForMaskedLM\`; the decoder is tied to the word embeddings, so
  the file holds \`bert.*\` and \`cls.predictions.*\` weights only, as \`save_pretrained\` writes them).
- \`vocab.txt\`, \`tokenizer.json\`, \`tokenizer_config.json\`, \`special_tokens_map.json\` — the WordPiece tokenizer.
- \`training_log.json\` — every figure above, the loss every 50 steps, the evaluation after each epoch.

In Python: \`transformers.BertForMaskedLM.from_pretrained("datasets/checkpoints/bert-tiny-peft")\`.
Re-create it (≈ ${Math.round(s.training.seconds / 60) + 1} minutes): \`npm run pretrain -- --overwrite\`. The shipped checkpoint is committed so
that nothing else ever re-runs pre-training.
`;
}

runMain(main);
