/**
 * The PEFT command line, used by instructors, the benchmarks and our checks:
 *
 *   npm run peft -- train   --task spam|wordnet --method full|head|lora|dora|vblora|waveft|qlora [--r N] [--alpha A]
 *                           [--dropout P] [--lr X] [--epochs N] [--max-steps N] [--batch-size N] [--limit N] --out DIR [--overwrite]
 *   npm run peft -- eval    --task T --adapter DIR [--split test]
 *   npm run peft -- merge   --base CKPT_DIR --adapter DIR --out DIR [--overwrite]
 *   npm run peft -- compare --task T --methods a,b,c [--epochs N] [--limit N] [--out results/compare-T.json] [--overwrite]
 *   npm run peft -- seeds   --task T --methods a,b,c [--seeds 0,1,2] [--lr-factors 0.333,1,3] [--epochs N] [--train-limit N]
 *                           [--forgetting] [--jobs N] [--out results/seeds-T.json] [--overwrite]
 *
 * A method name may also be a variant: `waveft-matched`, or sized, `lora-r4`, `dora-r16`, `waveft-n256`.
 *   npm run peft -- magnitude-direction [--methods full,lora,dora] [--seeds 0,1,2] [--steps 40] [--every 10] [--lr-factor 1]
 *                           [--out results/magnitude-direction-spam.json] [--overwrite]
 *   npm run peft -- qr-adaptor --task T --budget-kb N [--population 12] [--generations 4] [--train-examples 320] [--overwrite]
 *
 * Options not given take the method's defaults (lib/experiments/methods.ts); a mistake in the command line is one
 * line and exit code 2 (--debug shows the stack).
 *
 * `train` writes the adapter in peft's layout (adapter_config.json + adapter_model.safetensors; a full
 * checkpoint folder for full and head-only) and metrics.json.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { initBackend } from "../lib/backend";
import { loadBertForSequenceClassification, saveBertCheckpoint } from "../lib/io/hf-checkpoint";
import { DatasetName, DATASET_NAMES, labelNames, loadSplit, SHIPPED_CHECKPOINT_DIR } from "../lib/data/datasets";
import { loadTask } from "../lib/data/task";
import { evaluateClassifier, finetuneClassifier } from "../lib/train/finetune";
import { METHODS, MethodOptions, prepareMethod, resolveMethod } from "../lib/experiments/methods";
import { fromPretrained, savePretrained } from "../lib/peft/serialization";
import { compareMethods, comparisonFigures, comparisonTable, runMethod } from "../lib/experiments/compare";
import { compareAllPairs, describePair, RunSpec, runSeedStudy, SeedRun, SeedStudy, studyFigures, summarizeStudy } from "../lib/experiments/seeds";
import { spawn } from "node:child_process";
import { writeFiguresHtml } from "../lib/plot/plotly";
import { LECTURE_LADDERS, formatBytes, memoryBytes } from "../lib/peft/qr-adaptor/memory";
import { qrAdaptorSearch, formatConfiguration } from "../lib/peft/qr-adaptor/search";
import { bertLayerInfos, cheapEvaluator, measureImportances } from "../lib/experiments/qr-adaptor-bert";
import { readConfig } from "../lib/io/hf-checkpoint";
import { traceCorrelations, traceMagnitudeDirection, TracePoint } from "../lib/experiments/magnitude-direction";
import { failUsage, parseArgs, runMain, UsageError } from "../lib/util/args";

const SHIPPED = SHIPPED_CHECKPOINT_DIR;

const COMMAND_NAMES = ["train", "eval", "merge", "compare", "seeds", "run-one", "qr-adaptor", "magnitude-direction"] as const;
type CommandName = (typeof COMMAND_NAMES)[number];
const USAGE = `usage: npm run peft -- <${COMMAND_NAMES.join("|")}> [options] (npm run peft -- train --help lists the options)`;
// The command comes first: checked before the options, so that a slip there is named as what it is.
const commandWord = process.argv[2];
if (commandWord === "--help" || commandWord === "-h") {
  console.log(USAGE);
  process.exit(0);
}
if (!(COMMAND_NAMES as readonly string[]).includes(commandWord ?? "")) {
  failUsage(
    `${commandWord === undefined ? "" : commandWord.startsWith("-") ? `the command comes first, before ${commandWord}; ` : `unknown command "${commandWord}"; `}${USAGE}`,
  );
}

const args = parseArgs(
  process.argv.slice(3),
  {
    task: { type: "string", default: "spam", help: `task: ${DATASET_NAMES.join(" | ")}` },
    method: { type: "string", default: "lora", help: `method: ${METHODS.join(" | ")}` },
    methods: { type: "string", default: METHODS.join(","), help: "compare: comma-separated methods" },
    checkpoint: { type: "string", default: SHIPPED, help: "pretrained model folder" },
    base: { type: "string", default: SHIPPED, help: "merge: the base checkpoint folder" },
    adapter: { type: "string", default: "", help: "eval/merge: adapter (or fine-tuned model) folder" },
    out: { type: "string", default: "", help: "output folder (train, merge) or results file (compare)" },
    split: { type: "string", default: "test", help: "eval: train | validation | test" },
    r: { type: "number", default: 0, min: 1, integer: true, help: "rank (not given: the method's default)" },
    alpha: { type: "number", default: 0, above: 0, help: "LoRA alpha (not given: 2·r)" },
    dropout: { type: "number", default: 0, min: 0, help: "adapter dropout (not given: the method's default, 0.1 for qlora, else 0)" },
    lr: { type: "number", default: 0, above: 0, help: "learning rate (not given: the method's default)" },
    "vector-length": { type: "number", default: 0, min: 1, integer: true, help: "VB-LoRA vector length (not given: 64)" },
    "num-vectors": { type: "number", default: 0, min: 1, integer: true, help: "VB-LoRA bank size (not given: 64)" },
    epochs: { type: "number", default: 2, min: 1, integer: true, help: "epochs" },
    "max-steps": { type: "number", default: 0, min: 1, integer: true, help: "stop after N optimiser steps (not given: no limit)" },
    "batch-size": { type: "number", default: 16, min: 1, integer: true, help: "batch size" },
    limit: { type: "number", default: 0, min: 1, integer: true, help: "cap every split at N examples (not given: all)" },
    seed: { type: "number", default: 42, min: 0, integer: true, help: "random seed" },
    seeds: { type: "string", default: "0,1,2", help: "seeds: comma-separated seeds (the first also runs the learning-rate grid)" },
    "lr-factors": { type: "string", default: "0.333,1,3", help: "seeds: the grid, as factors of each method's default learning rate" },
    "train-limit": {
      type: "number",
      default: 0,
      min: 1,
      integer: true,
      help: "seeds: train on the first N training examples (validation and test stay whole)",
    },
    jobs: { type: "number", default: 1, min: 1, integer: true, help: "seeds: runs in parallel (one process each)" },
    forgetting: {
      type: "boolean",
      default: false,
      help: "seeds: also measure each run's held-out masked-LM loss before and after fine-tuning (lib/experiments/forgetting.ts)",
    },
    steps: { type: "number", default: 40, min: 1, integer: true, help: "magnitude-direction: optimisation steps per run" },
    every: { type: "number", default: 10, min: 1, integer: true, help: "magnitude-direction: measure every N steps" },
    "lr-factor": { type: "number", default: 1, above: 0, help: "magnitude-direction: each method's default learning rate times this" },
    overwrite: { type: "boolean", default: false, help: "replace existing output files" },
    "budget-kb": { type: "number", default: 600, above: 0, help: "qr-adaptor: memory budget in kB (memory model of docs/peft-reference.md)" },
    population: { type: "number", default: 12, min: 2, integer: true, help: "qr-adaptor: NSGA-II population" },
    generations: { type: "number", default: 4, min: 1, integer: true, help: "qr-adaptor: NSGA-II generations" },
    "train-examples": { type: "number", default: 320, min: 1, integer: true, help: "qr-adaptor: examples per cheap evaluation" },
  },
  { command: `npm run peft -- ${process.argv[2] ?? "<command>"}` },
);

function taskName(): DatasetName {
  if (!(DATASET_NAMES as readonly string[]).includes(args.task)) throw new UsageError(`--task must be one of ${DATASET_NAMES.join(", ")}, got "${args.task}"`);
  return args.task as DatasetName;
}

function methodOptions(): MethodOptions {
  const o: MethodOptions = {};
  if (args.given.has("dropout")) o.dropout = args.dropout; // unset: the method's own default (0.1 for QLoRA)
  if (args.dropout >= 1) throw new UsageError(`--dropout must be below 1, got ${args.dropout}`);
  if (args.r) o.r = args.r;
  if (args.alpha) o.alpha = args.alpha;
  if (args.lr) o.lr = args.lr;
  if (args["vector-length"]) o.vectorLength = args["vector-length"];
  if (args["num-vectors"]) o.numVectors = args["num-vectors"];
  return o;
}

/** Results files are never replaced without --overwrite (the defaults are the committed results/ files). */
function refuseExisting(...files: string[]): void {
  const existing = files.filter((f) => fs.existsSync(f));
  if (existing.length && !args.overwrite) throw new UsageError(`${existing.join(" and ")} exists already; pass --overwrite to replace it, or --out FILE`);
}

function need(value: string, flag: string): string {
  if (!value) throw new UsageError(`${flag} is required (see --help)`);
  return value;
}

/** A folder the user named: required, and there (a typo is a usage error, said before anything loads). */
function existing(value: string, flag: string): string {
  if (!fs.existsSync(need(value, flag))) throw new UsageError(`${flag} ${value} does not exist`);
  return value;
}

/** A method name the user gave, checked before any model or data is loaded. */
function checkedMethod(name: string, flag = "--method"): string {
  try {
    resolveMethod(name);
  } catch (e) {
    throw new UsageError(`${flag}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return name;
}

async function train(): Promise<void> {
  const out = need(args.out, "--out");
  const task = taskName();
  checkedMethod(args.method);
  existing(args.checkpoint, "--checkpoint");
  for (const f of ["adapter_config.json", "adapter_model.safetensors", "model.safetensors", "metrics.json"]) {
    if (fs.existsSync(path.join(out, f)) && !args.overwrite) throw new UsageError(`${out} already holds ${f}; pass --overwrite to replace it`);
  }
  await initBackend();
  const { model, tokenizer } = loadBertForSequenceClassification(args.checkpoint, { labels: labelNames(task), seed: args.seed });
  const data = loadTask(task, tokenizer, { limit: args.limit || undefined });
  const prepared = prepareMethod(args.method, model, methodOptions(), args.seed);
  console.log(`${task}: ${prepared.describe}`);
  if (prepared.peft) prepared.peft.printTrainableParameters();
  const r = await finetuneClassifier(prepared.model, data.splits.train, data.splits.validation, {
    epochs: args.epochs,
    batchSize: args["batch-size"],
    lr: prepared.lr,
    lrScale: prepared.lrScale,
    seed: args.seed,
    maxSteps: args["max-steps"] || undefined,
    onEpoch: (e) =>
      console.log(
        `epoch ${e.epoch}: train loss ${e.trainLoss.toFixed(4)}, validation accuracy ${e.validation?.accuracy.toFixed(4)}, macro-F1 ${e.validation?.macroF1.toFixed(4)} (${e.seconds.toFixed(0)} s)`,
      ),
  });
  const test = await evaluateClassifier(prepared.model, data.splits.test);
  fs.mkdirSync(out, { recursive: true });
  const bytes = prepared.peft
    ? (await savePretrained(prepared.peft, out, { overwrite: args.overwrite })).bytes
    : (await saveBertCheckpoint(model, out, { tokenizer, overwrite: args.overwrite }), fs.statSync(path.join(out, "model.safetensors")).size);
  const metrics = {
    task,
    method: args.method,
    description: prepared.describe,
    labels: data.labels,
    checkpoint: args.checkpoint,
    testAccuracy: test.accuracy,
    testMacroF1: test.macroF1,
    trainableParams: r.trainableParams,
    totalParams: r.totalParams,
    adapterBytes: bytes,
    trainSeconds: r.seconds,
    steps: r.steps,
    stepsPerSecond: r.stepsPerSecond,
    peakBytes: r.peakBytes,
    epochs: r.epochs,
    lr: prepared.lr,
    seed: args.seed,
  };
  fs.writeFileSync(path.join(out, "metrics.json"), JSON.stringify(metrics, null, 2) + "\n");
  console.log(`test accuracy ${(100 * test.accuracy).toFixed(2)}%, macro-F1 ${(100 * test.macroF1).toFixed(2)}% — wrote ${out}`);
}

/** An adapter folder on the base checkpoint; labels from the folder's metrics.json, else the task's. */
function loadAdapter(dir: string, base: string, task: DatasetName | null) {
  const metricsFile = path.join(dir, "metrics.json");
  const labels = fs.existsSync(metricsFile)
    ? (JSON.parse(fs.readFileSync(metricsFile, "utf8")) as { labels: string[] }).labels
    : task
      ? labelNames(task)
      : undefined;
  const { model, tokenizer } = loadBertForSequenceClassification(base, { labels });
  return { model: fromPretrained(model, dir), tokenizer };
}

/** Loads a trained folder: an adapter on the base checkpoint, or a full fine-tuned checkpoint. */
function loadTrained(dir: string, base: string, task: DatasetName | null) {
  if (fs.existsSync(path.join(dir, "adapter_config.json"))) return loadAdapter(dir, base, task);
  return loadBertForSequenceClassification(dir);
}

async function evaluate(): Promise<void> {
  const task = taskName();
  const [adapter, checkpoint] = [existing(args.adapter, "--adapter"), existing(args.checkpoint, "--checkpoint")];
  if (!["train", "validation", "test"].includes(args.split)) throw new UsageError(`--split must be train, validation or test`);
  await initBackend();
  const { model, tokenizer } = loadTrained(adapter, checkpoint, task);
  const data = loadTask(task, tokenizer, { limit: args.limit || undefined });
  const split = args.split as "train" | "validation" | "test";
  if (!data.splits[split]) throw new UsageError(`--split must be train, validation or test`);
  const r = await evaluateClassifier(model, data.splits[split]);
  console.log(JSON.stringify({ task, split, examples: data.splits[split].length, accuracy: r.accuracy, macroF1: r.macroF1, loss: r.loss }, null, 2));
}

async function merge(): Promise<void> {
  const out = need(args.out, "--out");
  const dir = existing(args.adapter, "--adapter");
  existing(args.base, "--base");
  if (!fs.existsSync(path.join(dir, "adapter_config.json"))) throw new UsageError(`${dir} has no adapter_config.json: nothing to merge`);
  await initBackend();
  const { model, tokenizer } = loadAdapter(dir, args.base, null);
  const files = await saveBertCheckpoint(model.mergeAndUnload(), out, { tokenizer, overwrite: args.overwrite });
  console.log(`merged ${dir} into ${args.base} → ${files.join(", ")}`);
}

async function compare(): Promise<void> {
  const task = taskName();
  const methods = methodList();
  const out = args.out || `results/compare-${task}.json`;
  refuseExisting(out, out.replace(/\.json$/, "") + ".html");
  existing(args.checkpoint, "--checkpoint");
  const o = methodOptions();
  await initBackend();
  const rows = await compareMethods({
    task,
    methods,
    checkpoint: args.checkpoint,
    epochs: args.epochs,
    batchSize: args["batch-size"],
    limit: args.limit || undefined,
    seed: args.seed,
    options: Object.fromEntries(methods.map((m) => [m, o])),
    onResult: (row) =>
      console.log(
        `${row.method}: test accuracy ${(100 * row.accuracy).toFixed(2)}%, ${row.trainableParams.toLocaleString("en-US")} trainable, ${row.trainSeconds.toFixed(0)} s`,
      ),
  });
  console.log(`\n${comparisonTable(rows)}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const command = `npm run peft -- compare --task ${task} --methods ${methods.join(",")} --epochs ${args.epochs}${args.limit ? ` --limit ${args.limit}` : ""}`;
  fs.writeFileSync(
    out,
    JSON.stringify({ generatedBy: command, date: new Date().toISOString().slice(0, 10), checkpoint: args.checkpoint, seed: args.seed, rows }, null, 2) + "\n",
  );
  const figures = out.replace(/\.json$/, "") + ".html";
  writeFiguresHtml(comparisonFigures(rows), figures, `PEFT comparison: ${task}`);
  console.log(`wrote ${out} and ${figures}`);
}

function numberList(value: string, flag: string): number[] {
  const xs = value.split(",").map((x) => Number(x.trim()));
  if (xs.length === 0 || xs.some((x) => !Number.isFinite(x) || x < 0))
    throw new UsageError(`${flag} must be comma-separated non-negative numbers, got "${value}"`);
  return xs;
}

/** One run of a study, in this process: prints the run as one line "RUN {json}" for the parent. */
async function runOne(): Promise<void> {
  const [task, method, checkpoint] = [taskName(), checkedMethod(args.method), existing(args.checkpoint, "--checkpoint")];
  await initBackend();
  const { row, correct } = await runMethod({
    task,
    method,
    checkpoint,
    epochs: args.epochs,
    batchSize: args["batch-size"],
    trainLimit: args["train-limit"] || undefined,
    forgetting: args.forgetting,
    seed: args.seed,
    options: args.lr ? { lr: args.lr } : {},
    progress: "silent",
  });
  const run: SeedRun = { ...row, seed: args.seed, correct: Array.from(correct).join("") };
  console.log(`RUN ${JSON.stringify(run)}`);
}

/** Runs the specs `jobs` at a time, each in its own process (`npm run peft -- run-one …`), and prints each as it ends. */
async function runInProcesses(specs: RunSpec[], jobs: number, total: { done: number; all: number }): Promise<SeedRun[]> {
  const results: SeedRun[] = new Array(specs.length);
  let next = 0;
  const task = taskName();
  const worker = async (): Promise<void> => {
    while (next < specs.length) {
      const i = next++;
      const spec = specs[i];
      const argv = [
        ...process.execArgv,
        process.argv[1],
        "run-one",
        "--task",
        task,
        "--method",
        spec.method,
        "--lr",
        String(spec.lr),
        "--seed",
        String(spec.seed),
      ];
      argv.push("--epochs", String(args.epochs), "--batch-size", String(args["batch-size"]), "--checkpoint", args.checkpoint);
      if (args["train-limit"]) argv.push("--train-limit", String(args["train-limit"]));
      if (args.forgetting) argv.push("--forgetting");
      const started = Date.now();
      const output = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", reject);
        child.on("close", (code) =>
          code === 0
            ? resolve(out)
            : reject(new Error(`${spec.method} (seed ${spec.seed}, lr ${spec.lr}) failed with exit code ${code}:\n${err.slice(-2000)}`)),
        );
      });
      const line = output.split("\n").find((l) => l.startsWith("RUN "));
      if (!line) throw new Error(`${spec.method} (seed ${spec.seed}) printed no result`);
      results[i] = JSON.parse(line.slice(4)) as SeedRun;
      const r = results[i];
      total.done++;
      console.log(
        `[${total.done}/${total.all}] ${r.method} seed ${r.seed} lr ${r.lr.toPrecision(3)}: validation ${(100 * r.validationAccuracy).toFixed(2)}%, test ${(100 * r.accuracy).toFixed(2)}% (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, specs.length) }, worker));
  return results;
}

async function seeds(): Promise<void> {
  const task = taskName();
  const methods = methodList();
  const seedList = numberList(args.seeds, "--seeds");
  const lrFactors = numberList(args["lr-factors"], "--lr-factors");
  if (seedList.length < 2) throw new UsageError("--seeds needs at least two seeds (three or more for useful intervals)");
  if (!lrFactors.includes(1)) throw new UsageError("--lr-factors must include 1 (each method's default learning rate)");
  const out = args.out || `results/seeds-${task}.json`;
  refuseExisting(out, out.replace(/\.json$/, "") + ".html");
  await initBackend();
  const total = { done: 0, all: methods.length * (lrFactors.length + seedList.length - 1) };
  console.log(`${total.all} runs, ${args.jobs} at a time`);
  const { selected, runs } = await runSeedStudy({ methods, seeds: seedList, lrFactors }, (specs) => runInProcesses(specs, args.jobs, total));
  const flags = [
    `--task ${task}`,
    `--methods ${methods.join(",")}`,
    `--seeds ${seedList.join(",")}`,
    `--lr-factors ${lrFactors.join(",")}`,
    `--epochs ${args.epochs}`,
    ...(args["train-limit"] ? [`--train-limit ${args["train-limit"]}`] : []),
    ...(args.forgetting ? ["--forgetting"] : []),
  ];
  const trainExamples = runs.length ? Math.min(args["train-limit"] || Infinity, countTrain(task)) : 0;
  const study: SeedStudy = {
    generatedBy: `npm run peft -- seeds ${flags.join(" ")} --jobs ${args.jobs}`,
    date: new Date().toISOString().slice(0, 10),
    checkpoint: args.checkpoint,
    settings: { task, methods, seeds: seedList, lrFactors, epochs: args.epochs, trainExamples, ...(args.forgetting ? { forgetting: true } : {}) },
    selected,
    runs,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(study, null, 1) + "\n");
  console.log("");
  for (const s of summarizeStudy(study))
    console.log(
      `${s.method}: lr ${s.lr.toPrecision(3)}, test accuracy ${(100 * s.accuracyMean).toFixed(2)} ± ${(100 * s.accuracyStd).toFixed(2)}% over ${s.seeds} seeds` +
        (s.forgettingMean !== undefined ? `, held-out masked-LM loss +${s.forgettingMean.toFixed(4)} ± ${s.forgettingStd?.toFixed(4)}` : ""),
    );
  console.log("");
  for (const p of compareAllPairs(study)) console.log(describePair(p));
  writeFiguresHtml(studyFigures(study, methods.includes("lora") ? "lora" : methods[0]), out.replace(/\.json$/, "") + ".html", `PEFT over seeds: ${task}`);
  console.log(`wrote ${out}`);
}

function countTrain(task: DatasetName): number {
  return loadSplit(task, "train").length;
}

async function qrAdaptor(): Promise<void> {
  const task = taskName();
  const out = args.out || `results/qr-adaptor-${task}.json`;
  refuseExisting(out, out.replace(/\.json$/, "") + ".html");
  const layers = bertLayerInfos(readConfig(existing(args.checkpoint, "--checkpoint")));
  await initBackend();
  const budgetBytes = args["budget-kb"] * 1000;
  console.log(`phase I: measuring per-layer importances on ${task} …`);
  const importances = await measureImportances({ checkpoint: args.checkpoint, task, ladders: LECTURE_LADDERS, seed: args.seed });
  console.log(`  I_q (masked-LM loss rise at 4 bits): ${importances.iq.map((v) => v.toFixed(4)).join(", ")}`);
  console.log(`  I_r (mean squared task gradient):   ${importances.ir.map((v) => v.toExponential(3)).join(", ")}`);
  const evaluate = cheapEvaluator({ checkpoint: args.checkpoint, task, trainExamples: args["train-examples"], seed: args.seed });
  const started = Date.now();
  const result = await qrAdaptorSearch({
    layers,
    budgetBytes,
    importances,
    evaluate,
    populationSize: args.population,
    generations: args.generations,
    seed: args.seed,
    onGeneration: (g, front) =>
      console.log(
        `  generation ${g}: front of ${front.length}, best score ${Math.max(...front.map((f) => f.score)).toFixed(4)} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      ),
  });
  console.log(`\nwarm start (repaired into ${formatBytes(budgetBytes)}):\n${formatConfiguration(layers, result.warmStart.config)}`);
  console.log(
    `\nchosen (utility 0.6·P̂ − 0.4·M̂): validation accuracy ${result.chosenScore.toFixed(4)}, ${formatBytes(result.chosenMemory)}\n${formatConfiguration(layers, result.chosen)}`,
  );
  console.log(`\nPareto front (${result.evaluations} configurations evaluated):`);
  for (const f of result.front)
    console.log(`  ${f.config.map((c) => `${c.bits}b/r${c.rank}`).join("  ")}   score ${f.score.toFixed(4)}   ${formatBytes(f.memory)}`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const command = `npm run peft -- qr-adaptor --task ${task} --budget-kb ${args["budget-kb"]} --population ${args.population} --generations ${args.generations} --train-examples ${args["train-examples"]}`;
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        generatedBy: command,
        date: new Date().toISOString().slice(0, 10),
        budgetBytes,
        layers,
        importances,
        warmStart: { config: result.warmStart.config, memory: memoryBytes(layers, result.warmStart.config), score: result.warmStart.score },
        chosen: { config: result.chosen, score: result.chosenScore, memory: result.chosenMemory },
        front: result.front,
        evaluations: result.evaluations,
        seconds: Math.round((Date.now() - started) / 1000),
      },
      null,
      2,
    ) + "\n",
  );
  const label = (c: typeof result.chosen) => c.map((x) => `${x.bits}b/r${x.rank}`).join(" ");
  writeFiguresHtml(
    [
      {
        data: [
          {
            type: "scatter",
            mode: "lines+markers",
            name: "Pareto front",
            x: result.front.map((f) => f.memory / 1000),
            y: result.front.map((f) => f.score),
            text: result.front.map((f) => label(f.config)),
          },
          {
            type: "scatter",
            mode: "markers",
            name: "chosen",
            x: [result.chosenMemory / 1000],
            y: [result.chosenScore],
            marker: { size: 14, symbol: "star" },
            text: [label(result.chosen)],
          },
        ],
        layout: {
          title: { text: `QR-Adaptor on ${task}: budget ${formatBytes(budgetBytes)}` },
          xaxis: { title: { text: "memory (kB, memory model)" } },
          yaxis: { title: { text: "validation accuracy (short fine-tune)" } },
        },
      },
    ],
    out.replace(/\.json$/, "") + ".html",
    "QR-Adaptor",
  );
  console.log(`wrote ${out}`);
}

/** DoRA's Figure 2 on our model: (ΔD, ΔM) of every encoder linear during fine-tuning, per method and seed. */
async function magnitudeDirection(): Promise<void> {
  const methods = args.given.has("methods") ? methodList() : ["full", "lora", "dora"];
  const seedList = numberList(args.seeds, "--seeds");
  const out = args.out || "results/magnitude-direction-spam.json";
  refuseExisting(out);
  await initBackend();
  const points: TracePoint[] = [];
  const correlations: Array<{ seed: number; method: string; all: number; byStep: Record<number, number> }> = [];
  for (const seed of seedList)
    for (const method of methods) {
      const started = Date.now();
      const mine = await traceMagnitudeDirection({
        method,
        checkpoint: args.checkpoint,
        steps: args.steps,
        every: args.every,
        seed,
        options: { lr: resolveMethod(method).lr * args["lr-factor"] },
      });
      points.push(...mine.map((p) => ({ ...p, seed })));
      const r = traceCorrelations(mine)[method];
      correlations.push({ seed, method, ...r });
      console.log(`${method} seed ${seed}: r(ΔD, ΔM) = ${r.all.toFixed(2)} over all points (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
  const flags = [
    `--methods ${methods.join(",")}`,
    `--seeds ${seedList.join(",")}`,
    `--steps ${args.steps}`,
    `--every ${args.every}`,
    `--lr-factor ${args["lr-factor"]}`,
  ];
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        generatedBy: `npm run peft -- magnitude-direction ${flags.join(" ")}`,
        date: new Date().toISOString().slice(0, 10),
        checkpoint: args.checkpoint,
        correlations,
        points,
      },
      null,
      1,
    ) + "\n",
  );
  console.log(`wrote ${out}`);
}

function methodList(): string[] {
  const methods = args.methods
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
  for (const m of methods) checkedMethod(m, "--methods"); // unknown names fail before any run
  return methods;
}

const COMMANDS: Record<CommandName, () => Promise<void>> = {
  train,
  eval: evaluate,
  merge,
  compare,
  seeds,
  "run-one": runOne,
  "qr-adaptor": qrAdaptor,
  "magnitude-direction": magnitudeDirection,
};

/** Each command checks its command line first (a mistake is said before anything loads), then starts the backend. */
async function main(): Promise<void> {
  await COMMANDS[commandWord as CommandName]();
}

runMain(main);
