/**
 * A Jupyter client for the course's tslab kernel, in Node, over ZeroMQ (the Jupyter messaging protocol:
 * https://jupyter-client.readthedocs.io/en/latest/messaging.html). It starts the kernel exactly as Jupyter
 * does (scripts/kernel/launch.sh with a connection file), runs code, collects the outputs as nbformat
 * outputs, and handles what tslab does differently:
 *   - a cell over its time limit is interrupted (SIGINT, the kernelspec's interrupt_mode "signal"); tslab
 *     can only interrupt code that awaits, so if the cell is still running after a grace period (a
 *     synchronous infinite loop) the kernel is killed and the caller restarts it;
 *   - a kernel that dies (process.exit, a native crash) ends the cell with status "dead", never a hang;
 *   - tslab answers "abort" for 200 ms after an error: reported as status "abort" (the code did not run).
 * Limits (KernelLimits): time is counted in CPU seconds of the kernel's processes where Linux's /proc
 * tells them (a busy machine does not turn a passing cell into a timeout), with a wall-clock backstop for
 * cells that wait without computing; memory and process count are watched from outside and the kernel is
 * killed when it goes over; each cell's output is capped (the rest is dropped and the cell says so).
 * With `sandbox: true` the kernel runs inside bubblewrap (lib/grader/sandbox.ts) and talks over Unix
 * sockets (ZeroMQ's ipc transport), since it has no network.
 */
import { ChildProcess, spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as zmq from "zeromq";
import type { JsonObject, NbOutput } from "../notebook/ipynb";
import { CellOutputs } from "./cell-outputs";
import { hasProc, processTree, signalAll } from "./proc";
import { bwrapArgs, findBwrap, sandboxUnavailableReason } from "./sandbox";
import { KERNEL_NAME } from "../notebook/kernel-env";
import { sleep } from "../util/async";

export type ExecuteStatus = "ok" | "error" | "abort" | "timeout" | "dead";

/** Which limit ended a cell or the kernel. */
export type LimitHit = "cpu" | "wall" | "memory" | "processes";

export interface KernelLimits {
  /** Resident memory of all the kernel's processes together, MiB (default 4096). */
  memoryMiB: number;
  /** Processes in the kernel's tree (default 64). */
  processes: number;
  /** Text a cell may print to stdout/stderr, bytes (default 2 MiB); the rest is dropped. */
  streamBytes: number;
  /** Rich outputs (figures, tables, records) a cell may display, bytes (default 16 MiB). */
  displayBytes: number;
  /** Each writable tmpfs in the sandbox, MiB (default 256). */
  diskMiB: number;
}

export const DEFAULT_LIMITS: KernelLimits = { memoryMiB: 4096, processes: 64, streamBytes: 2 * 1024 * 1024, displayBytes: 16 * 1024 * 1024, diskMiB: 256 };

/** Wall-clock backstop for a CPU-time limit: generous, since a loaded machine stretches wall time. */
export const wallBackstopMs = (cpuMs: number): number => 4 * cpuMs + 30000;

export interface ExecuteResult {
  status: ExecuteStatus;
  outputs: NbOutput[];
  executionCount: number | null;
  durationMs: number;
  /** After a timeout: whether the kernel survived the interrupt (false: it was killed). */
  kernelAlive: boolean;
  /** The limit that stopped the cell or killed the kernel, if any. */
  limit?: LimitHit;
  /** CPU seconds the kernel's processes used while the cell ran (undefined without /proc). */
  cpuS?: number;
  /** True when the cell printed more than its output limit (the rest was dropped). */
  truncated?: boolean;
  /** True when the kernel's end-of-cell signal never came: outputs sent after the wait may be missing. */
  outputsIncomplete?: boolean;
}

export interface KernelOptions {
  /** The repository root (where scripts/kernel/launch.sh is). */
  root: string;
  /** The working directory Jupyter would use: the notebook's folder. */
  cwd: string;
  /** How long to wait for the kernel to answer its first request. Default 60 s. */
  startTimeoutMs?: number;
  /** After an interrupt, how long a cell may take to stop before the kernel is killed. Default 3 s. */
  interruptGraceMs?: number;
  /** Extra environment variables for the kernel; it gets only these and a few of its own (scrubbed). */
  env?: Record<string, string>;
  /** Run the kernel in the bubblewrap sandbox (throws KernelStartError when it is unavailable). */
  sandbox?: boolean;
  limits?: Partial<KernelLimits>;
}

/** Variables the kernel may inherit from the grader's environment (everything else is scrubbed). */
const INHERITED_ENV = ["PATH", "LANG", "LC_ALL", "TZ", "COURSEKIT_BACKEND", "COURSEKIT_THREADS"];

/** Every kernel started and not yet shut down (for a clean stop on Ctrl-C). */
const running = new Set<TslabKernel>();

/** Kills every kernel this process started (their whole process trees) and removes their folders. For SIGINT/SIGTERM. */
export function killAllKernels(): void {
  for (const k of running) k.destroy();
}

interface Header {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

interface Message {
  header: Header;
  parent_header: Partial<Header>;
  content: JsonObject;
}

interface Pending {
  out: CellOutputs;
  reply?: JsonObject;
  idle: boolean;
  /** The reply came but the kernel's "idle" never did, though its output channel had gone quiet. */
  idleMissing?: boolean;
  /** The execution has returned (finished, timed out or died). */
  over?: boolean;
  done: (status: ExecuteStatus) => void;
}

/** After a cell's reply, how long the output channel may stay silent before its "idle" is given up on. */
const IOPUB_QUIET_MS = 15000;

const DELIM = "<IDS|MSG>";

/** `n` TCP ports on 127.0.0.1 that were free a moment ago. */
export function freePorts(n: number): Promise<number[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<number>((resolve, reject) => {
          const server = net.createServer();
          server.unref();
          server.on("error", reject);
          server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
          });
        }),
    ),
  );
}

export class KernelStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KernelStartError";
  }
}

export class TslabKernel {
  private readonly session = randomUUID();
  private readonly pending = new Map<string, Pending>();
  private readonly replies = new Map<string, (m: Message) => void>();
  /** Extra listeners for every iopub message (start-up waits for the first status message). */
  private readonly iopubWatchers = new Set<(m: Message) => void>();
  private stderrTail = "";
  private exited = false;
  private closed = false;
  /** Every process seen in the kernel's tree (an unsandboxed kernel's leftovers are killed by pid). */
  private readonly seenPids = new Set<number>();
  private watchTimer: NodeJS.Timeout | undefined;
  /** CPU seconds used by the kernel's processes (the sum over its tree, as last read). */
  private cpuS = 0;
  /** When the output channel last delivered anything (a flood of output can arrive long after the reply). */
  private iopubActiveAt = Date.now();
  /** Set when the watcher killed the kernel for memory or processes. */
  private killedFor: LimitHit | undefined;

  private constructor(
    private readonly proc: ChildProcess,
    private readonly key: string,
    private readonly shell: zmq.Dealer,
    private readonly iopub: zmq.Subscriber,
    private readonly connectionDir: string,
    private readonly interruptGraceMs: number,
    private readonly limits: KernelLimits,
    readonly sandboxed: boolean,
  ) {
    running.add(this);
    proc.stderr?.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString("utf8")).slice(-4000);
    });
    proc.stdout?.on("data", () => undefined);
    proc.on("exit", () => {
      this.exited = true;
      this.kill(); // whatever the kernel left behind goes with it
      for (const p of this.pending.values()) p.done("dead");
    });
    void this.readLoop(shell, (m) => this.onShell(m));
    void this.readLoop(iopub, (m) => this.onIopub(m));
    this.watchTimer = setInterval(() => this.watch(), 200);
    this.watchTimer.unref();
  }

  /** Starts the kernel and waits until it answers (kernel_info) and its output channel is connected. */
  static async start(opts: KernelOptions): Promise<TslabKernel> {
    const launcher = path.join(opts.root, "scripts", "kernel", "launch.sh");
    if (!fs.existsSync(launcher)) throw new KernelStartError(`the kernel launcher ${launcher} is missing`);
    const tslab = path.join(opts.root, "node_modules", "tslab", "bin", "tslab");
    if (opts.sandbox) {
      const why = sandboxUnavailableReason();
      if (why) throw new KernelStartError(`cannot sandbox the kernel: ${why}`);
    }
    const limits: KernelLimits = { ...DEFAULT_LIMITS, ...opts.limits };
    const key = randomUUID();
    const connectionDir = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-kernel-"));
    const connectionFile = path.join(connectionDir, "kernel.json");
    // Sandboxed kernels have no network: ZeroMQ over Unix sockets in the connection folder (tslab binds
    // "<transport>://<ip>:<port>", so the sockets are files named "k:1" ... "k:5").
    const ports = opts.sandbox ? [1, 2, 3, 4, 5] : await freePorts(5);
    const [shellPort, iopubPort, stdinPort, controlPort, hbPort] = ports;
    const transport = opts.sandbox ? "ipc" : "tcp";
    const ip = opts.sandbox ? path.join(fs.realpathSync(connectionDir), "k") : "127.0.0.1";
    const endpoint = (port: number) => (opts.sandbox ? `ipc://${ip}:${port}` : `tcp://127.0.0.1:${port}`);
    fs.writeFileSync(
      connectionFile,
      JSON.stringify({
        shell_port: shellPort,
        iopub_port: iopubPort,
        stdin_port: stdinPort,
        control_port: controlPort,
        hb_port: hbPort,
        ip,
        key,
        transport,
        signature_scheme: "hmac-sha256",
        kernel_name: KERNEL_NAME,
      }),
    );
    const env: Record<string, string> = {};
    for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k] as string;
    Object.assign(
      env,
      { HOME: opts.sandbox ? "/tmp" : os.tmpdir(), COURSEKIT_ROOT: fs.realpathSync(opts.root), COURSEKIT_KERNEL: KERNEL_NAME },
      opts.env ?? {},
    );
    let proc: ChildProcess;
    if (opts.sandbox) {
      const root = fs.realpathSync(opts.root);
      env.COURSEKIT_NOTEBOOK_DIR = root;
      env.PATH = "/usr/local/bin:/usr/bin:/bin";
      const args = bwrapArgs({ root, connectionDir, env, diskMiB: limits.diskMiB }, [
        fs.realpathSync(process.execPath),
        tslab,
        "kernel",
        "--config-path",
        connectionFile,
      ]);
      proc = spawn(findBwrap() as string, args, { cwd: opts.cwd, env: {}, stdio: ["ignore", "pipe", "pipe"] });
    } else {
      // Its own process group, so that the whole group can be killed at the end.
      proc = spawn("bash", [launcher, connectionFile], { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    }
    const shell = new zmq.Dealer({ linger: 0 });
    const iopub = new zmq.Subscriber({ linger: 0 });
    shell.connect(endpoint(shellPort));
    iopub.connect(endpoint(iopubPort));
    iopub.subscribe();
    const kernel = new TslabKernel(proc, key, shell, iopub, connectionDir, opts.interruptGraceMs ?? 3000, limits, !!opts.sandbox);
    try {
      await kernel.waitReady(opts.startTimeoutMs ?? 180000);
    } catch (e) {
      kernel.kill();
      await kernel.close();
      throw e;
    }
    return kernel;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** The last lines the kernel process wrote to its own stderr (for diagnosing a crash). */
  get log(): string {
    return this.stderrTail;
  }

  /** The resident memory of the kernel's whole process tree, in bytes (0 once it exited or without /proc). */
  memoryBytes(): number {
    if (this.exited || !this.proc.pid) return 0;
    return processTree(this.proc.pid).reduce((sum, p) => sum + p.rssBytes, 0);
  }

  /** Reads the kernel's process tree: CPU time, and the memory and process limits (kills when over). */
  private watch(): void {
    if (this.exited || !this.proc.pid) return;
    const tree = processTree(this.proc.pid);
    if (tree.length === 0) return;
    for (const p of tree) this.seenPids.add(p.pid);
    this.cpuS = Math.max(
      this.cpuS,
      tree.reduce((s, p) => s + p.cpuS, 0),
    );
    const rssMiB = tree.reduce((s, p) => s + p.rssBytes, 0) / (1024 * 1024);
    if (rssMiB > this.limits.memoryMiB) this.killFor("memory");
    else if (tree.length > this.limits.processes + 2) this.killFor("processes"); // + bwrap's own two
  }

  private killFor(limit: LimitHit): void {
    this.killedFor ??= limit;
    this.kill();
  }

  /** The tslab process (inside the sandbox it is a grandchild of bwrap). */
  private kernelPid(): number | undefined {
    if (!this.sandboxed) return this.proc.pid;
    for (const p of processTree(this.proc.pid as number)) {
      try {
        if (fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8").includes("tslab")) return p.pid;
      } catch {
        // gone
      }
    }
    return undefined;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let sawIopub = false;
    const watcher = (m: Message) => {
      if (m.header.msg_type === "status") sawIopub = true;
    };
    this.iopubWatchers.add(watcher);
    try {
      while (!sawIopub) {
        if (this.exited) throw new KernelStartError(`the kernel exited while starting:\n${this.stderrTail}`);
        if (Date.now() > deadline) throw new KernelStartError(`the kernel did not answer within ${timeoutMs / 1000} s:\n${this.stderrTail}`);
        await Promise.race([this.request("kernel_info_request", {}), sleep(1000)]);
        if (!sawIopub) await sleep(100);
      }
    } finally {
      this.iopubWatchers.delete(watcher);
    }
  }

  private sign(parts: string[]): string {
    const h = createHmac("sha256", this.key);
    for (const p of parts) h.update(p);
    return h.digest("hex");
  }

  private async send(msgType: string, content: JsonObject): Promise<string> {
    const header: Header = {
      msg_id: randomUUID(),
      msg_type: msgType,
      session: this.session,
      username: "coursekit-grader",
      date: new Date().toISOString(),
      version: "5.3",
    };
    const parts = [JSON.stringify(header), "{}", "{}", JSON.stringify(content)];
    await this.shell.send([DELIM, this.sign(parts), ...parts]);
    return header.msg_id;
  }

  /** Sends a shell request and resolves with its reply. */
  private async request(msgType: string, content: JsonObject): Promise<Message> {
    const id = await this.send(msgType, content);
    return new Promise<Message>((resolve) => this.replies.set(id, resolve));
  }

  private parse(frames: Buffer[]): Message | null {
    const at = frames.findIndex((f) => f.toString() === DELIM);
    if (at < 0 || frames.length < at + 6) return null;
    const [sig, header, parent, metadata, content] = frames.slice(at + 1, at + 6).map((f) => f.toString("utf8"));
    if (this.sign([header, parent, metadata, content]) !== sig) return null; // not from our kernel
    try {
      return { header: JSON.parse(header) as Header, parent_header: JSON.parse(parent) as Partial<Header>, content: JSON.parse(content) as JsonObject };
    } catch {
      return null;
    }
  }

  private async readLoop(socket: zmq.Dealer | zmq.Subscriber, handle: (m: Message) => void): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await socket.receive();
      } catch {
        return; // socket closed
      }
      if (socket === this.iopub) this.iopubActiveAt = Date.now();
      const p = this.pendingFor(frames);
      if (p && p.out.truncated && frames.reduce((s, f) => s + f.length, 0) > 4096) continue; // dropped unread: over the limit
      const m = this.parse(frames);
      if (m) handle(m);
    }
  }

  /** The pending execution a raw message belongs to, without parsing the whole message. */
  private pendingFor(frames: Buffer[]): Pending | undefined {
    if (this.pending.size === 0) return undefined;
    const at = frames.findIndex((f) => f.toString() === DELIM);
    const parent = at >= 0 ? frames[at + 3] : undefined;
    if (!parent || parent.length > 4096) return undefined;
    try {
      const id = (JSON.parse(parent.toString("utf8")) as Partial<Header>).msg_id;
      return id ? this.pending.get(id) : undefined;
    } catch {
      return undefined;
    }
  }

  private onShell(m: Message): void {
    const id = m.parent_header.msg_id;
    if (!id) return;
    this.replies.get(id)?.(m);
    this.replies.delete(id);
    const p = this.pending.get(id);
    if (p && m.header.msg_type === "execute_reply") {
      p.reply = m.content;
      // The outputs come on the other channel and end with "idle": wait for it while that channel is still
      // delivering (a loaded machine, or a flood of output, delivers it late; returning early would lose the
      // cell's last outputs, its verdict among them, and the next cells' too).
      if (p.idle) p.done(this.replyStatus(p));
      else this.awaitIdle(p);
    }
  }

  /** Ends the cell when its "idle" comes, or once the output channel has been quiet for IOPUB_QUIET_MS since the reply. */
  private awaitIdle(p: Pending): void {
    const repliedAt = Date.now();
    const timer = setInterval(() => {
      if (p.idle || p.over || this.exited) clearInterval(timer);
      else if (Date.now() - Math.max(repliedAt, this.iopubActiveAt) > IOPUB_QUIET_MS) {
        clearInterval(timer);
        p.idleMissing = true;
        p.done(this.replyStatus(p));
      }
    }, 250);
  }

  private replyStatus(p: Pending): ExecuteStatus {
    const s = p.reply?.status;
    return s === "ok" ? "ok" : s === "abort" || s === "aborted" ? "abort" : "error";
  }

  private onIopub(m: Message): void {
    for (const w of this.iopubWatchers) w(m);
    const id = m.parent_header.msg_id;
    const p = id ? this.pending.get(id) : undefined;
    if (!p) return;
    if (m.header.msg_type === "status") {
      if (m.content.execution_state === "idle") {
        p.idle = true;
        if (p.reply) p.done(this.replyStatus(p));
      }
      return;
    }
    p.out.apply(m.header.msg_type, m.content);
  }

  /**
   * Runs code; resolves when the kernel is idle again, the time limit has passed (interrupt, then kill
   * after the grace period), or the kernel has died. Never rejects for the code's own errors.
   * `cpuLimitMs`: CPU time the cell may use (where /proc tells it; else this is a wall-clock limit);
   * `wallLimitMs`: the wall-clock backstop (default wallBackstopMs(cpuLimitMs)).
   */
  async execute(code: string, cpuLimitMs: number, wallLimitMs = hasProc() ? wallBackstopMs(cpuLimitMs) : cpuLimitMs): Promise<ExecuteResult> {
    const started = Date.now();
    if (this.exited) return { status: "dead", outputs: [], executionCount: null, durationMs: 0, kernelAlive: false, limit: this.killedFor };
    this.watch();
    const cpuAtStart = this.cpuS;
    let resolveDone: (s: ExecuteStatus) => void = () => undefined;
    const finished = new Promise<ExecuteStatus>((r) => (resolveDone = r));
    const entry: Pending = { out: new CellOutputs(this.limits), idle: false, done: (s) => resolveDone(s) };
    const id = await this.send("execute_request", { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: false });
    this.pending.set(id, entry);
    if (this.exited) entry.done("dead");
    let limit: LimitHit | undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      const cpuKnown = hasProc();
      timer = setInterval(() => {
        if (Date.now() - started > wallLimitMs) limit = "wall";
        else if (cpuKnown && (this.cpuS - cpuAtStart) * 1000 > cpuLimitMs) limit = "cpu";
        else if (!cpuKnown && Date.now() - started > cpuLimitMs) limit = "wall";
        if (limit) resolve("timeout");
      }, 100);
    });
    const status: ExecuteStatus = await Promise.race([finished, timedOut]);
    clearInterval(timer);
    if (status !== "timeout") limit = undefined;
    let kernelAlive = !this.exited;
    if (status === "timeout") {
      this.interrupt();
      const stopped = await Promise.race([finished, sleep(this.interruptGraceMs).then(() => null)]);
      if (stopped === null || stopped === "dead") {
        this.kill();
        await Promise.race([finished, sleep(2000)]);
        kernelAlive = false;
      } else {
        kernelAlive = !this.exited;
      }
    } else if (status === "dead") {
      kernelAlive = false;
      limit = this.killedFor;
    }
    this.pending.delete(id);
    entry.over = true;
    const outputs = entry.out.outputs;
    if (entry.out.truncated) {
      outputs.push({
        output_type: "stream",
        name: "stderr",
        text: `\n[the grader dropped the rest of this cell's output: it printed more than ${Math.round(this.limits.streamBytes / 1048576)} MiB of text or ${Math.round(this.limits.displayBytes / 1048576)} MiB of displays]\n`,
      });
    }
    const count = entry.reply && typeof entry.reply.execution_count === "number" ? entry.reply.execution_count : null;
    const cpuS = hasProc() ? Math.max(0, this.cpuS - cpuAtStart) : undefined;
    return {
      status,
      outputs,
      executionCount: count,
      durationMs: Date.now() - started,
      kernelAlive,
      limit,
      cpuS,
      truncated: entry.out.truncated,
      outputsIncomplete: entry.idleMissing,
    };
  }

  /** Interrupts the running cell (SIGINT, as Jupyter does for interrupt_mode "signal"). */
  interrupt(): void {
    if (this.exited) return;
    const pid = this.kernelPid();
    if (pid) signalAll([pid], "SIGINT");
  }

  /** Kills the kernel and every process it started (the sandbox's PID namespace, or the whole tree). */
  kill(): void {
    const pid = this.proc.pid;
    if (!pid) return;
    const tree = processTree(pid).map((p) => p.pid);
    if (!this.sandboxed) {
      try {
        process.kill(-pid, "SIGKILL"); // the process group
      } catch {
        // gone
      }
    }
    signalAll([...tree, ...this.seenPids], "SIGKILL");
    this.seenPids.clear();
  }

  /** Asks the kernel to shut down, kills it (and all it started) if it does not, and closes the sockets. */
  async shutdown(): Promise<void> {
    if (!this.exited) {
      await Promise.race([this.request("shutdown_request", { restart: false }), sleep(2000)]);
      const exited = new Promise<void>((r) => (this.exited ? r() : this.proc.once("exit", () => r())));
      await Promise.race([exited, sleep(2000)]);
    }
    this.kill();
    await this.close();
  }

  /** Kills the kernel and removes its connection folder at once (synchronous: for a signal handler). */
  destroy(): void {
    this.kill();
    running.delete(this);
    clearInterval(this.watchTimer);
    fs.rmSync(this.connectionDir, { recursive: true, force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    running.delete(this);
    clearInterval(this.watchTimer);
    this.shell.close();
    this.iopub.close();
    fs.rmSync(this.connectionDir, { recursive: true, force: true });
  }
}
