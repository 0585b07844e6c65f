/**
 * Runs a notebook's code cells in order through the real tslab kernel, as the grader needs it:
 *   - each cell has its time limit (metadata.coursekit.timeout_s, default 30 s) and the notebook a budget
 *     (metadata.coursekit.budget_s, default 600 s), both in CPU seconds of the kernel where Linux tells
 *     them (the same on a busy machine as on an idle one), with a wall-clock backstop; the kernel's start
 *     and the imports of the first cell are not counted against the budget;
 *   - after a cell that failed, wait 300 ms (tslab aborts every request for 200 ms after an error);
 *     a cell answered with "abort" did not run: it is retried (3 times, waiting longer each time), then
 *     reported as not run;
 *   - when the kernel dies or had to be killed, a new one is started and the cells that had run
 *     successfully (test cells excepted) are replayed, outputs discarded, so the cells after it can still run;
 *   - the whole notebook's output is bounded too (NOTEBOOK_OUTPUT_BYTES): once its cells have printed that
 *     much, each later cell may print only a little (enough for a test's verdict), so the feedback copy and
 *     the grader's memory stay bounded however many cells print to their limit.
 * The notebook's cells receive their outputs and execution counts (the executed copy for feedback).
 */
import { cellName, cellSource, NbCell, Notebook } from "../notebook/ipynb";
import { cellTimeoutS, gradeIdOf, isGraded } from "./cells";
import { DEFAULT_LIMITS, ExecuteStatus, KernelLimits, KernelStartError, LimitEnforcement, LimitHit, TslabKernel, wallBackstopMs } from "./kernel-client";
import { sleep } from "../util/async";

export type CellStatus = ExecuteStatus | "not_run";

export interface CellRun {
  /** Index in nb.cells. */
  index: number;
  /** "In [k]": how the student finds the cell (see cellName). */
  name: string;
  status: CellStatus;
  durationMs: number;
  /** Why a cell was not run (budget, kernel could not start). */
  reason?: string;
  /** The limit that stopped the cell (timeout) or killed the kernel (dead). */
  limit?: LimitHit;
  /** The time limit the cell ran under, in seconds (its timeout_s × the time scale, less when the budget was short). */
  limitS?: number;
  /** Set when what was left of the notebook's budget (this many seconds in all), not the cell's own limit, bounded it. */
  budgetS?: number;
  /** The cell printed more than its output limit. */
  truncated?: boolean;
}

export interface RunOptions {
  /** Repository root (the kernel launcher). */
  root: string;
  /** The notebook's folder (the kernel's working directory as Jupyter sets it). */
  cwd: string;
  /** The notebook's budget (metadata.coursekit.budget_s), before timeScale. */
  budgetMs: number;
  /**
   * Multiplies every cell's limit and the budget (default 1): for a machine much slower than the one the
   * limits were set on, e.g. a software GPU adapter (`npm run grade -- --time-scale 5`).
   */
  timeScale?: number;
  /** Override every cell's time limit (tests). */
  timeoutMsFor?: (cell: NbCell) => number;
  onCell?: (run: CellRun, cell: NbCell) => void;
  /** Passed to the kernel (tests shorten it). */
  interruptGraceMs?: number;
  /** Run no cell after this index (cells after the last test cannot change any verdict). */
  lastIndex?: number;
  /** Run the kernel in the sandbox (lib/grader/sandbox.ts). */
  sandbox?: boolean;
  /** Sandboxed kernels: the folder the kernel sees as lib/ (a verdict run's library; default the real one). */
  libDir?: string;
  /** Environment variables for the kernel (the grading seed). */
  env?: Record<string, string>;
  limits?: Partial<KernelLimits>;
}

export interface RunResult {
  runs: CellRun[];
  warnings: string[];
  durationMs: number;
  /** How the kernel's limits were held (undefined when no kernel started). */
  enforcement?: LimitEnforcement;
}

const ERROR_PAUSE_MS = 300;
/** Output a whole notebook's cells may print at their own limits (the feedback copy's bound). */
export const NOTEBOOK_OUTPUT_BYTES = 48 * 1024 * 1024;
/** What each cell may still print, text and displays each, once the notebook's output is used up. */
const SMALL_OUTPUT_BYTES = 256 * 1024;
const ABORT_RETRIES = 3;

/**
 * What a limit means, for messages. `budgetS`: the notebook's whole budget, when what was left of it (not the
 * cell's own limit) set the `seconds` the cell had.
 */
export function describeLimit(limit: LimitHit | undefined, seconds: number, budgetS?: number): string {
  const why = describeHit(limit, seconds);
  return budgetS === undefined || limit === "memory" || limit === "processes" ? why : `${why}, what was left of the notebook's ${budgetS} s time budget`;
}

function describeHit(limit: LimitHit | undefined, seconds: number): string {
  switch (limit) {
    case "cpu":
      return `it used more than ${seconds} s of CPU time`;
    case "wall":
      return `it did not finish within ${Math.round(wallBackstopMs(seconds * 1000) / 1000)} s of wall-clock time`;
    case "memory":
      return "the kernel went over its memory limit";
    case "processes":
      return "the kernel started more processes than allowed";
    default:
      return `it ran over its time limit (${seconds} s)`;
  }
}

function label(nb: Notebook, index: number): string {
  const id = gradeIdOf(nb.cells[index]);
  return `${cellName(nb, index)}${id ? ` (${id})` : ""}`;
}

export async function runNotebookCells(nb: Notebook, opts: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const warnings: string[] = [];
  const runs: CellRun[] = [];
  const scale = opts.timeScale ?? 1;
  if (!(scale > 0)) throw new RangeError(`timeScale must be a positive number, got ${scale}`);
  const timeoutFor = opts.timeoutMsFor ?? ((cell: NbCell) => cellTimeoutS(cell) * 1000 * scale);
  const budgetMs = opts.budgetMs * scale;
  const succeeded: number[] = [];
  let kernel: TslabKernel | null = null;
  let executionCount = 0;
  let enforcement: LimitEnforcement | undefined;
  const cellLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  let outputBytes = 0;
  /** A cell's output allowance: its own limits while the notebook's output lasts, a small one after. */
  const outputFor = () => {
    const left = Math.max(SMALL_OUTPUT_BYTES, NOTEBOOK_OUTPUT_BYTES - outputBytes);
    return { streamBytes: Math.min(cellLimits.streamBytes, left), displayBytes: Math.min(cellLimits.displayBytes, left) };
  };

  const startKernel = async (): Promise<TslabKernel | null> => {
    try {
      const k = await TslabKernel.start({
        root: opts.root,
        cwd: opts.cwd,
        interruptGraceMs: opts.interruptGraceMs,
        sandbox: opts.sandbox,
        libDir: opts.libDir,
        env: opts.env,
        limits: opts.limits,
      });
      enforcement ??= k.enforcement;
      return k;
    } catch (e) {
      warnings.push(`the kernel could not be started: ${e instanceof KernelStartError ? e.message : String(e)}`);
      return null;
    }
  };

  /** A fresh kernel with the state of every cell that had run successfully. */
  const restart = async (): Promise<TslabKernel | null> => {
    const k = await startKernel();
    if (!k) return null;
    for (const i of succeeded) {
      const r = await k.execute(cellSource(nb.cells[i]), timeoutFor(nb.cells[i]));
      if (r.status !== "ok") {
        warnings.push(`replaying ${label(nb, i)} after the restart ended with status ${r.status}`);
        if (!r.kernelAlive) return k;
        await sleep(ERROR_PAUSE_MS);
      }
    }
    return k;
  };

  // The budget: CPU seconds of the cells (wall-clock where CPU time is unknown), the first code cell
  // (imports, backend set-up) excepted; a wall-clock backstop for cells that wait without computing.
  let budgetUsedMs = 0;
  let budgetWallStart = 0;
  let firstCodeCell = true;
  const budgetLeft = () => Math.min(budgetMs - budgetUsedMs, budgetWallStart === 0 ? Infinity : wallBackstopMs(budgetMs) - (Date.now() - budgetWallStart));
  try {
    kernel = await startKernel();
    const end = Math.min(nb.cells.length - 1, opts.lastIndex ?? Infinity);
    for (let index = 0; index <= end; index++) {
      const cell = nb.cells[index];
      if (cell.cell_type !== "code") continue;
      cell.outputs = [];
      cell.execution_count = null;
      const code = cellSource(cell);
      if (code.trim() === "") continue;
      const name = cellName(nb, index);
      const report = (run: CellRun) => {
        runs.push(run);
        opts.onCell?.(run, cell);
      };
      if (!kernel) {
        report({ index, name, status: "not_run", durationMs: 0, reason: "no kernel" });
        continue;
      }
      if (budgetLeft() <= 0) {
        const reason = `the notebook's time budget (${Math.round(budgetMs / 1000)} s) was used up`;
        if (!runs.some((r) => r.reason === reason)) warnings.push(`${reason} before ${label(nb, index)}: it and the cells after it were not run`);
        report({ index, name, status: "not_run", durationMs: 0, reason });
        continue;
      }
      const counted = !firstCodeCell;
      firstCodeCell = false;
      // The limit this cell runs under, decided before it runs (the budget shrinks while it does).
      const limit = () => (counted ? Math.min(timeoutFor(cell), Math.max(1, budgetLeft())) : timeoutFor(cell));
      const output = outputFor();
      let limitMs = limit();
      let result = await kernel.execute(code, limitMs, { output });
      for (let retry = 1; result.status === "abort" && retry <= ABORT_RETRIES; retry++) {
        await sleep(ERROR_PAUSE_MS * 2 ** retry);
        limitMs = limit();
        result = await kernel.execute(code, limitMs, { output });
      }
      const limitS = Math.round(limitMs / 1000);
      const budgetS = limitMs < timeoutFor(cell) ? Math.round(budgetMs / 1000) : undefined;
      outputBytes += result.outputBytes ?? 0;
      if (counted) {
        if (budgetWallStart === 0) budgetWallStart = Date.now() - result.durationMs;
        budgetUsedMs += result.cpuS !== undefined ? result.cpuS * 1000 : result.durationMs;
      }
      cell.outputs = result.outputs;
      if (result.status === "ok" || result.status === "error") cell.execution_count = ++executionCount;
      const run: CellRun = { index, name, status: result.status === "abort" ? "not_run" : result.status, durationMs: result.durationMs };
      if (result.status === "abort") {
        run.reason = `the kernel aborted it ${ABORT_RETRIES + 1} times`;
        warnings.push(`${label(nb, index)} was not run: ${run.reason}`);
      }
      if (result.outputsIncomplete) warnings.push(`${label(nb, index)}: the kernel never signalled the end of its output, so some of it may be missing`);
      if (result.limit) run.limit = result.limit;
      if (result.status === "timeout") {
        run.limitS = limitS;
        if (budgetS !== undefined) run.budgetS = budgetS;
      }
      if (result.truncated) {
        run.truncated = true;
        const notebookFull = output.displayBytes < cellLimits.displayBytes;
        warnings.push(
          `${label(nb, index)} printed more output than allowed${notebookFull ? " (the notebook's cells had already printed all the output a notebook may)" : ""}: the rest was dropped`,
        );
      }
      report(run);
      if (result.status === "ok") {
        if (!isGraded(cell)) succeeded.push(index); // test cells define nothing later cells need: not replayed
        continue;
      }
      if (result.status === "timeout")
        warnings.push(
          `${label(nb, index)} ran over its time limit (${describeLimit(result.limit, limitS, budgetS)}) and was interrupted${result.kernelAlive ? "" : "; the kernel had to be restarted"}`,
        );
      if (result.status === "dead")
        warnings.push(`the kernel died while running ${label(nb, index)}${result.limit ? ` (${describeLimit(result.limit, 0)})` : ""}; it was restarted`);
      if (!result.kernelAlive) {
        await kernel.shutdown();
        kernel = await restart();
      } else {
        await sleep(ERROR_PAUSE_MS);
      }
    }
  } finally {
    if (kernel) await kernel.shutdown();
  }
  return { runs, warnings, durationMs: Date.now() - started, enforcement };
}
