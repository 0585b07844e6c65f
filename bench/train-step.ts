/**
 * Training-step benchmark: the shipped model's fine-tuning step (forward + backward + AdamW with clipping)
 * on this TensorFlow.js backend, and the same architecture and shapes in PyTorch on the CPU, in one run.
 *
 *   npm run bench -- [--batch 16] [--seq 64] [--steps 10]
 *
 * PyTorch runs with the same thread count as the wasm backend (1; tfjs-wasm has no threads in Node) and,
 * for context, with every core. OPENBLAS_NUM_THREADS=1 avoids OpenBLAS oversubscribing the cores
 * (platform.md: 46 ms vs 200 ms). Figures go to stdout; nothing is asserted (this is not a test).
 */
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend";
import { readConfig, loadBertForSequenceClassification } from "../lib/io/hf-checkpoint";
import { AdamW } from "../lib/train/adamw";
import { trainStep } from "../lib/train/step";
import { crossEntropy } from "../lib/train/batching";
import { parseArgs } from "../lib/util/args";
import { SHIPPED_CHECKPOINT_DIR } from "../lib/data/datasets";
import { median } from "../lib/util/stats";

const args = parseArgs(process.argv.slice(2), {
  checkpoint: { type: "string", default: SHIPPED_CHECKPOINT_DIR, help: "model folder" },
  batch: { type: "number", default: 16, help: "sequences per step" },
  seq: { type: "number", default: 64, help: "tokens per sequence" },
  steps: { type: "number", default: 10, help: "timed steps (after 3 warm-up steps)" },
});

async function main(): Promise<void> {
  const info = await initBackend({ quiet: true });
  const { model } = loadBertForSequenceClassification(args.checkpoint, { labels: ["a", "b"] });
  model.train();
  const opt = new AdamW(model.namedParameters(), { lr: 1e-4 });
  const vocab = readConfig(args.checkpoint).vocabSize;
  const ids = tf.tensor2d(
    Array.from({ length: args.batch * args.seq }, (_, i) => 5 + ((i * 7919) % (vocab - 5))),
    [args.batch, args.seq],
    "int32",
  );
  const mask = tf.ones([args.batch, args.seq], "int32") as tf.Tensor2D;
  const labels = tf.tensor1d(
    Array.from({ length: args.batch }, (_, i) => i % 2),
    "int32",
  );
  const step = () => trainStep(opt, () => crossEntropy(model.forward({ inputIds: ids, attentionMask: mask }), labels), { lr: 1e-4, maxGradNorm: 1 });
  for (let i = 0; i < 3; i++) await step();
  const times: number[] = [];
  for (let i = 0; i < args.steps; i++) {
    const t = performance.now();
    await step();
    times.push(performance.now() - t);
  }
  const ours = median(times);

  const cfgPath = path.join(args.checkpoint, "config.json");
  const torch = (threads: number) => {
    const out = execFileSync(
      "/usr/bin/python3",
      ["bench/train_step_torch.py", cfgPath, String(args.batch), String(args.seq), String(threads), String(args.steps)],
      {
        env: { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: String(threads) },
        encoding: "utf8",
      },
    );
    return JSON.parse(out.trim().split("\n").pop() as string) as { median_ms: number; torch: string };
  };
  let t1: { median_ms: number; torch: string } | null = null;
  let tAll: { median_ms: number; torch: string } | null = null;
  try {
    t1 = torch(1);
    tAll = os.cpus().length > 1 ? torch(os.cpus().length) : null;
  } catch (e) {
    console.log(`PyTorch reference unavailable (${(e as Error).message.split("\n")[0]}); install Debian's python3-torch and libopenblas0-pthread.`);
  }
  const params = model.numParameters();
  console.log(`training step of ${args.checkpoint} (${(params / 1e6).toFixed(2)}M params), batch ${args.batch} × ${args.seq} tokens, median of ${args.steps}`);
  console.log(`| implementation | threads | ms / step | relative to PyTorch (1 thread) |`);
  console.log(`| --- | --- | --- | --- |`);
  const rel = (ms: number) => (t1 ? `${(ms / t1.median_ms).toFixed(2)}×` : "n/a");
  console.log(`| TensorFlow.js ${tf.version.tfjs}, ${info.choice} backend | 1 | ${ours.toFixed(1)} | ${rel(ours)} |`);
  if (t1) console.log(`| PyTorch ${t1.torch} (CPU, OpenBLAS) | 1 | ${t1.median_ms.toFixed(1)} | 1.00× |`);
  if (tAll) console.log(`| PyTorch ${tAll.torch} (CPU, OpenBLAS) | ${os.cpus().length} | ${tAll.median_ms.toFixed(1)} | ${rel(tAll.median_ms)} |`);
  opt.dispose();
  model.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
