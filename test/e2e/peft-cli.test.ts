/**
 * The PEFT command line end to end on the shipped model, in tiny runs: train writes an adapter in peft's
 * layout and metrics.json, eval reloads it, merge writes a Hugging Face checkpoint folder that loads and
 * gives the adapter's predictions; the comparison helpers give a DataFrame and figures.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { strict as assert } from "node:assert";
import { comparisonFigures, comparisonFrame, comparisonTable, ComparisonRow } from "../../lib/experiments/compare";

const ROOT = path.resolve(__dirname, "..", "..");
const cli = (args: string[]) =>
  execFileSync(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/peft.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });

describe("PEFT command line", function () {
  this.timeout(180_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "peft-cli-"));
  const adapter = path.join(dir, "adapter");
  const merged = path.join(dir, "merged");

  it("train → eval → merge with LoRA", () => {
    const out = cli(["train", "--task", "spam", "--method", "lora", "--r", "4", "--epochs", "1", "--max-steps", "3", "--limit", "48", "--out", adapter]);
    assert.match(out, /trainable params: [\d,]+ \|\| all params/);
    for (const f of ["adapter_config.json", "adapter_model.safetensors", "metrics.json"]) assert.ok(fs.existsSync(path.join(adapter, f)), f);
    const metrics = JSON.parse(fs.readFileSync(path.join(adapter, "metrics.json"), "utf8"));
    assert.equal(metrics.steps, 3);
    assert.deepEqual(metrics.labels, ["ham", "spam"]);
    const evaluated = JSON.parse(cli(["eval", "--task", "spam", "--adapter", adapter, "--limit", "48"]).replace(/^[^{]*/, ""));
    assert.equal(evaluated.accuracy, metrics.testAccuracy, "eval reloads the same adapter");
    assert.throws(
      () => cli(["train", "--task", "spam", "--method", "lora", "--max-steps", "1", "--limit", "16", "--out", adapter]),
      /already holds .*--overwrite/,
    );
    cli(["merge", "--adapter", adapter, "--out", merged]);
    const mergedEval = JSON.parse(cli(["eval", "--task", "spam", "--adapter", merged, "--limit", "48"]).replace(/^[^{]*/, ""));
    assert.ok(Math.abs(mergedEval.accuracy - metrics.testAccuracy) < 1e-9, "the merged checkpoint predicts like the adapter");
    const config = JSON.parse(fs.readFileSync(path.join(merged, "config.json"), "utf8"));
    assert.deepEqual(config.id2label, { 0: "ham", 1: "spam" });
  });

  it("an option not given takes the method's default: QLoRA trains with dropout 0.1 unless --dropout says otherwise", () => {
    const dropoutOf = (extra: string[], name: string) => {
      const out = path.join(dir, name);
      cli(["train", "--task", "spam", "--method", "qlora", "--r", "2", "--epochs", "1", "--max-steps", "1", "--limit", "16", "--out", out, ...extra]);
      return JSON.parse(fs.readFileSync(path.join(out, "adapter_config.json"), "utf8")).lora_dropout as number;
    };
    assert.equal(dropoutOf([], "qlora-default"), 0.1);
    assert.equal(dropoutOf(["--dropout", "0"], "qlora-no-dropout"), 0);
  });

  it("unknown methods and tasks are errors that list the choices", () => {
    assert.throws(
      () => cli(["train", "--task", "spam", "--method", "prefix", "--out", path.join(dir, "x")]),
      /unknown method "prefix"; choose one of: full, head, lora, dora, vblora, waveft, qlora/,
    );
    assert.throws(() => cli(["eval", "--task", "imdb", "--adapter", adapter]), /--task must be one of spam, wordnet/);
  });

  it("comparison rows become a table, a danfojs DataFrame and plotly figures", () => {
    const row = (method: string, acc: number): ComparisonRow => ({
      task: "spam",
      method,
      description: method,
      trainableParams: 1000,
      totalParams: 10000,
      trainablePercent: 10,
      storedBytes: 4000,
      trainSeconds: 12,
      stepsPerSecond: 2,
      peakBytes: 2e6,
      accuracy: acc,
      macroF1: acc - 0.01,
      validationAccuracy: acc,
      epochs: 1,
      lr: 1e-3,
    });
    const rows = [row("lora", 0.9), row("dora", 0.92)];
    assert.match(comparisonTable(rows), /\| spam \| dora \| 1,000 \| 10\.00% \| 4\.0 kB \| 12 s \| 2\.00 MB \| 92\.00% \| 91\.00% \|/);
    const df = comparisonFrame(rows);
    assert.deepEqual(df.shape, [2, Object.keys(rows[0]).length]);
    const figures = comparisonFigures(rows);
    assert.equal(figures.length, 3);
    assert.deepEqual((figures[0].data[0] as { y: number[] }).y, [90, 92]);
  });
});
