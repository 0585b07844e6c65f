/**
 * npm run checkpoint-hash -- ID ANSWER [--tolerance T]
 * Prints the hash a checkpoint cell stores for its expected answer (lib/notebook/checkpoint.ts).
 * A numeric ANSWER is hashed as a number (3 significant digits, or within ±T with --tolerance: the cell then
 * passes `{ tolerance: T }` to checkpoint()); anything else as text.
 */
import { checkpointHash, normalizeAnswer } from "../lib/notebook/checkpoint";
import { parseArgs } from "../lib/util/args";

const args = parseArgs(
  process.argv.slice(2),
  { tolerance: { type: "number", default: 0, min: 0, help: "accept numeric answers within ± this (absolute); 0: the default comparison" } },
  { positionals: { max: 2, name: "words (ID ANSWER)" }, command: "npm run checkpoint-hash --" },
);
const [id, raw] = args._;
if (!id || raw === undefined) {
  console.error("usage: npm run checkpoint-hash -- ID ANSWER [--tolerance T]   (e.g. npm run checkpoint-hash -- lora-768 12288)");
  process.exit(2);
}
const answer = raw.trim() !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
const tolerance = args.tolerance > 0 ? args.tolerance : undefined;
try {
  const hash = checkpointHash(id, answer, { tolerance });
  const how = tolerance === undefined ? JSON.stringify(normalizeAnswer(answer)) : `${answer} ± ${tolerance}: pass { tolerance: ${tolerance} } to checkpoint()`;
  console.log(`${hash}   (${id}: ${how})`);
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(2);
}
