// The course kernel ("TypeScript (PEFT course)", kernelspec peft-course), end to end:
// Jupyter starts scripts/kernel/launch.sh, which runs tslab from the repository root, and a notebook
// three folders down loads tfjs + wasm and imports ./lib/... (test/fixtures/notebooks/smoke.ipynb).
//
// Needs Jupyter (npm run setup installs it). Without it these tests are skipped, except under CI
// (CI=true), where a missing Jupyter is a failure.
import { strict as assert } from "node:assert";
import { execFile, execFileSync, spawn, ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findJupyterPython } from "../../lib/grader/html-export";
import { freePorts } from "../../lib/grader/kernel-client";

const ROOT = path.resolve(__dirname, "..", "..");
const KERNEL = "peft-course";
const LAUNCHER = path.join(ROOT, "scripts", "kernel", "launch.sh");
const SMOKE = path.join(ROOT, "test", "fixtures", "notebooks", "smoke.ipynb");
const IN_CI = !!process.env.CI && process.env.CI !== "false";

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  ename?: string;
  evalue?: string;
}
interface Cell {
  cell_type: string;
  outputs?: Output[];
}

function pythonHas(py: string, modules: string): boolean {
  try {
    execFileSync(py, ["-c", `import ${modules}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(" ")} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

const text = (o: Output): string => (Array.isArray(o.text) ? o.text.join("") : (o.text ?? ""));

describe("course kernel (peft-course)", function () {
  this.timeout(90_000);
  let py: string;
  let tmp: string;
  let baseEnv: NodeJS.ProcessEnv;

  before(function () {
    const found = findJupyterPython();
    if (!found) {
      const reason = "Jupyter (jupyter_client, nbconvert, nbclient) is not installed for any python; run `npm run setup`";
      if (IN_CI) throw new Error(`${reason} (CI must run these tests)`);
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    py = found!;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-kernel-"));
    baseEnv = {
      ...process.env,
      PYDEVD_DISABLE_FILE_VALIDATION: "1",
      JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
    };
  });

  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("the registered kernelspec runs this checkout's launcher", async function () {
    const listing = JSON.parse(await run(py, ["-m", "jupyter_client.kernelspecapp", "list", "--json"], baseEnv, 30_000));
    const spec = listing.kernelspecs?.[KERNEL]?.spec;
    const problem = !spec
      ? `kernelspec ${KERNEL} is not registered; run \`npm run setup\``
      : !spec.argv.includes(LAUNCHER)
        ? `kernelspec ${KERNEL} runs ${JSON.stringify(spec.argv)}, not ${LAUNCHER}; run \`npm run setup\` in this checkout`
        : undefined;
    if (problem && !IN_CI) {
      console.log(`      skipped: ${problem}`);
      this.skip();
    }
    assert.equal(problem, undefined, problem);
    assert.equal(spec.display_name, "TypeScript (PEFT course)");
    assert.equal(spec.language, "typescript");
    assert.ok(spec.argv.includes("{connection_file}"), "argv must pass {connection_file}");
    assert.ok(path.isAbsolute(spec.argv[0]), `argv[0] must be absolute: ${spec.argv[0]}`);
  });

  it("lives inside .venv: a per-user registration by another checkout does not take it over", async function () {
    const venvPython = path.join(ROOT, ".venv", "bin", "python");
    if (py !== venvPython) {
      const reason = `Jupyter comes from ${py}, not from this checkout's .venv; run \`npm run setup\``;
      if (IN_CI) assert.fail(reason);
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    // Another checkout (since deleted) registered "peft-course" for the user, as setup did before .venv.
    const home = path.join(tmp, "home");
    const stale = path.join(home, ".local", "share", "jupyter", "kernels", KERNEL);
    fs.mkdirSync(stale, { recursive: true });
    fs.writeFileSync(
      path.join(stale, "kernel.json"),
      JSON.stringify({
        argv: ["/bin/bash", "/gone/checkout/scripts/kernel/launch.sh", "{connection_file}"],
        display_name: "TypeScript (PEFT course)",
        language: "typescript",
        env: { COURSEKIT_ROOT: "/gone/checkout" },
      }),
    );
    const env: NodeJS.ProcessEnv = { ...baseEnv, HOME: home };
    delete env.JUPYTER_PREFER_ENV_PATH;
    delete env.JUPYTER_DATA_DIR;
    delete env.JUPYTER_PATH;
    const listing = JSON.parse(await run(py, ["-m", "jupyter_client.kernelspecapp", "list", "--json"], env, 30_000));
    const found = listing.kernelspecs?.[KERNEL];
    assert.equal(found?.resource_dir, path.join(ROOT, ".venv", "share", "jupyter", "kernels", KERNEL));
    assert.ok(found.spec.argv.includes(LAUNCHER), `argv ${JSON.stringify(found.spec.argv)}`);
  });

  it("executes a nested notebook: tfjs on wasm, ./lib imports, no stderr", async function () {
    // A private kernelspec rendered from this checkout's template, found first through JUPYTER_PATH,
    // so the test checks this checkout even when another one registered the user-wide kernel.
    const jupyterPath = path.join(tmp, "share", "jupyter");
    execFileSync(process.execPath, [path.join(ROOT, "scripts", "kernel", "render-kernelspec.js"), path.join(jupyterPath, "kernels", KERNEL)], {
      stdio: "ignore",
    });
    const outDir = path.join(tmp, "out");
    const env = { ...baseEnv, JUPYTER_PATH: [jupyterPath, process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter) };
    const started = Date.now();
    await run(
      py,
      [
        "-m",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        `--ExecutePreprocessor.kernel_name=${KERNEL}`,
        "--ExecutePreprocessor.timeout=60",
        "--ExecutePreprocessor.startup_timeout=60",
        "--output-dir",
        outDir,
        SMOKE,
      ],
      env,
      80_000,
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);

    const executed = JSON.parse(fs.readFileSync(path.join(outDir, "smoke.ipynb"), "utf8"));
    const outputs: Output[] = executed.cells.flatMap((c: Cell) => c.outputs ?? []);
    const dump = outputs.map((o) => `[${o.output_type}${o.name ? ":" + o.name : ""}] ${text(o) || `${o.ename}: ${o.evalue}`}`).join("\n");
    // tslab reports thrown errors and type errors only as stderr text: any stderr is a failure.
    const bad = outputs.filter((o) => o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr"));
    assert.deepEqual(bad, [], `the notebook wrote errors:\n${dump}`);

    const stdout = outputs
      .filter((o) => o.output_type === "stream" && o.name === "stdout")
      .map(text)
      .join("");
    for (const expected of [
      "backend: wasm\n",
      "in course kernel: true\n",
      `repo root: ${ROOT}\n`,
      `notebook dir: ${path.dirname(SMOKE)}\n`,
      "sum of squares: 30\n",
      "tensors alive: 0\n",
      "trained steps: 8\n",
    ]) {
      assert.ok(stdout.includes(expected), `missing ${JSON.stringify(expected)} in the notebook's output:\n${dump}`);
    }
    // the progress bar: one display output, updated in place, whose final state shows every step and the scores
    const html = executed.cells
      .flatMap((c: { outputs?: Array<{ output_type: string; data?: Record<string, string | string[]> }> }) => c.outputs ?? [])
      .filter((o: { output_type: string }) => o.output_type === "display_data")
      .map((o: { data?: Record<string, string | string[]> }) => [o.data?.["text/html"] ?? ""].flat().join(""));
    assert.equal(html.length, 1, `expected one progress display, got ${html.length}:\n${dump}`);
    assert.match(html[0], /train 8\/8/);
    assert.match(html[0], /val acc/);
    console.log(`      (smoke notebook: ${seconds} s including kernel start)`);
  });

  it("npm start serves Jupyter (answers HTTP on /api)", async function () {
    if (!pythonHas(py, "jupyterlab") && !pythonHas(py, "notebook")) {
      const reason = `neither JupyterLab nor Notebook is installed for ${py}`;
      if (IN_CI) assert.fail(reason);
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    const [port] = await freePorts(1);
    let log = "";
    const server: ChildProcess = spawn("bash", [path.join(ROOT, "scripts", "start.sh"), "--no-browser", "--ip=127.0.0.1", `--port=${port}`], {
      env: baseEnv,
      detached: true, // own process group, so the whole server can be stopped
      stdio: ["ignore", "pipe", "pipe"],
    });
    server.stdout!.on("data", (d) => (log += d));
    server.stderr!.on("data", (d) => (log += d));
    const exited = new Promise<void>((resolve) => server.once("exit", () => resolve()));
    const running = () => server.exitCode === null && server.signalCode === null;
    try {
      let answer: { version?: string } | undefined;
      for (let i = 0; i < 120 && !answer && running(); i++) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/api`);
          if (res.ok) answer = (await res.json()) as { version?: string };
        } catch {
          /* not listening yet */
        }
        if (!answer) await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(answer?.version, `Jupyter did not answer on port ${port}:\n${log}`);
      assert.ok(log.includes("TypeScript (PEFT course)"), `start.sh should name the course kernel:\n${log}`);
      assert.ok(log.includes(path.join(ROOT, "notebooks")), `start.sh should serve notebooks/:\n${log}`);
      if (pythonHas(py, "jupyterlab")) {
        assert.match(log, /Starting JupyterLab/, log);
        const lab = await fetch(`http://127.0.0.1:${port}/lab`, { redirect: "manual" });
        assert.ok(lab.status < 400, `GET /lab answered ${lab.status}`);
      }
    } finally {
      if (running() && server.pid) {
        process.kill(-server.pid, "SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (running()) process.kill(-server.pid, "SIGKILL");
      }
    }
  });
});
