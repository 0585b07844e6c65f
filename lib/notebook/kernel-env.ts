// Where am I running? Small helpers for notebooks run by the "TypeScript (PEFT course)" kernel
// (scripts/kernel/launch.sh) and for scripts/tests run with tsx.
//
// The kernel always runs from the repository root (tslab compiles only .ts files under its working
// directory), so notebooks import "./lib/..." and relative file paths resolve from the root.
// Compiles with tslab's bundled TypeScript 5.0 and with the project's strict tsc.
import * as fs from "fs";
import * as path from "path";

const PACKAGE_NAME = "peft-course-kit";

/** The course kernel's kernelspec name (scripts/kernel/, the notebooks' metadata.kernelspec.name). */
export const KERNEL_NAME = "peft-course";

function isRepoRoot(dir: string): boolean {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    return pkg && pkg.name === PACKAGE_NAME;
  } catch {
    return false;
  }
}

function searchUp(start: string): string | undefined {
  let dir = path.resolve(start);
  for (;;) {
    if (isRepoRoot(dir)) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Absolute path of the course repository (COURSEKIT_ROOT, else found from this file or the cwd). */
export function repoRoot(): string {
  const fromEnv = process.env.COURSEKIT_ROOT;
  if (fromEnv && isRepoRoot(fromEnv)) return path.resolve(fromEnv);
  const here = typeof __dirname === "string" ? searchUp(__dirname) : undefined;
  const found = here ?? searchUp(process.cwd());
  if (!found) throw new Error(`cannot find the ${PACKAGE_NAME} repository root (set COURSEKIT_ROOT)`);
  return found;
}

/** Path inside the repository: repoPath("datasets", "x.json"). */
export function repoPath(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}

/** True inside the course's Jupyter kernel (started by scripts/kernel/launch.sh). */
export function inCourseKernel(): boolean {
  return process.env.COURSEKIT_KERNEL === KERNEL_NAME;
}

/** The folder Jupyter started the kernel in (the notebook's folder), or undefined outside the kernel. */
export function notebookDir(): string | undefined {
  return inCourseKernel() ? process.env.COURSEKIT_NOTEBOOK_DIR : undefined;
}
