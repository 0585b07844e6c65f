/** The sandbox's arguments and the /proc readings the kernel client's limits rest on (no kernel needed). */
import { strict as assert } from "node:assert";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hasProc, processTree } from "../../lib/grader/proc";
import { bwrapArgs, findBwrap, SANDBOX_REPO_PATHS, SANDBOX_RUN_DIR, SANDBOX_UID } from "../../lib/grader/sandbox";

const ROOT = fs.realpathSync(path.resolve(__dirname, "..", ".."));

describe("sandbox (bubblewrap arguments)", () => {
  const conn = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-sandbox-test-"));
  const connectionFile = path.join(conn, "kernel.json");
  fs.writeFileSync(connectionFile, "{}");
  after(() => fs.rmSync(conn, { recursive: true, force: true }));
  const args = bwrapArgs({ root: ROOT, connectionFile, env: { COURSEKIT_GRADING_SEED: "7" }, diskMiB: 64 }, ["node", "kernel.js"]);
  const pairs = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));

  it("no network, own namespaces, no capabilities, a scrubbed environment, the command last", () => {
    for (const flag of ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]) assert.ok(args.includes(flag), flag);
    assert.ok(!args.includes("--share-net"));
    assert.deepEqual(pairs("--cap-drop"), ["ALL"]);
    assert.deepEqual(args.slice(args.indexOf("--setenv"), args.indexOf("--setenv") + 3), ["--setenv", "COURSEKIT_GRADING_SEED", "7"]);
    assert.deepEqual(args.slice(-3), ["--", "node", "kernel.js"]);
    assert.equal(pairs("--chdir")[0], ROOT);
  });

  it("every writable place is a size-limited tmpfs of its own: /tmp, /dev/shm, the repository's scratch, the kernel's folder", () => {
    assert.deepEqual(pairs("--tmpfs").sort(), ["/dev/shm", "/tmp", ROOT, SANDBOX_RUN_DIR].sort());
    assert.deepEqual(pairs("--size"), [String(64 * 1048576), String(64 * 1048576), String(64 * 1048576), String(1048576)]);
    const readOnly = pairs("--ro-bind")
      .filter((p) => p.startsWith(`${ROOT}/`))
      .map((p) => path.relative(ROOT, p));
    assert.deepEqual(readOnly.sort(), SANDBOX_REPO_PATHS.filter((p) => fs.existsSync(path.join(ROOT, p))).sort());
    assert.ok(!args.some((a) => a.includes("solutions") || a.includes("notebooks") || a.includes("/scripts")), "nothing of the instructor's files");
    assert.deepEqual(pairs("--bind"), [], "no writable host folder");
    assert.deepEqual(pairs("--remount-ro").sort(), ["/", "/dev"]);
    assert.equal(args[args.indexOf("--ro-bind", args.indexOf(SANDBOX_RUN_DIR)) + 1], connectionFile, "the connection file, read-only");
    assert.deepEqual([pairs("--uid")[0], pairs("--gid")[0]], [String(SANDBOX_UID), String(SANDBOX_UID)]);
  });

  it("inside: uid nobody; / and /dev read-only; every writable mount nosuid, nodev and sized", function () {
    const bwrap = findBwrap();
    if (!bwrap) this.skip();
    const script = [
      "id -u",
      "(touch /planted) 2>/dev/null || echo root-read-only",
      "(touch /dev/planted) 2>/dev/null || echo dev-read-only",
      `for d in /tmp /dev/shm ${ROOT} ${SANDBOX_RUN_DIR}; do touch "$d/f" && echo "$d writable"; done`,
      `grep -E ' (/tmp|/dev/shm|${ROOT}|${SANDBOX_RUN_DIR}) ' /proc/self/mounts`,
    ].join("; ");
    const spec = { root: ROOT, connectionFile, env: { PATH: "/usr/bin:/bin" }, diskMiB: 16 };
    const out = execFileSync(bwrap as string, bwrapArgs(spec, ["/bin/bash", "-c", script]), { encoding: "utf8", env: {} });
    const lines = out.trim().split("\n");
    assert.deepEqual(lines.slice(0, 7), [
      String(SANDBOX_UID),
      "root-read-only",
      "dev-read-only",
      "/tmp writable",
      "/dev/shm writable",
      `${ROOT} writable`,
      `${SANDBOX_RUN_DIR} writable`,
    ]);
    const mounts = lines.slice(7);
    assert.equal(mounts.length, 4, out);
    for (const m of mounts) {
      const options = m.split(" ")[3].split(",");
      assert.ok(m.startsWith("tmpfs ") && options.includes("nosuid") && options.includes("nodev") && options.some((o) => o.startsWith("size=")), m);
    }
  });

  it("a process in the sandbox sees no solutions, cannot write the library and cannot reach the network", function () {
    const bwrap = findBwrap();
    if (!bwrap) this.skip();
    const script = [
      `test ! -e ${ROOT}/solutions && echo no-solutions`,
      `(echo x > ${ROOT}/lib/x.ts) 2>/dev/null || echo lib-read-only`,
      `echo x > ${ROOT}/scratch.txt && echo scratch-writable`,
      `test -z "$HOME$USER" && echo env-scrubbed`,
      `test "$(grep -c ':' /proc/net/dev)" = 1 && grep -q 'lo:' /proc/net/dev && echo no-network`,
      "ls /proc | grep -c '^[0-9]'",
    ].join("; ");
    const spec = { root: ROOT, connectionFile, env: { PATH: "/usr/bin:/bin" }, diskMiB: 16 };
    const out = execFileSync(bwrap as string, bwrapArgs(spec, ["/bin/bash", "-c", script]), { encoding: "utf8", env: {} });
    const lines = out.trim().split("\n");
    assert.deepEqual(lines.slice(0, 5), ["no-solutions", "lib-read-only", "scratch-writable", "env-scrubbed", "no-network"]);
    assert.ok(Number(lines[5]) <= 4, `only the sandbox's own processes are visible (${lines[5]})`);
    assert.ok(!fs.existsSync(path.join(ROOT, "scratch.txt")), "scratch writes stay in the sandbox");
  });
});

describe("/proc readings (CPU time, memory, the process tree)", function () {
  before(function () {
    if (!hasProc()) this.skip();
  });

  it("the tree of a process holds its children; CPU time grows while it computes", async function () {
    this.timeout(60000);
    const child = spawn("bash", ["-c", "sleep 60 & while :; do :; done"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const first = processTree(child.pid as number);
      assert.ok(first.length >= 2, `bash and its sleep (${first.length})`);
      assert.ok(first.every((p) => p.rssBytes > 0));
      const cpu = (tree: typeof first) => tree.reduce((s, p) => s + p.cpuS, 0);
      // However busy the machine, the loop accumulates CPU time (waiting up to 20 s for 0.3 s of it).
      let later = first;
      for (let waited = 0; waited < 20000 && cpu(later) <= cpu(first) + 0.3; waited += 200) {
        await new Promise((r) => setTimeout(r, 200));
        later = processTree(child.pid as number);
      }
      assert.ok(cpu(later) > cpu(first) + 0.3, `CPU seconds grew: ${cpu(first)} → ${cpu(later)}`);
    } finally {
      for (const p of processTree(child.pid as number)) process.kill(p.pid, "SIGKILL");
    }
    assert.deepEqual(processTree(999999999), []);
  });
});
