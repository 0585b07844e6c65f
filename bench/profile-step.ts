/**
 * Where a training step's time goes on this backend: `tf.profile` of the shipped model's fine-tuning step
 * (the same step as `npm run bench`), kernels grouped by name and by name and input shapes.
 *
 *   npm run bench:profile -- [--method lora] [--batch 16] [--seq 64] [--steps 5] [--top 25]
 *
 * Kernel times are measured around each kernel call; the wall time of a step also holds TensorFlow.js's
 * own work between kernels (the tape, tensor bookkeeping), shown as the difference. Profiling adds some
 * overhead of its own: compare the figures with each other, and use `npm run bench` for the step's time.
 */
import { initBackend } from "../lib/backend";
import { productThreads } from "../lib/ops/wasm-threads";
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "../lib/util/args";
import { benchStep } from "./training-step-setup";
import { SHIPPED_CHECKPOINT_DIR } from "../lib/data/datasets";

const args = parseArgs(process.argv.slice(2), {
  checkpoint: { type: "string", default: SHIPPED_CHECKPOINT_DIR, help: "model folder" },
  method: { type: "string", default: "lora", help: "a method name (lora, full, dora, …)" },
  batch: { type: "number", default: 16, help: "sequences per step" },
  seq: { type: "number", default: 64, help: "tokens per sequence" },
  steps: { type: "number", default: 5, help: "profiled steps (after 3 warm-up steps)" },
  top: { type: "number", default: 25, help: "rows of the by-shape table" },
});

async function main(): Promise<void> {
  const info = await initBackend({ quiet: true });
  const { describe, step, dispose } = benchStep(args.checkpoint, args.method, args.batch, args.seq);
  for (let i = 0; i < 3; i++) await step();

  const byShape = new Map<string, { ms: number; calls: number }>();
  const add = (key: string, ms: number) => {
    const e = byShape.get(key) ?? { ms: 0, calls: 0 };
    e.ms += ms / args.steps;
    e.calls += 1 / args.steps;
    byShape.set(key, e);
  };
  const start = performance.now();
  for (let i = 0; i < args.steps; i++) {
    const profile = await tf.profile(async () => {
      await step();
    });
    // A customGrad's scope is reported as a kernel named after it and again as the kernels inside: skip scopes.
    for (const k of profile.kernels) if (!k.name.includes("scope")) add(`${k.name} ${JSON.stringify(k.inputShapes)}`, k.kernelTimeMs as number);
  }
  const wall = (performance.now() - start) / args.steps;
  const byName = new Map<string, { ms: number; calls: number }>();
  for (const [key, v] of byShape) {
    const name = key.split(" ")[0];
    const e = byName.get(name) ?? { ms: 0, calls: 0 };
    e.ms += v.ms;
    e.calls += v.calls;
    byName.set(name, e);
  }
  const inKernels = [...byName.values()].reduce((a, v) => a + v.ms, 0);
  const calls = [...byName.values()].reduce((a, v) => a + v.calls, 0);
  console.log(
    `${describe}; ${info.choice} backend (large products on ${productThreads().wanted} thread(s)); batch ${args.batch} × ${args.seq}; mean of ${args.steps} profiled steps`,
  );
  console.log(
    `wall ${wall.toFixed(1)} ms per step: ${inKernels.toFixed(1)} ms in ${Math.round(calls)} kernel calls, ${(wall - inKernels).toFixed(1)} ms between them\n`,
  );
  const table = (rows: Array<[string, { ms: number; calls: number }]>) => {
    console.log("| kernel | calls | ms / step | share of the step |\n| --- | ---: | ---: | ---: |");
    for (const [k, v] of rows) console.log(`| ${k} | ${Math.round(v.calls)} | ${v.ms.toFixed(1)} | ${((100 * v.ms) / wall).toFixed(1)}% |`);
  };
  table([...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).filter(([, v]) => v.ms >= 0.5));
  console.log("");
  table([...byShape.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, args.top));
  dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
