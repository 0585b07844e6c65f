/**
 * Training-step benchmark: the shipped model's fine-tuning step (forward + backward + AdamW with clipping)
 * on this TensorFlow.js backend, and the same architecture and shapes in PyTorch on the CPU, in one run,
 * for full fine-tuning and for LoRA (r = 8 on every encoder linear, the kit's preset).
 *
 *   npm run bench -- [--batch 16] [--seq 64] [--steps 10] [--rounds 3] [--methods full,lora]
 *
 * Each round times `steps` steps of every method here, then the same in PyTorch (one process per round,
 * methods interleaved step by step), so that the machine's noise falls on both sides alike; the table
 * gives medians over all rounds. Both sides run on one thread and on every core (the kit's products use helper
 * threads, lib/ops/wasm-threads.ts: COURSEKIT_THREADS, default the cores up to 4); each figure is divided by
 * PyTorch's faster configuration. OPENBLAS_NUM_THREADS=1 keeps OpenBLAS from oversubscribing the cores
 * (torch's own threads do the work). Figures go to stdout; nothing is asserted (this is not a test).
 */
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend";
import { parseArgs } from "../lib/util/args";
import { benchStep } from "./training-step-setup";
import { productThreads, setProductThreads } from "../lib/ops/wasm-threads";
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
  // Both sides on one thread, and both on every core (the kit: its helper threads for products, up to 4).
  const cores = os.cpus().length;
  const ourThreads = [...new Set([1, productThreads().wanted])];
  const torchThreads = [...new Set([1, cores])];
  const runners = methods.map((method) => ({
    method,
    ...benchStep(args.checkpoint, method, args.batch, args.seq),
    ours: new Map(ourThreads.map((n) => [n, [] as number[]])),
    torch: new Map(torchThreads.map((n) => [n, [] as number[]])),
  }));

  let torchVersion: string | null = null;
  let torchError: string | null = null;
  for (let round = 0; round < args.rounds; round++) {
    for (const threads of ourThreads) {
      await setProductThreads(threads);
      for (const r of runners) for (let i = 0; i < (round === 0 ? 3 : 1); i++) await r.step(); // warm-up
      for (let i = 0; i < args.steps; i++) {
        for (const r of runners) {
          const t = performance.now();
          await r.step();
          r.ours.get(threads)?.push(performance.now() - t);
        }
      }
    }
    if (!torchError) {
      for (const threads of torchThreads) {
        try {
          const run = torchRound(threads, methods, args.steps);
          torchVersion = run.torch;
          for (const r of runners) r.torch.get(threads)?.push((run[r.method] as { median_ms: number }).median_ms);
        } catch (e) {
          torchError = (e as Error).message.split("\n")[0];
        }
      }
    }
    process.stderr.write(`round ${round + 1}/${args.rounds} done\n`);
  }

  console.log(`training step of ${args.checkpoint}, batch ${args.batch} × ${args.seq} tokens, ${args.rounds} rounds × ${args.steps} steps per method`);
  if (torchError) console.log(`PyTorch reference unavailable (${torchError}); install Debian's python3-torch and libopenblas0-pthread.`);
  console.log(`| method | implementation | threads | ms / step | relative to PyTorch's faster configuration |`);
  console.log(`| --- | --- | --- | ---: | ---: |`);
  const summary: string[] = [];
  for (const r of runners) {
    const torch = [...r.torch].filter(([, v]) => v.length).map(([n, v]) => [n, median(v)] as const);
    const best = torch.length ? Math.min(...torch.map(([, ms]) => ms)) : null;
    const rel = (ms: number) => (best ? `${(ms / best).toFixed(2)}×` : "n/a");
    for (const [n, v] of r.ours) {
      const ms = median(v);
      console.log(`| ${r.method} | TensorFlow.js ${tf.version.tfjs}, ${info.choice} backend | ${n} | ${ms.toFixed(1)} | **${rel(ms)}** |`);
      if (best) summary.push(`${r.method} on ${n} thread${n > 1 ? "s" : ""} ${rel(ms)}`);
    }
    for (const [n, ms] of torch) console.log(`| ${r.method} | PyTorch ${torchVersion} (CPU, OpenBLAS) | ${n} | ${ms.toFixed(1)} | ${rel(ms)} |`);
    r.dispose();
  }
  if (summary.length) console.log(`relative to PyTorch's faster configuration (1 or ${cores} threads, per method): ${summary.join(", ")}`);
  console.log(`machine: ${os.cpus()[0]?.model ?? "unknown CPU"}, ${cores} cores, Node ${process.version}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
