/**
 * Training-step time of each PEFT method on the shipped model, side by side in one run (these machines
 * are noisy: compare the ratios, not the absolute times), with DoRA's cost relative to LoRA's — peft
 * measures 1.3–2x on GPUs — and QLoRA's storage: the base weights' bytes relative to fp32 (target ≤ 30%)
 * and the measured bits per parameter (NF4 + double quantization: ≈ 4.127), and the bytes of AdamW's state
 * for full fine-tuning in fp32 vs 8-bit (the analogue of bitsandbytes' 8-bit / paged optimizers).
 *
 *   npm run bench:peft -- [--methods full,head,lora,dora,vblora,waveft,qlora] [--batch 16] [--seq 64] [--steps 8] [--rounds 2]
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend";
import { productThreads } from "../lib/ops/wasm-threads";
import { loadBertForSequenceClassification } from "../lib/io/hf-checkpoint";
import { AdamW } from "../lib/train/adamw";
import { trainStep } from "../lib/train/step";
import { crossEntropy } from "../lib/train/batching";
import { ENCODER_LINEARS, METHODS } from "../lib/experiments/methods";
import { quantizeLinears } from "../lib/peft/qlora";
import { parseArgs } from "../lib/util/args";
import { SHIPPED_CHECKPOINT_DIR } from "../lib/data/datasets";
import { median } from "../lib/util/stats";
import { benchStep } from "./training-step-setup";

const args = parseArgs(process.argv.slice(2), {
  checkpoint: { type: "string", default: SHIPPED_CHECKPOINT_DIR, help: "model folder" },
  methods: { type: "string", default: METHODS.join(","), help: "methods to time" },
  batch: { type: "number", default: 16, help: "sequences per step" },
  seq: { type: "number", default: 64, help: "tokens per sequence" },
  steps: { type: "number", default: 8, help: "timed steps per round" },
  rounds: { type: "number", default: 2, help: "rounds (methods interleaved, to spread machine noise)" },
});

async function main(): Promise<void> {
  const backend = await initBackend({ quiet: true });
  const methods = args.methods.split(",");
  const runners: Array<{ method: string; step: () => Promise<unknown>; times: number[] }> = [];
  for (const method of methods) {
    const { step } = benchStep(args.checkpoint, method, args.batch, args.seq);
    for (let i = 0; i < 2; i++) await step();
    runners.push({ method, step, times: [] });
  }
  for (let round = 0; round < args.rounds; round++) {
    for (const r of runners) {
      for (let i = 0; i < args.steps; i++) {
        const t = performance.now();
        await r.step();
        r.times.push(performance.now() - t);
      }
    }
  }
  const ms = new Map(runners.map((r) => [r.method, median(r.times)]));
  const lora = ms.get("lora");
  console.log(
    `training step, batch ${args.batch} × ${args.seq} tokens, ${backend.choice} backend (large products on ${productThreads().wanted} thread(s)), median of ${args.steps * args.rounds} steps`,
  );
  console.log("| method | ms / step | relative to LoRA |\n| --- | ---: | ---: |");
  for (const [m, t] of ms) console.log(`| ${m} | ${t.toFixed(1)} | ${lora ? `${(t / lora).toFixed(2)}×` : "n/a"} |`);

  console.log("\nQLoRA storage of the encoder's linear weights (NF4, blocks of 64, double-quantized scales)");
  console.log("| | bytes | relative to fp32 | bits per parameter |\n| --- | ---: | ---: | ---: |");
  for (const doubleQuant of [false, true]) {
    const copy = loadBertForSequenceClassification(args.checkpoint, { labels: ["a", "b"] }).model;
    const r = quantizeLinears(copy, ENCODER_LINEARS, { quantType: "nf4", blocksize: 64, doubleQuant });
    if (!doubleQuant) console.log(`| fp32 | ${r.fp32WeightBytes.toLocaleString("en-US")} | 100.0% | 32 |`);
    console.log(
      `| NF4${doubleQuant ? " + double quantization" : ""} | ${r.quantizedWeightBytes.toLocaleString("en-US")} | ${((100 * r.quantizedWeightBytes) / r.fp32WeightBytes).toFixed(1)}% | ${r.bitsPerParameter.toFixed(3)} |`,
    );
    copy.dispose();
  }

  const { model } = loadBertForSequenceClassification(args.checkpoint, { labels: ["a", "b"] });
  const ids = tf.tensor2d(
    Array.from({ length: 4 * 16 }, (_, i) => 5 + i),
    [4, 16],
    "int32",
  );
  const labels = tf.tensor1d([0, 1, 0, 1], "int32");
  console.log("\nAdamW state for full fine-tuning (measured after one step)\n| state | bytes | relative to fp32 |\n| --- | ---: | ---: |");
  for (const state of ["fp32", "8bit"] as const) {
    const opt = new AdamW(model.namedParameters(), { lr: 1e-5, state });
    await trainStep(opt, () => crossEntropy(model.forward({ inputIds: ids }), labels), { lr: 1e-5 });
    const b = opt.stateBytes();
    console.log(`| ${state} | ${b.stored.toLocaleString("en-US")} | ${((100 * b.stored) / b.fp32).toFixed(1)}% |`);
    opt.dispose();
  }
  model.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
