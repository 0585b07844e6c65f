/**
 * npm run checkpoint-hash -- ID ANSWER
 * Prints the hash a checkpoint cell stores for its expected answer (lib/notebook/checkpoint.ts).
 * A numeric ANSWER is hashed as a number (3 significant digits); anything else as text.
 */
import { checkpointHash, normalizeAnswer } from "../lib/notebook/checkpoint";

const [id, raw] = process.argv.slice(2);
if (!id || raw === undefined) {
  console.error("usage: npm run checkpoint-hash -- ID ANSWER   (e.g. npm run checkpoint-hash -- lora-768 12288)");
  process.exit(2);
}
const answer = raw.trim() !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
console.log(`${checkpointHash(id, answer)}   (${id}: ${JSON.stringify(normalizeAnswer(answer))})`);
