/**
 * The reference: the source notebook (the solution) run in its own kernel with the grading seed. Instructor
 * mode compares every submission's observations with it; verify-solutions checks that it passes its own tests.
 * Computed once per source, seed and sandbox in a grading process (a batch shares it).
 */
import { createHash } from "node:crypto";
import { CheckRecord, RESULT_MIME } from "../notebook/grading";
import { OBSERVATIONS_MIME, ObservationRecord } from "../notebook/observe";
import { cloneNotebook, NbCell, Notebook, serializeNotebook } from "../notebook/ipynb";
import { gradeIdOf, isGraded, notebookBudgetS } from "./cells";
import type { KernelLimits } from "./kernel-client";
import { asObservationRecord } from "./observations";
import { CellRun, runNotebookCells } from "./run-notebook";
import { isCheckRecord, recordsIn } from "./records";

export interface ReferenceOptions {
  root: string;
  /** The source's folder (the kernel's working directory). */
  cwd: string;
  seed: number;
  sandbox: boolean;
  onCell?: (run: CellRun, cell: NbCell) => void;
  timeoutMsFor?: (cell: NbCell) => number;
  /** Multiplies every cell's time limit and the notebook's budget (a slow machine; default 1). */
  timeScale?: number;
  interruptGraceMs?: number;
  limits?: Partial<KernelLimits>;
}

/** The solution's run of its own tests for one seed: what every submission's observations are compared with. */
export interface Reference {
  seed: number;
  /** The observation record of each test, by grade_id. */
  records: Map<string, ObservationRecord>;
  /** The verdict each test's own assertions gave on the solution (verify-solutions wants them all passed). */
  verdicts: Map<string, CheckRecord>;
  runs: CellRun[];
  warnings: string[];
  /** The executed source. */
  notebook: Notebook;
}

const references = new Map<string, Promise<Reference>>();

/** Runs the source notebook in a fresh kernel (once per source, seed and sandbox in a grading process). */
export function referenceFor(source: Notebook, opts: ReferenceOptions): Promise<Reference> {
  const key = createHash("sha256")
    .update(serializeNotebook(source))
    .update(`\0${opts.seed}\0${opts.sandbox}\0${opts.timeScale ?? 1}`)
    .digest("hex");
  let ref = references.get(key);
  if (!ref) {
    ref = (async () => {
      const nb = cloneNotebook(source);
      const { runs, warnings } = await runNotebookCells(nb, {
        root: opts.root,
        cwd: opts.cwd,
        budgetMs: notebookBudgetS(nb) * 1000,
        onCell: opts.onCell,
        timeoutMsFor: opts.timeoutMsFor,
        timeScale: opts.timeScale,
        interruptGraceMs: opts.interruptGraceMs,
        sandbox: opts.sandbox,
        env: { COURSEKIT_GRADING_SEED: String(opts.seed) },
        limits: opts.limits,
      });
      const records = new Map<string, ObservationRecord>();
      const verdicts = new Map<string, CheckRecord>();
      for (const cell of nb.cells.filter(isGraded)) {
        const id = gradeIdOf(cell) as string;
        const rec = recordsIn<unknown>(cell.outputs, OBSERVATIONS_MIME)
          .map(asObservationRecord)
          .find((r) => r?.grade_id === id);
        if (rec) records.set(id, rec);
        const verdict = recordsIn<unknown>(cell.outputs, RESULT_MIME).find((r): r is CheckRecord => isCheckRecord(r) && r.grade_id === id);
        if (verdict) verdicts.set(id, verdict);
      }
      return { seed: opts.seed, records, verdicts, runs, warnings, notebook: nb };
    })();
    references.set(key, ref);
    ref.catch(() => references.delete(key));
  }
  return ref;
}
