/**
 * npm run release [-- FILES...] [--check]
 *   Writes the student version (notebooks/<path>) of every source notebook (solutions/<path>): solutions
 *   replaced by stubs, hidden tests removed, outputs cleared, test and read-only cells locked.
 *   --check: write nothing; exit 1 if any student version is missing or out of date.
 *   A student version that was changed since the last release (a student's work saved over it, say) is never
 *   overwritten: the release says which files and stops. --force overwrites them, each kept first as
 *   <file>.<date>.bak. What the last release wrote is recorded in notebooks/.release.json (sha-256 per file).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { releaseNotebook } from "../lib/grader/release";
import { writeFileAtomic } from "../lib/grader/grade";
import { findNotebooks, RELEASE_DIR, releaseDiffers, releasePathFor, SOURCES_DIR } from "../lib/grader/verify";
import { readNotebook, serializeNotebook } from "../lib/notebook/ipynb";
import { parseArgs } from "../lib/util/args";

const ROOT = path.resolve(__dirname, "..");
const args = parseArgs(process.argv.slice(2), {
  check: { type: "boolean", default: false, help: "only check that the student versions are up to date" },
  force: { type: "boolean", default: false, help: "overwrite student versions changed since the last release (each is backed up first)" },
});

const MANIFEST = path.join(ROOT, RELEASE_DIR, ".release.json");
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

function readManifest(): Record<string, string> {
  try {
    return JSON.parse(fs.readFileSync(MANIFEST, "utf8")) as Record<string, string>;
  } catch {
    return {};
  }
}

function main(): number {
  const files = args._.length > 0 ? args._.flatMap((p) => findNotebooks(path.resolve(p))) : findNotebooks(path.join(ROOT, SOURCES_DIR));
  let failed = 0;
  const manifest = readManifest();
  const refused: string[] = [];
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
      const key = path.relative(path.join(ROOT, RELEASE_DIR), target).split(path.sep).join("/");
      const text = serializeNotebook(releaseNotebook(readNotebook(file)));
      const before = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : null;
      if (before !== null && before !== text && manifest[key] !== sha256(before)) {
        if (!args.force) {
          refused.push(path.relative(process.cwd(), target));
          continue;
        }
        const backup = `${target}.${new Date().toISOString().replace(/[:.]/g, "-")}.bak`;
        fs.copyFileSync(target, backup);
        console.log(`backed up ${path.relative(process.cwd(), target)} → ${path.relative(process.cwd(), backup)}`);
      }
      if (before !== text) writeFileAtomic(target, text);
      manifest[key] = sha256(text);
      console.log(`${before === null ? "created  " : before === text ? "unchanged" : "updated  "}  ${path.relative(ROOT, target)}  (from ${rel})`);
    } catch (e) {
      failed += 1;
      console.error(`${rel}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!args.check) writeFileAtomic(MANIFEST, `${JSON.stringify(Object.fromEntries(Object.entries(manifest).sort()), null, 1)}\n`);
  if (refused.length > 0) {
    console.error(`release: not overwritten, changed since the last release (someone's work?):\n  ${refused.join("\n  ")}\nMove them away, or run again with --force (each is kept as <file>.<date>.bak first).`);
    return 1;
  }
  return failed === 0 ? 0 : 1;
}

process.exit(main());
