/**
 * Writing the release (npm run release): the student version of each source notebook into notebooks/,
 * without ever losing someone's work. What the last release wrote is recorded in notebooks/.release.json
 * (sha-256 per file); a student version that differs from it (a student's work saved over it, a hand
 * edit) is not overwritten unless `force`, and then it is kept first as <file>.<date>.bak.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { readNotebook, serializeNotebook } from "../notebook/ipynb";
import { writeFileAtomic } from "../util/files";
import { releaseNotebook } from "./release";
import { RELEASE_DIR, releasePathFor } from "./verify";

export const RELEASE_MANIFEST = ".release.json";

export interface ReleaseRun {
  /** One line per file: created / updated / unchanged / backed up. */
  lines: string[];
  /** Student versions not overwritten because they changed since the last release. */
  refused: string[];
  /** Sources that could not be released, with the reason. */
  errors: string[];
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

function readManifest(file: string): Record<string, string> {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
  } catch {
    return {};
  }
}

export function releaseFiles(root: string, sources: string[], opts: { force?: boolean; now?: Date } = {}): ReleaseRun {
  const manifestFile = path.join(root, RELEASE_DIR, RELEASE_MANIFEST);
  const manifest = readManifest(manifestFile);
  const run: ReleaseRun = { lines: [], refused: [], errors: [] };
  for (const file of sources) {
    const rel = path.relative(root, file);
    try {
      const target = releasePathFor(root, file);
      const key = path.relative(path.join(root, RELEASE_DIR), target).split(path.sep).join("/");
      const text = serializeNotebook(releaseNotebook(readNotebook(file)));
      const before = fs.existsSync(target) ? fs.readFileSync(target, "utf8") : null;
      if (before !== null && before !== text && manifest[key] !== sha256(before)) {
        if (!opts.force) {
          run.refused.push(target);
          continue;
        }
        const backup = `${target}.${(opts.now ?? new Date()).toISOString().replace(/[:.]/g, "-")}.bak`;
        fs.copyFileSync(target, backup);
        run.lines.push(`backed up  ${path.relative(root, target)} → ${path.relative(root, backup)}`);
      }
      if (before !== text) writeFileAtomic(target, text);
      manifest[key] = sha256(text);
      run.lines.push(`${before === null ? "created  " : before === text ? "unchanged" : "updated  "}  ${path.relative(root, target)}  (from ${rel})`);
    } catch (e) {
      run.errors.push(`${rel}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  writeFileAtomic(manifestFile, `${JSON.stringify(Object.fromEntries(Object.entries(manifest).sort()), null, 1)}\n`);
  return run;
}
