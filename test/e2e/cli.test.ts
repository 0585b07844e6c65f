/**
 * Bad command lines, run for real: each is one line on stderr naming the mistake, exit code 2 (1 for a
 * damaged file), no stack trace — `--debug` shows it. Also: results files are not replaced without
 * --overwrite, and a checkpoint with a NaN weight is refused when it loads.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { strict as assert } from "node:assert";
import { readSafetensors, writeSafetensors, TensorInput } from "../../lib/io/safetensors";
import { parseArgs } from "../../lib/util/args";

const ROOT = path.resolve(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");

function run(script: string, args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [TSX, script, ...args], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** Exit code 2 and exactly one line on stderr matching `message`. */
function refused(script: string, args: string[], message: RegExp, code = 2): void {
  const r = run(script, args);
  const lines = r.stderr.trim().split("\n");
  assert.equal(r.status, code, `${script} ${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
  assert.equal(lines.length, 1, `${script} ${args.join(" ")}: one line, no stack trace:\n${r.stderr}`);
  assert.match(lines[0], message);
}

describe("command lines: bad input is one line and exit code 2", function () {
  this.timeout(300_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-cli-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("the parser: unknown options (with the nearest), missing values, types, ranges, stray words", () => {
    const spec = {
      r: { type: "number" as const, default: 0, min: 1, integer: true, help: "rank" },
      lr: { type: "number" as const, default: 0, above: 0, help: "learning rate" },
      instructor: { type: "boolean" as const, default: false, help: "" },
      out: { type: "string" as const, default: "", help: "" },
    };
    const parse = (argv: string[]) => parseArgs([...argv, "--debug"], spec); // --debug: throw instead of exit
    assert.throws(() => parse(["--instrutor"]), /unknown option --instrutor; did you mean --instructor\?/);
    assert.throws(
      () => parse(["--zzzzzzzz"]),
      (e: Error) => /unknown option --zzzzzzzz \(--help/.test(e.message),
    );
    assert.throws(() => parse(["--r", "abc"]), /--r expects a number, got "abc"/);
    assert.throws(() => parse(["--r", "2.5"]), /--r expects a whole number/);
    assert.throws(() => parse(["--r", "0"]), /--r must be at least 1, got 0/);
    assert.throws(() => parse(["--lr", "-5"]), /--lr must be greater than 0, got -5/);
    assert.throws(() => parse(["--out"]), /--out needs a value/);
    assert.throws(() => parse(["--out", "--r", "2"]), /--out needs a value/);
    assert.throws(() => parse(["stray"]), /unexpected argument "stray"/);
    const ok = parse(["--r=4", "--lr", "1e-3", "--instructor"]);
    assert.equal(ok.r, 4);
    assert.equal(ok.lr, 1e-3);
    assert.equal(ok.instructor, true);
    assert.deepEqual([...ok.given].sort(), ["instructor", "lr", "r"]);
  });

  it("npm run peft: unknown flag, wrong type, flag without value, out-of-range numbers, stray words", () => {
    const train = (extra: string[]) => ["train", "--task", "spam", "--out", path.join(tmp, "never"), ...extra];
    refused("scripts/peft.ts", train(["--bogus"]), /^peft: unknown option --bogus \(--help lists the options\)$/);
    refused("scripts/peft.ts", train(["--r", "abc"]), /^peft: --r expects a number, got "abc"$/);
    refused("scripts/peft.ts", ["train", "--task", "spam", "--out"], /^peft: --out needs a value$/);
    refused("scripts/peft.ts", train(["--batch-size", "0"]), /^peft: --batch-size must be at least 1, got 0$/);
    refused("scripts/peft.ts", train(["--lr", "-5"]), /^peft: --lr must be greater than 0, got -5$/);
    refused("scripts/peft.ts", train(["--epochs", "0"]), /^peft: --epochs must be at least 1, got 0$/);
    refused("scripts/peft.ts", train(["--limit", "-5"]), /^peft: --limit must be at least 1, got -5$/);
    refused("scripts/peft.ts", train(["--r", "0"]), /^peft: --r must be at least 1, got 0$/);
    refused("scripts/peft.ts", train(["--dropout", "1"]), /^peft: --dropout must be below 1, got 1$/);
    refused("scripts/peft.ts", train(["extra-word"]), /^peft: unexpected argument "extra-word"/);
    refused(
      "scripts/peft.ts",
      ["trian"],
      /^peft: unknown command "trian"; usage: npm run peft -- <train\|eval\|merge\|compare\|seeds\|run-one\|qr-adaptor\|magnitude-direction>/,
    );
    assert.ok(!fs.existsSync(path.join(tmp, "never")), "nothing was written");
  });

  it("a missing path, a path that is not a notebook, a misplaced command or method: said before anything loads, nothing written", () => {
    const missing = path.join(tmp, "no-such-thing");
    const vocab = path.join(tmp, "vocab.txt");
    fs.writeFileSync(vocab, "[PAD]\n");
    refused("scripts/release.ts", ["--check", missing], /^release: .*no-such-thing does not exist$/);
    refused("scripts/release.ts", ["--check", vocab], /^release: .*vocab\.txt is not under solutions\/ /);
    refused("scripts/grade.ts", [missing], /^grade: .*no-such-thing does not exist$/);
    refused("scripts/grade.ts", [vocab], /^grade: .*vocab\.txt is not a notebook \(\.ipynb\): give a notebook or a folder of them$/);
    assert.deepEqual(fs.readdirSync(tmp).sort(), ["vocab.txt"], "nothing written beside the file");
    refused("scripts/grade.ts", [tmp], /^grade: no notebooks \(\.ipynb\) under /);
    refused("scripts/peft.ts", ["--rank", "-1"], /^peft: the command comes first, before --rank; usage: npm run peft -- <train\|/);
    refused("scripts/peft.ts", ["train", "--rank", "-1"], /^peft: unknown option --rank; did you mean --r\? /);
    // the method and the folders are checked before the backend, the model and the data load (no banner on stdout)
    const method = run("scripts/peft.ts", ["train", "--method", "nosuch", "--out", path.join(tmp, "never")]);
    assert.equal(method.status, 2, method.stderr);
    assert.match(method.stderr.trim(), /^peft: --method: unknown method "nosuch"; choose one of: full, head, lora/);
    assert.equal(method.stdout, "", "nothing loaded");
    refused("scripts/peft.ts", ["eval", "--adapter", missing], /^peft: --adapter .*no-such-thing does not exist$/);
    refused("scripts/peft.ts", ["merge", "--adapter", tmp, "--out", path.join(tmp, "never")], /has no adapter_config\.json: nothing to merge$/);
    refused("scripts/peft.ts", ["compare", "--methods", "lora,nosuch", "--out", path.join(tmp, "never.json")], /^peft: --methods: unknown method "nosuch"/);
    assert.deepEqual(fs.readdirSync(tmp).sort(), ["vocab.txt"], "nothing written");
  });

  it("--debug shows the stack trace", () => {
    const r = run("scripts/peft.ts", ["train", "--bogus", "--debug"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /UsageError: unknown option --bogus/);
    assert.match(r.stderr, /\n\s+at /, "a stack trace");
  });

  it("grade and release: a misspelt flag names the right one", () => {
    refused("scripts/grade.ts", ["x.ipynb", "--instrutor"], /^grade: unknown option --instrutor; did you mean --instructor\? \(--help lists the options\)$/);
    refused("scripts/release.ts", ["--chek"], /^release: unknown option --chek; did you mean --check\? \(--help lists the options\)$/);
    refused("scripts/grade.ts", ["x.ipynb", "--jobs", "0"], /^grade: --jobs must be at least 1, got 0$/);
  });

  it("compare and qr-adaptor never replace an existing results file without --overwrite", () => {
    const out = path.join(tmp, "compare-spam.json");
    fs.writeFileSync(out, '{"keep": true}\n');
    refused(
      "scripts/peft.ts",
      ["compare", "--task", "spam", "--methods", "head", "--out", out],
      /exists already; pass --overwrite to replace it, or --out FILE$/,
    );
    refused("scripts/peft.ts", ["qr-adaptor", "--task", "spam", "--out", out], /exists already; pass --overwrite/);
    refused("scripts/peft.ts", ["seeds", "--task", "spam", "--methods", "head", "--out", out], /exists already; pass --overwrite/);
    refused("scripts/peft.ts", ["seeds", "--task", "spam", "--methods", "head", "--seeds", "3", "--out", out], /^peft: --seeds needs at least two seeds/);
    refused("scripts/peft.ts", ["seeds", "--task", "spam", "--methods", "head", "--lr-factors", "0.5,2", "--out", out], /^peft: --lr-factors must include 1/);
    assert.equal(fs.readFileSync(out, "utf8"), '{"keep": true}\n', "the file is untouched");
  });

  it("a checkpoint with a NaN weight is refused when it loads, naming the tensor", () => {
    const damaged = path.join(tmp, "damaged");
    fs.cpSync(path.join(ROOT, "datasets", "checkpoints", "bert-tiny-peft"), damaged, { recursive: true });
    const file = path.join(damaged, "model.safetensors");
    const { tensors, metadata } = readSafetensors(file);
    const out = new Map<string, TensorInput>();
    for (const [k, e] of tensors) {
      const data = Float32Array.from(e.data as ArrayLike<number>);
      if (k === "bert.encoder.layer.1.output.dense.weight") data[5] = NaN;
      out.set(k, { shape: e.shape, data });
    }
    writeSafetensors(file, out, metadata);
    refused(
      "scripts/peft.ts",
      ["train", "--task", "spam", "--checkpoint", damaged, "--limit", "8", "--max-steps", "1", "--out", path.join(tmp, "never2")],
      /^peft: .*tensor "bert\.encoder\.layer\.1\.output\.dense\.weight" holds NaN at index 5: the checkpoint is damaged/,
      1,
    );
  });
});
