/**
 * Training-step benchmark: the shipped model's fine-tuning step (forward + backward + AdamW with clipping)
 * on this TensorFlow.js backend, and the same architecture and shapes in PyTorch on the CPU, in one run,
 * for full fine-tuning and for LoRA (r = 8 on every encoder linear, the kit's preset).
 *
 *   npm run bench -- [--batch 16] [--seq 64] [--steps 10] [--rounds 3] [--methods full,lora]
 *
 * Each round times `steps` steps of every method here, then the same in PyTorch (one process per round,
 * methods interleaved step by step), so that the machine's noise falls on both sides alike; the table
 * gives medians over all rounds. PyTorch runs with one thread, as the wasm backend does (tfjs-wasm has no
 * threads in Node), and, for context, with every core. OPENBLAS_NUM_THREADS=1 keeps OpenBLAS from
 * oversubscribing the cores. Figures go to stdout; nothing is asserted (this is not a test).
 */
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend";
import { parseArgs } from "../lib/util/args";
import { benchStep } from "./training-step-setup";
import { SHIPPED_CHECKPOINT_DIR } from "../lib/data/datasets";
import { median } from "../lib/util/stats";

const args = parseArgs(process.argv.slice(2), {
  checkpoint: { type: "string", default: SHIPPED_CHECKPOINT_DIR, help: "model folder" },
  batch: { type: "number", default: 16, help: "sequences per step" },
  seq: { type: "number", default: 64, help: "tokens per sequence" },
  steps: { type: "number", default: 10, help: "timed steps per method and round (after 3 warm-up steps)" },
  rounds: { type: "number", default: 3, help: "rounds, each timing TensorFlow.js then PyTorch" },
  methods: { type: "string", default: "full,lora", help: "full and/or lora" },
});

interface TorchRun {
  torch: string;
  [method: string]: { median_ms: number } | string;
}

function torchRound(threads: number, methods: string[], steps: number): TorchRun {
  const out = execFileSync(
    "/usr/bin/python3",
    [
      "bench/train_step_torch.py",
      path.join(args.checkpoint, "config.json"),
      String(args.batch),
      String(args.seq),
      String(threads),
      String(steps),
      methods.join(","),
    ],
    { env: { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: String(threads) }, encoding: "utf8" },
  );
  return JSON.parse(out.trim().split("\n").pop() as string) as TorchRun;
}

async function main(): Promise<void> {
  const info = await initBackend({ quiet: true });
  const methods = args.methods.split(",");
  const unknown = methods.filter((m) => m !== "full" && m !== "lora");
  if (unknown.length)
    throw new Error(`--methods: ${unknown.join(", ")} has no PyTorch side here; use full and/or lora (npm run bench:peft times every method)`);
  const runners = methods.map((method) => ({
    method,
    ...benchStep(args.checkpoint, method, args.batch, args.seq),
    ours: [] as number[],
    torch1: [] as number[],
  }));
  for (const r of runners) for (let i = 0; i < 3; i++) await r.step();

  let torchVersion: string | null = null;
  let torchError: string | null = null;
  for (let round = 0; round < args.rounds; round++) {
    for (let i = 0; i < args.steps; i++) {
      for (const r of runners) {
        const t = performance.now();
        await r.step();
        r.ours.push(performance.now() - t);
      }
    }
    if (torchError) continue;
    try {
      const run = torchRound(1, methods, args.steps);
      torchVersion = run.torch;
      for (const r of runners) r.torch1.push((run[r.method] as { median_ms: number }).median_ms);
    } catch (e) {
      torchError = (e as Error).message.split("\n")[0];
    }
    process.stderr.write(`round ${round + 1}/${args.rounds} done\n`);
  }
  let torchAll: TorchRun | null = null;
  if (!torchError && os.cpus().length > 1) torchAll = torchRound(os.cpus().length, methods, args.steps);

  console.log(`training step of ${args.checkpoint}, batch ${args.batch} × ${args.seq} tokens, ${args.rounds} rounds × ${args.steps} steps per method`);
  if (torchError) console.log(`PyTorch reference unavailable (${torchError}); install Debian's python3-torch and libopenblas0-pthread.`);
  console.log(`| method | implementation | threads | ms / step | relative to PyTorch (1 thread) |`);
  console.log(`| --- | --- | --- | ---: | ---: |`);
  const best: string[] = [];
  for (const r of runners) {
    const ours = median(r.ours);
    const t1 = r.torch1.length ? median(r.torch1) : null;
    const rel = (ms: number) => (t1 ? `${(ms / t1).toFixed(2)}×` : "n/a");
    console.log(`| ${r.method} | TensorFlow.js ${tf.version.tfjs}, ${info.choice} backend | 1 | ${ours.toFixed(1)} | **${rel(ours)}** |`);
    if (t1) console.log(`| ${r.method} | PyTorch ${torchVersion} (CPU, OpenBLAS) | 1 | ${t1.toFixed(1)} | 1.00× |`);
    const all = torchAll?.[r.method] as { median_ms: number } | undefined;
    if (all)
      console.log(`| ${r.method} | PyTorch ${torchVersion} (CPU, OpenBLAS) | ${os.cpus().length} | ${all.median_ms.toFixed(1)} | ${rel(all.median_ms)} |`);
    if (t1) best.push(`${r.method} ${(ours / Math.min(t1, all?.median_ms ?? Infinity)).toFixed(2)}×`);
    r.dispose();
  }
  if (best.length) console.log(`relative to PyTorch's faster configuration (1 or ${os.cpus().length} threads): ${best.join(", ")}`);
  console.log(`machine: ${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.cpus().length} cores, Node ${process.version}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
