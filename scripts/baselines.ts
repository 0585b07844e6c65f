/**
 * The two reference points every PEFT method is compared with: full fine-tuning (every weight trains) and
 * head-only (only the new pooler + classifier train, the encoder stays frozen), on both tasks, starting from
 * the shipped checkpoint. Writes results/baselines.json and prints a Markdown table.
 *
 *   npm run baselines -- [--tasks spam,wordnet] [--epochs 3] [--limit N] [--out results/baselines.json]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { initBackend } from "../lib/backend";
import { loadBertForSequenceClassification } from "../lib/io/hf-checkpoint";
import { labelNames, DatasetName, DATASET_NAMES, SHIPPED_CHECKPOINT_DIR } from "../lib/data/datasets";
import { loadTask } from "../lib/data/task";
import { evaluateClassifier, finetuneClassifier } from "../lib/train/finetune";
import { parseArgs, runMain } from "../lib/util/args";
import { prepareMethod } from "../lib/experiments/methods";

const args = parseArgs(process.argv.slice(2), {
  checkpoint: { type: "string", default: SHIPPED_CHECKPOINT_DIR, help: "pretrained model folder" },
  tasks: { type: "string", default: "spam,wordnet", help: "comma-separated tasks" },
  epochs: { type: "number", default: 3, min: 1, integer: true, help: "epochs per run" },
  limit: { type: "number", default: 0, min: 1, integer: true, help: "cap every split at N examples (not given: all)" },
  seed: { type: "number", default: 42, min: 0, integer: true, help: "random seed" },
  out: { type: "string", default: "results/baselines.json", help: "results file" },
});

async function main(): Promise<void> {
  const backend = await initBackend();
  const tasks = args.tasks.split(",").map((t) => t.trim()) as DatasetName[];
  for (const t of tasks) if (!DATASET_NAMES.includes(t)) throw new Error(`unknown task "${t}" (known: ${DATASET_NAMES.join(", ")})`);
  const rows: Record<string, unknown>[] = [];
  for (const taskName of tasks) {
    for (const method of ["full", "head"] as const) {
      const { model, tokenizer, report } = loadBertForSequenceClassification(args.checkpoint, { labels: labelNames(taskName), seed: args.seed });
      const task = loadTask(taskName, tokenizer, { limit: args.limit || undefined });
      const prepared = prepareMethod(method, model); // the methods' defaults: full lr 2e-4, head 3e-3
      console.log(`\n${taskName} · ${prepared.describe} (new: ${report.newlyInitialised.join(", ")})`);
      const r = await finetuneClassifier(model, task.splits.train, task.splits.validation, {
        epochs: args.epochs,
        batchSize: 16,
        lr: prepared.lr,
        seed: args.seed,
        warmupRatio: 0.1,
        onEpoch: (e) =>
          console.log(
            `  epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}, validation accuracy ${e.validation?.accuracy.toFixed(4)}, macro-F1 ${e.validation?.macroF1.toFixed(4)} (${e.seconds.toFixed(0)} s)`,
          ),
      });
      const test = await evaluateClassifier(model, task.splits.test);
      rows.push({
        task: taskName,
        method,
        lr: prepared.lr,
        epochs: args.epochs,
        trainExamples: task.splits.train.length,
        testExamples: task.splits.test.length,
        testAccuracy: test.accuracy,
        testMacroF1: test.macroF1,
        validation: r.epochs[r.epochs.length - 1].validation,
        trainableParams: r.trainableParams,
        totalParams: r.totalParams,
        trainSeconds: Math.round(r.seconds),
        secondsPerEpoch: Math.round(r.seconds / r.epochs.length),
        stepsPerSecond: Number(r.stepsPerSecond.toFixed(2)),
        peakBytes: r.peakBytes,
      });
      model.dispose();
    }
  }
  const out = {
    generatedBy: `npm run baselines -- --tasks ${args.tasks} --epochs ${args.epochs}${args.limit ? ` --limit ${args.limit}` : ""}`,
    backend: backend.choice,
    checkpoint: args.checkpoint,
    seed: args.seed,
    date: new Date().toISOString().slice(0, 10),
    results: rows,
  };
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, JSON.stringify(out, null, 2) + "\n");
  console.log(
    `\n| task | method | trainable params | test accuracy | test macro-F1 | train time | peak tensor memory |\n| --- | --- | --- | --- | --- | --- | --- |`,
  );
  for (const r of rows as Array<Record<string, number | string>>) {
    console.log(
      `| ${r.task} | ${r.method} | ${Number(r.trainableParams).toLocaleString("en-US")} (${((100 * Number(r.trainableParams)) / Number(r.totalParams)).toFixed(2)}%) | ${(100 * Number(r.testAccuracy)).toFixed(2)}% | ${(100 * Number(r.testMacroF1)).toFixed(2)}% | ${r.trainSeconds} s | ${(Number(r.peakBytes) / 1e6).toFixed(1)} MB |`,
    );
  }
  console.log(`\nwrote ${args.out}`);
}

runMain(main);
