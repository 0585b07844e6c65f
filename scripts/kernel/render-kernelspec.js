#!/usr/bin/env node
// Renders scripts/kernel/kernel.json.template into <out-dir>/kernel.json for this checkout.
// Used by scripts/setup.sh (then `jupyter kernelspec install <out-dir> --user --name peft-course`)
// and by test/kernel.test.ts (which points JUPYTER_PATH at a temporary copy).
//
// usage: node scripts/kernel/render-kernelspec.js <out-dir> [--bash /abs/bash] [--node /abs/node]
"use strict";
const fs = require("node:fs");
const path = require("node:path");

function usage(msg) {
  if (msg) console.error(`render-kernelspec: ${msg}`);
  console.error("usage: node scripts/kernel/render-kernelspec.js <out-dir> [--bash PATH] [--node PATH]");
  process.exit(2);
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

const args = process.argv.slice(2);
let outDir = null;
let bash = null;
let node = process.execPath;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--bash") bash = args[++i];
  else if (a === "--node") node = args[++i];
  else if (a.startsWith("-")) usage(`unknown option ${a}`);
  else if (outDir === null) outDir = a;
  else usage("too many arguments");
}
if (!outDir) usage("missing <out-dir>");

const root = path.resolve(__dirname, "..", "..");
const launcher = path.join(root, "scripts", "kernel", "launch.sh");
bash = bash || findOnPath("bash") || "/bin/bash";
for (const [what, p] of [["bash", bash], ["node", node], ["launcher", launcher]]) {
  if (!path.isAbsolute(p) || !fs.existsSync(p)) usage(`${what} not found at an absolute path: ${p}`);
}

const values = { "@BASH@": bash, "@LAUNCHER@": launcher, "@ROOT@": root, "@NODE@": node };
const template = JSON.parse(fs.readFileSync(path.join(__dirname, "kernel.json.template"), "utf8"));
// Substitute inside parsed strings, so paths with quotes or backslashes stay valid JSON.
const fill = (v) =>
  typeof v === "string"
    ? v.replace(/@[A-Z]+@/g, (k) => (k in values ? values[k] : k))
    : Array.isArray(v)
      ? v.map(fill)
      : v && typeof v === "object"
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)]))
        : v;
const spec = fill(template);

fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, "kernel.json"), JSON.stringify(spec, null, 2) + "\n");
console.log(path.join(outDir, "kernel.json"));
