/**
 * npm run release [-- FILES...] [--check] [--force]
 *   Writes the student version (notebooks/<path>) of every source notebook (solutions/<path>): solutions
 *   replaced by stubs, hidden tests removed, outputs cleared, test and read-only cells locked.
 *   --check: write nothing; exit 1 if any student version is missing or out of date.
 *   A student version that was changed since the last release (a student's work saved over it, say) is never
 *   overwritten: the release says which files and stops. --force overwrites them, each kept first as
 *   <file>.<date>.bak. What the last release wrote is recorded in notebooks/.release.json (sha-256 per file).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { releaseFiles } from "../lib/grader/release-files";
import { findNotebooks, releaseDiffers, SOURCES_DIR } from "../lib/grader/verify";
import { parseArgs, runMain, UsageError } from "../lib/util/args";

const ROOT = path.resolve(__dirname, "..");
const args = parseArgs(
  process.argv.slice(2),
  {
    check: { type: "boolean", default: false, help: "only check that the student versions are up to date" },
    force: { type: "boolean", default: false, help: "overwrite student versions changed since the last release (each is backed up first)" },
  },
  { positionals: { max: Infinity, name: "source notebooks or folders" } },
);

/** The source notebooks a command-line path names: a typo, or a path outside solutions/, is a usage error. */
function sourcesIn(given: string): string[] {
  const abs = path.resolve(given);
  if (!fs.existsSync(abs)) throw new UsageError(`${given} does not exist`);
  const rel = path.relative(path.join(ROOT, SOURCES_DIR), abs);
  if (rel.startsWith("..") || path.isAbsolute(rel))
    throw new UsageError(`${given} is not under ${SOURCES_DIR}/ (the release is made from the instructor's sources)`);
  const found = findNotebooks(abs);
  if (found.length === 0) throw new UsageError(`no notebooks (.ipynb) in ${given}`);
  return found;
}

function main(): number {
  const files = args._.length > 0 ? args._.flatMap(sourcesIn) : findNotebooks(path.join(ROOT, SOURCES_DIR));
  if (args.check) {
    let outOfDate = 0;
    for (const file of files) {
      const differs = releaseDiffers(ROOT, file);
      console.log(`${differs ? "OUT OF DATE" : "up to date"}  ${differs ?? path.relative(ROOT, file)}`);
      if (differs) outOfDate += 1;
    }
    return outOfDate === 0 ? 0 : 1;
  }
  const run = releaseFiles(ROOT, files, { force: args.force });
  for (const line of run.lines) console.log(line);
  for (const error of run.errors) console.error(error);
  if (run.refused.length > 0) {
    console.error(
      `release: not overwritten, changed since the last release (someone's work?):\n  ${run.refused.map((f) => path.relative(process.cwd(), f)).join("\n  ")}\nMove them away, or run again with --force (each is kept as <file>.<date>.bak first).`,
    );
    return 1;
  }
  return run.errors.length === 0 ? 0 : 1;
}

runMain(main);
