/**
 * Feedback as a web page: an executed notebook exported to HTML with Jupyter's nbconvert (plotly figures
 * come through their text/html fallback, which embeds plotly.js), and a headless-Chromium screenshot of a
 * page (used by the tests to prove that a figure really renders).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { plotlyScriptTag } from "../plot/plotly";
import { escapeHtml } from "../util/html";
import type { GradeReport } from "./grade";
import { formatReport } from "./report";

/** The repository's project environment, made by scripts/setup.sh. */
const VENV_PYTHON = path.resolve(__dirname, "..", "..", ".venv", "bin", "python");

/** A Python that has Jupyter's nbconvert (same order as scripts/setup.sh: COURSEKIT_PYTHON, .venv, the system), or undefined. */
export function findJupyterPython(): string | undefined {
  const candidates = [process.env.COURSEKIT_PYTHON, VENV_PYTHON, "python3", "/usr/bin/python3"];
  return candidates.find((py) => {
    if (!py) return false;
    try {
      execFileSync(py, ["-c", "import jupyter_client, jupyter_core, nbconvert, nbclient"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Exports an (executed) notebook to HTML next to it; returns the HTML file's path. The page works offline:
 * plotly.js goes into it once when it has figures (notebooks never carry it). With a grading report, the
 * page opens with the score and the test lines.
 */
export function exportHtml(notebookFile: string, outDir = path.dirname(notebookFile), opts: { report?: GradeReport } = {}): string {
  const py = findJupyterPython();
  if (!py) throw new Error("Jupyter's nbconvert was not found: run npm run setup (or set COURSEKIT_PYTHON to a Python that has it)");
  execFileSync(py, ["-m", "nbconvert", "--to", "html", "--output-dir", outDir, notebookFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: "1" },
  });
  const htmlFile = path.join(outDir, `${path.basename(notebookFile, ".ipynb")}.html`);
  let html = fs.readFileSync(htmlFile, "utf8");
  if (html.includes("coursekit-plot-") && !html.includes("plotly.js v")) html = insertAfter(html, /<head(\s[^>]*)?>/i, plotlyScriptTag());
  if (opts.report) html = insertAfter(html, /<body(\s[^>]*)?>/i, scoreBanner(opts.report), html.search(/<\/head>/i));
  fs.writeFileSync(htmlFile, html);
  return htmlFile;
}

/** Inserts `snippet` right after the first `tag` at or after `from` (scripts in <head> may mention tags). */
function insertAfter(html: string, tag: RegExp, snippet: string, from = 0): string {
  const m = tag.exec(html.slice(Math.max(0, from)));
  if (!m) throw new Error(`the HTML export has no ${tag.source} tag`);
  const at = Math.max(0, from) + m.index + m[0].length;
  return html.slice(0, at) + snippet + html.slice(at);
}

/** The score total and the report's lines, at the top of a graded notebook's page. */
function scoreBanner(report: GradeReport): string {
  return (
    `<section id="coursekit-score" style="font-family:sans-serif;margin:16px auto;max-width:1100px;padding:12px 16px;border:2px solid #1f77b4;border-radius:6px;background:#f4f8fc">` +
    `<h1 style="margin:0 0 8px 0;font-size:24px">Score: ${report.score} / ${report.max_score} points</h1>` +
    `<pre style="margin:0;white-space:pre-wrap">${escapeHtml(formatReport(report))}</pre></section>`
  );
}

/** The Chromium (or Chrome) binary on PATH, or undefined. */
export function findChromium(): string | undefined {
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    try {
      return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim() || undefined;
    } catch {
      /* not this one */
    }
  }
  return undefined;
}

/** Renders a local HTML file in headless Chromium and writes a PNG screenshot (the flags a machine without network needs). */
export function screenshotHtml(htmlFile: string, pngFile: string, size = { width: 1200, height: 2400 }, timeoutMs = 120000): void {
  const chromium = findChromium();
  if (!chromium) throw new Error("Chromium was not found: on Debian/Ubuntu install it with apt-get install chromium");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-chromium-"));
  try {
    execFileSync(
      chromium,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        `--user-data-dir=${profile}`,
        `--window-size=${size.width},${size.height}`,
        "--virtual-time-budget=10000",
        `--screenshot=${path.resolve(pngFile)}`,
        `file://${path.resolve(htmlFile)}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs },
    );
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
