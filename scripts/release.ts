/**
 * npm run release [-- FILES...] [--check]
 *   Writes the student version (notebooks/<path>) of every source notebook (solutions/<path>): solutions
 *   replaced by stubs, hidden tests removed, outputs cleared, test and read-only cells locked.
 *   --check: write nothing; exit 1 if any student version is missing or out of date.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { releaseNotebook } from "../lib/grader/release";
import { findNotebooks, releaseDiffers, releasePathFor, SOURCES_DIR } from "../lib/grader/verify";
import { readNotebook, serializeNotebook } from "../lib/notebook/ipynb";
import { parseArgs } from "../lib/util/args";

const ROOT = path.resolve(__dirname, "..");
const args = parseArgs(process.argv.slice(2), {
  check: { type: "boolean", default: false, help: "only check that the student versions are up to date" },
});

function main(): number {
  const files = args._.length > 0 ? args._.flatMap((p) => findNotebooks(path.resolve(p))) : findNotebooks(path.join(ROOT, SOURCES_DIR));
  let failed = 0;
  for (const file of files) {
    const rel = path.relative(ROOT, file);
    try {
      if (args.check) {
        const differs = releaseDiffers(ROOT, file);
        console.log(`${differs ? "OUT OF DATE" : "up to date"}  ${differs ?? rel}`);
        if (differs) failed += 1;
        continue;
      }
      const target = releasePathFor(ROOT, file);
      const text = serializeNotebook(releaseNotebook(readNotebook(file)));
      const before = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : null;
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if (before !== text) fs.writeFileSync(target, text);
      console.log(`${before === null ? "created  " : before === text ? "unchanged" : "updated  "}  ${path.relative(ROOT, target)}  (from ${rel})`);
    } catch (e) {
      failed += 1;
      console.error(`${rel}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

process.exit(main());
