// A student's session in JupyterLab, in a real browser: JupyterLab from the project environment (.venv,
// made by npm run setup) serves a copy of notebooks/week03/02-lora.ipynb; Playwright (playwright-core)
// drives Debian's Chromium through the menus a student uses: Run > Run All Cells, then an exercise typed
// into the editor, its test cell run, Ctrl-S, and `npm run grade` on the saved file from its own folder.
//
// Checked on the rendered page: maths typeset by MathJax, every plotly figure drawn by JupyterLab's plotly
// renderer (one .js-plotly-plot per figure output of the saved file), the tables as HTML tables, the
// progress bar at its last step; the saved notebook under 1 MB; the graded feedback copy, which is not
// trusted, still shows its figures. Screenshots go to out/test-artifacts/ (ignored by git).
//
// Needs .venv (npm run setup) and Chromium (apt-get install chromium): skipped without them, except under
// CI, where they are a failure.
import { strict as assert } from "node:assert";
import { execFile, spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Browser, Page } from "playwright-core";
import { findChromium } from "../../lib/grader/html-export";
import { freePorts } from "../../lib/grader/kernel-client";
import { cellSource, readNotebook } from "../../lib/notebook/ipynb";
import { PLOTLY_MIME } from "../../lib/plot/plotly";

const ROOT = path.resolve(__dirname, "..", "..");
const VENV_PYTHON = path.join(ROOT, ".venv", "bin", "python");
const NOTEBOOK = "02-lora.ipynb";
const ARTIFACTS = path.join(ROOT, "out", "test-artifacts");
const IN_CI = !!process.env.CI && process.env.CI !== "false";
const TOKEN = `coursekit-${process.pid}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hasJupyterLab(): boolean {
  try {
    require("node:child_process").execFileSync(VENV_PYTHON, ["-c", "import jupyterlab"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The exercise's solution as the instructor wrote it (markers are comments: the code runs as is). */
function solutionOf(gradeId: string): string {
  const nb = readNotebook(path.join(ROOT, "solutions", "week03", NOTEBOOK));
  const cell = nb.cells.find((c) => (c.metadata.nbgrader as { grade_id?: string } | undefined)?.grade_id === gradeId);
  assert.ok(cell, `no cell ${gradeId} in the solutions`);
  return cellSource(cell);
}

describe("JupyterLab in Chromium: a student runs 02-lora, solves an exercise, saves, grades", function () {
  this.timeout(15 * 60_000);
  let tmp: string;
  let folder: string;
  let server: ChildProcess | undefined;
  let serverLog = "";
  let browser: Browser | undefined;
  let page: Page;
  let base: string;

  const shot = async (name: string) => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `jupyterlab-${name}.png`), fullPage: false });
  };

  before(async function () {
    const chromium = findChromium();
    const missing = !hasJupyterLab()
      ? `JupyterLab is not installed in ${VENV_PYTHON}; run \`npm run setup\``
      : !chromium
        ? "Chromium is not installed (apt-get install chromium)"
        : "";
    if (missing) {
      if (IN_CI) throw new Error(`${missing} (CI must run this test)`);
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-lab-"));
    folder = path.join(tmp, "week03");
    fs.mkdirSync(folder);
    fs.copyFileSync(path.join(ROOT, "notebooks", "week03", NOTEBOOK), path.join(folder, NOTEBOOK));
    // A fresh JupyterLab profile: no news pop-up, and every cell attached to the page (JupyterLab 4 otherwise
    // renders only the cells in view, which would hide figures from the count).
    const settings = path.join(tmp, "lab-settings");
    const setting = (ext: string, name: string, value: object) => {
      fs.mkdirSync(path.join(settings, ext), { recursive: true });
      fs.writeFileSync(path.join(settings, ext, `${name}.jupyterlab-settings`), JSON.stringify(value));
    };
    setting("@jupyterlab/apputils-extension", "notification", { fetchNews: "false", checkForUpdates: false });
    setting("@jupyterlab/notebook-extension", "tracker", { windowingMode: "none" });

    const [port] = await freePorts(1);
    base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      JUPYTER_PREFER_ENV_PATH: "1",
      JUPYTER_CONFIG_DIR: path.join(tmp, "config"),
      JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
      PYDEVD_DISABLE_FILE_VALIDATION: "1",
    };
    const args = [
      "-m",
      "jupyterlab",
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      `--IdentityProvider.token=${TOKEN}`,
      `--ServerApp.root_dir=${tmp}`,
      `--LabApp.user_settings_dir=${settings}`,
      `--LabApp.workspaces_dir=${path.join(tmp, "workspaces")}`,
      "--LabApp.expose_app_in_browser=True",
    ];
    if (process.getuid?.() === 0) args.push("--allow-root");
    server = spawn(VENV_PYTHON, args, { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    server.stdout!.on("data", (d) => (serverLog += d));
    server.stderr!.on("data", (d) => (serverLog += d));
    for (let i = 0; i < 240; i++) {
      try {
        if ((await fetch(`${base}/api/status?token=${TOKEN}`)).ok) break;
      } catch {
        /* not listening yet */
      }
      assert.equal(server.exitCode, null, `JupyterLab exited:\n${serverLog}`);
      await sleep(250);
    }
    const { chromium: pw } = await import("playwright-core");
    browser = await pw.launch({
      executablePath: chromium,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  });

  after(async function () {
    await browser?.close().catch(() => undefined);
    if (server?.pid && server.exitCode === null) {
      try {
        process.kill(-server.pid, "SIGTERM");
      } catch {
        /* gone */
      }
      for (let i = 0; i < 40 && server.exitCode === null; i++) await sleep(250);
      if (server.exitCode === null) process.kill(-server.pid, "SIGKILL");
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The kernel's status as JupyterLab shows it ("idle", "busy", …). */
  const kernelStatus = () =>
    page.evaluate(() => {
      const app = (
        globalThis as unknown as { jupyterapp?: { shell: { currentWidget: { sessionContext?: { session?: { kernel?: { status: string } } } } | null } } }
      ).jupyterapp;
      return app?.shell.currentWidget?.sessionContext?.session?.kernel?.status ?? "none";
    });

  /** Waits until no cell shows [*] and the kernel is idle (twice in a row, a second apart). */
  const waitForRun = async (timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    while (quiet < 2) {
      assert.ok(Date.now() < deadline, "the notebook did not finish running in time");
      await sleep(1000);
      const running = await page.locator(".jp-InputPrompt", { hasText: "[*]" }).count();
      quiet = running === 0 && (await kernelStatus()) === "idle" ? quiet + 1 : 0;
    }
  };

  const clickMenu = async (menu: string, item: string) => {
    await page.locator(".lm-MenuBar-itemLabel", { hasText: new RegExp(`^${menu}$`) }).click();
    await page
      .locator(".lm-Menu-itemLabel", { hasText: new RegExp(`^${item}$`) })
      .first()
      .click();
  };

  it("Run > Run All Cells: maths, every plotly figure, HTML tables and the progress bar render", async function () {
    await page.goto(`${base}/lab/tree/week03/${NOTEBOOK}?token=${TOKEN}`);
    await page.locator(".jp-Notebook .jp-Cell").first().waitFor({ timeout: 120_000 });
    for (let i = 0; i < 240 && (await kernelStatus()) !== "idle"; i++) await sleep(500);
    assert.equal(await kernelStatus(), "idle", `the course kernel did not start:\n${serverLog.slice(-3000)}`);
    const kernelName = await page.locator(".jp-KernelName, .jp-Toolbar-kernelName").first().textContent();
    assert.match(kernelName ?? "", /TypeScript \(PEFT course\)/);

    const started = Date.now();
    await clickMenu("Run", "Run All Cells");
    await waitForRun(8 * 60_000);
    console.log(`      (Run All Cells: ${((Date.now() - started) / 1000).toFixed(0)} s)`);
    await shot("run-all");

    const stderr = await page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').allTextContents();
    // the student version's exercises are stubs: their test cells fail, nothing else may write errors
    const unexpected = stderr.filter((t) => !/Not implemented/.test(t));
    assert.deepEqual(unexpected, [], "cells wrote errors other than the exercises' stubs");

    const maths = await page.locator(".jp-RenderedMarkdown mjx-container").count();
    assert.ok(maths > 5, `MathJax typeset the lecture's maths (${maths} formulas)`);
    const plots = await page.locator(".jp-OutputArea .js-plotly-plot").count();
    if (plots > 0) {
      await page.locator(".jp-OutputArea .js-plotly-plot").first().scrollIntoViewIfNeeded();
      await shot("figure");
    }
    const tables = await page.locator(".jp-RenderedHTMLCommon table.dataframe").count();
    const progress = await page.locator(".jp-OutputArea-output", { hasText: /train \d+\/\d+/ }).allTextContents();
    assert.ok(progress.length >= 1, "the training cell shows a progress bar");
    const [, done, total] = /train (\d+)\/(\d+)/.exec(progress[0]) ?? [];
    assert.equal(done, total, `the progress bar reached its last step (${progress[0].slice(0, 120)})`);

    // Save, then count the figure outputs in the file the student now has.
    await page.keyboard.press("Control+s");
    await sleep(2000);
    const saved = readNotebook(path.join(folder, NOTEBOOK));
    const figureOutputs = saved.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data && PLOTLY_MIME in o.data).length;
    const tableOutputs = saved.cells
      .flatMap((c) => c.outputs ?? [])
      .filter((o) => /<table class="dataframe"/.test(String([o.data?.["text/html"] ?? ""].flat().join("")))).length;
    assert.ok(figureOutputs >= 3, `02-lora shows its figures (${figureOutputs} figure outputs)`);
    assert.equal(plots, figureOutputs, "every figure output was drawn by JupyterLab's plotly renderer");
    assert.ok(tableOutputs >= 1, "02-lora shows tables");
    assert.equal(tables, tableOutputs, "every table output is an HTML table on the page");
    const bytes = fs.statSync(path.join(folder, NOTEBOOK)).size;
    console.log(`      (${maths} formulas, ${plots} figures, ${tables} tables; saved notebook ${(bytes / 1024).toFixed(0)} KiB)`);
    assert.ok(bytes < 1 << 20, `a saved 02-lora after Run All is under 1 MB (${bytes} bytes)`);
  });

  it("an exercise typed into the editor passes its test cell (✔), is saved, and npm run grade scores it", async function () {
    const cells = page.locator(".jp-Notebook .jp-Cell");
    const index = await cells.evaluateAll((els) => els.findIndex((el) => (el.textContent ?? "").includes("function loraDelta(")));
    assert.ok(index >= 0, "the lora-delta exercise cell is on the page");
    const exercise = cells.nth(index);
    await exercise.locator(".cm-content").click();
    await page.keyboard.press("Control+a");
    await page.keyboard.press("Delete");
    // insertText types the text as one input (no auto-closed brackets or auto-indent on the way)
    await page.keyboard.insertText(solutionOf("lora-delta"));
    await page.keyboard.press("Shift+Enter"); // runs the exercise, moves to its test cell
    await waitForRun(60_000);
    await page.keyboard.press("Shift+Enter"); // runs the test cell
    await waitForRun(120_000);
    const test = cells.nth(index + 1);
    const verdict = (await test.locator(".jp-OutputArea").textContent()) ?? "";
    await test.scrollIntoViewIfNeeded();
    await shot("exercise-passed");
    assert.match(verdict, /✔/, `the test cell shows ✔:\n${verdict.slice(0, 600)}`);

    const before = fs.statSync(path.join(folder, NOTEBOOK)).mtimeMs;
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+s");
    for (let i = 0; i < 40 && fs.statSync(path.join(folder, NOTEBOOK)).mtimeMs === before; i++) await sleep(250);
    const saved = readNotebook(path.join(folder, NOTEBOOK));
    assert.ok(
      saved.cells.some((c) => cellSource(c).includes("tf.matMul(tf.matMul(x, A, false, true)")),
      "the typed solution is in the saved file",
    );

    // The student grades the file from its own folder, with a path relative to it.
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        "npm",
        ["--prefix", ROOT, "run", "--silent", "grade", "--", NOTEBOOK, "--quiet"],
        { cwd: folder, timeout: 600_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => (err ? reject(new Error(`npm run grade failed: ${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout + stderr)),
      ),
    );
    assert.match(out, /lora-delta-hand\s+2\/2\s+passed/, out);
    assert.match(out, /lora-delta-layer\s+2\/2\s+passed/, out);
    assert.match(out, /feedback: 02-lora\.feedback\//, `the feedback folder is shown relative to where the student is:\n${out}`);
  });

  it("the graded feedback copy (not trusted) still shows every figure in JupyterLab", async function () {
    const copy = readNotebook(path.join(folder, "02-lora.feedback", NOTEBOOK));
    const figureOutputs = copy.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data && PLOTLY_MIME in o.data).length;
    assert.ok(figureOutputs >= 3, `the feedback copy has its figure outputs (${figureOutputs})`);
    await page.goto(`${base}/lab/tree/week03/02-lora.feedback/${NOTEBOOK}?token=${TOKEN}`);
    await page.locator(".jp-Notebook .jp-Cell").first().waitFor({ timeout: 60_000 });
    let plots = 0;
    for (let i = 0; i < 60 && plots < figureOutputs; i++) {
      await sleep(500);
      plots = await page.locator(".jp-OutputArea .js-plotly-plot").count();
    }
    await shot("feedback-copy");
    assert.equal(plots, figureOutputs, "JupyterLab's plotly renderer draws the figures of an untrusted notebook");
  });
});
