/**
 * How much memory an idle course kernel holds: the kernel (tslab + Node) right after it starts, after the
 * notebook's first cell (the imports and the backend), and after every cell of the notebook ran (the
 * solutions' version, so every cell runs), each read a few seconds after the kernel went idle. The figure is
 * the resident memory (RSS) of the kernel's whole process tree, as the grader's memory limit reads it.
 *
 *   npm run bench:kernel-memory -- [NOTEBOOK ...]     (default: solutions/week03/02-lora and 07-qlora-nf4)
 */
import * as path from "node:path";
import { TslabKernel } from "../lib/grader/kernel-client";
import { cellSource, readNotebook } from "../lib/notebook/ipynb";
import { parseArgs, runMain } from "../lib/util/args";
import { sleep } from "../lib/util/async";

const ROOT = path.resolve(__dirname, "..");
const args = parseArgs(
  process.argv.slice(2),
  {
    settle: { type: "number", default: 3, min: 0, help: "seconds to wait after a cell before reading the memory" },
  },
  { positionals: { max: Infinity, name: "notebooks" } },
);
const files =
  args._.length > 0 ? args._.map((f) => path.resolve(f)) : ["02-lora", "07-qlora-nf4"].map((n) => path.join(ROOT, "solutions", "week03", `${n}.ipynb`));
const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(0)} MiB`;

async function measure(file: string): Promise<string[]> {
  const nb = readNotebook(file);
  const code = nb.cells.filter((c) => c.cell_type === "code" && cellSource(c).trim() !== "");
  const kernel = await TslabKernel.start({ root: ROOT, cwd: path.dirname(file), limits: { memoryMiB: 16384 } });
  try {
    const settle = async () => {
      await sleep(args.settle * 1000);
      return kernel.memoryBytes();
    };
    const started = await settle();
    const first = await kernel.execute(cellSource(code[0]), 600_000);
    const imported = await settle();
    let failed = first.status === "ok" ? 0 : 1;
    const t0 = Date.now();
    for (const cell of code.slice(1)) {
      const r = await kernel.execute(cellSource(cell), 600_000);
      if (r.status !== "ok") failed++;
      process.stderr.write(".");
    }
    process.stderr.write("\n");
    const after = await settle();
    return [
      path.basename(file),
      mib(started),
      mib(imported),
      mib(after),
      `${((Date.now() - t0) / 1000).toFixed(0)} s${failed ? ` (${failed} cells failed)` : ""}`,
    ];
  } finally {
    await kernel.shutdown();
  }
}

async function main(): Promise<void> {
  const rows = [["notebook", "kernel started", "after the imports", "after every cell", "cells ran"]];
  for (const f of files) rows.push(await measure(f));
  const width = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(width[c])).join("  "));
}

runMain(main);
