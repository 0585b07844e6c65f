/**
 * Feedback as a web page: an executed notebook exported to HTML with Jupyter's nbconvert (plotly figures
 * come through their text/html fallback, which embeds plotly.js), and a headless-Chromium screenshot of a
 * page (used by the tests to prove that a figure really renders).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** A Python that has Jupyter's nbconvert (same order as scripts/setup.sh), or undefined. */
export function findJupyterPython(): string | undefined {
  const candidates = [process.env.COURSEKIT_PYTHON, "python3", "/usr/bin/python3"];
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

/** Exports an (executed) notebook to HTML next to it; returns the HTML file's path. */
export function exportHtml(notebookFile: string, outDir = path.dirname(notebookFile)): string {
  const py = findJupyterPython();
  if (!py) throw new Error("Jupyter's nbconvert was not found: run npm run setup (or set COURSEKIT_PYTHON to a Python that has it)");
  execFileSync(py, ["-m", "nbconvert", "--to", "html", "--output-dir", outDir, notebookFile], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: "1" },
  });
  return path.join(outDir, `${path.basename(notebookFile, ".ipynb")}.html`);
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

/** Renders a local HTML file in headless Chromium and writes a PNG screenshot (flags: shared/platform.md). */
export function screenshotHtml(htmlFile: string, pngFile: string, size = { width: 1200, height: 2400 }, timeoutMs = 120000): void {
  const chromium = findChromium();
  if (!chromium) throw new Error("Chromium was not found: on Debian/Ubuntu install it with apt-get install chromium");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-chromium-"));
  try {
    execFileSync(chromium, [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--hide-scrollbars", `--user-data-dir=${profile}`,
      `--window-size=${size.width},${size.height}`, "--virtual-time-budget=10000",
      `--screenshot=${path.resolve(pngFile)}`, `file://${path.resolve(htmlFile)}`,
    ], { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
