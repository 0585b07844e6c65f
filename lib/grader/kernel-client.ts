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
 * With `sandbox: true` the kernel runs inside bubblewrap (lib/grader/sandbox.ts) and a cgroup where the
 * machine offers one (lib/grader/cgroup.ts: memory with tmpfs files, processes and CPU time with exited
 * children, enforced by Linux); it talks over Unix sockets (ZeroMQ's ipc transport) in a tmpfs of its own,
 * reached through /proc/<pid>/root/, since it has no network and nothing it writes is on the host's disk.
 * Output is bounded before it is parsed: the output socket refuses any message larger than a cell's whole
 * allowance (ZeroMQ's maxMessageSize: the connection is cut and made again, and the cell says so), and a
 * message that no longer fits the cell's allowance is dropped unread.
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
import { Enforcement, KernelCgroup } from "./cgroup";
import { OutputLimits } from "./cell-outputs";
import { hasProc, processTree, signalAll } from "./proc";
import { bwrapArgs, findBwrap, SANDBOX_RUN_DIR, sandboxUnavailableReason } from "./sandbox";
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

/** How the kernel's memory, process and CPU limits were held, and why not by a cgroup where they were only watched. */
export interface LimitEnforcement {
  memory: Enforcement;
  processes: Enforcement;
  cpu: Enforcement;
  /** Why no cgroup held them (absent when one did). */
  reason?: string;
}

/**
 * Tasks the cgroup allows beyond the process limit: Linux counts threads too (Node.js's own, TensorFlow.js's
 * helper threads). A kernel that reaches the ceiling is stopped for "processes" like one the watcher sees
 * over the limit.
 */
const CGROUP_THREAD_ALLOWANCE = 64;
/** Messages that may wait unread on the output socket (each at most a cell's output allowance). */
const IOPUB_QUEUE = 100;

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
  /** Output bytes the cell was charged for (what its outputs may take in the feedback copy). */
  outputBytes?: number;
  /** True when the kernel's end-of-cell signal never came: outputs sent after the wait may be missing. */
  outputsIncomplete?: boolean;
}

export interface ExecuteOptions {
  /** The wall-clock backstop (default wallBackstopMs of the CPU limit). */
  wallLimitMs?: number;
  /** The output this cell may print (default the kernel's limits). */
  output?: OutputLimits;
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
  /** Sandboxed kernels: the folder the kernel sees as lib/ (default the repository's own). */
  libDir?: string;
  limits?: Partial<KernelLimits>;
}

/** What a started kernel keeps of how it was started. */
interface KernelSettings {
  interruptGraceMs: number;
  limits: KernelLimits;
  sandboxed: boolean;
  cgroup: KernelCgroup | undefined;
  enforcement: LimitEnforcement;
  scratchDir: string;
  iopubEndpoint: string;
  pidNamespace: string | undefined;
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

/** A namespace a process is in ("mnt:[4026531841]"), or undefined once it is gone. */
function namespaceOf(pid: number | "self", kind: "mnt" | "pid"): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** Every process in a PID namespace (a sandbox's: nothing outside it is there). */
function processesIn(pidNamespace: string): number[] {
  return fs
    .readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => namespaceOf(pid, "pid") === pidNamespace);
}

/**
 * A process of the sandbox whose root holds the kernel's folder (bubblewrap's first process inside, which
 * lives as long as the sandbox): the grader reaches the kernel's sockets through /proc/<it>/root/.
 */
async function waitForSandbox(proc: ChildProcess, timeoutMs: number): Promise<number> {
  const ownNamespace = namespaceOf("self", "mnt");
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString("utf8")).slice(-4000)));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new KernelStartError(`the sandbox exited while starting:\n${stderr}`);
    for (const p of processTree(proc.pid as number)) {
      if (p.pid === proc.pid) continue;
      const ns = namespaceOf(p.pid, "mnt");
      if (ns && ns !== ownNamespace && fs.existsSync(`/proc/${p.pid}/root${SANDBOX_RUN_DIR}/kernel.json`)) return p.pid;
    }
    await sleep(20);
  }
  throw new KernelStartError(`the sandbox did not start within ${timeoutMs / 1000} s:\n${stderr}`);
}

export class TslabKernel {
  private readonly session = randomUUID();
  private readonly pending = new Map<string, Pending>();
  private readonly replies = new Map<string, (m: Message) => void>();
  /** Extra listeners for every iopub message (start-up waits for the first status message). */
  private readonly iopubWatchers = new Set<(m: Message) => void>();
  private stderrTail = "";
  /** Set when the output socket was cut off (a message over maxMessageSize); the running cell is told. */
  private iopubCutOff = false;
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

  private readonly interruptGraceMs: number;
  private readonly limits: KernelLimits;
  readonly sandboxed: boolean;
  /** The kernel's cgroup, where one could be made (sandboxed kernels only). */
  private readonly cgroup: KernelCgroup | undefined;
  /** How the limits are held (see LimitEnforcement). */
  readonly enforcement: LimitEnforcement;
  /** The repository's path, a scratch tmpfs inside the sandbox. */
  private readonly scratchDir: string;
  /** Where the output socket connects (made again after a cut). */
  private readonly iopubEndpoint: string;
  /** The sandbox's PID namespace ("pid:[…]"): every process in it is the kernel's, killed with it. */
  private readonly pidNamespace: string | undefined;

  private constructor(
    private readonly proc: ChildProcess,
    private readonly key: string,
    private readonly shell: zmq.Dealer,
    private readonly iopub: zmq.Subscriber,
    private readonly connectionDir: string,
    settings: KernelSettings,
  ) {
    ({
      interruptGraceMs: this.interruptGraceMs,
      limits: this.limits,
      sandboxed: this.sandboxed,
      cgroup: this.cgroup,
      enforcement: this.enforcement,
      scratchDir: this.scratchDir,
      iopubEndpoint: this.iopubEndpoint,
      pidNamespace: this.pidNamespace,
    } = settings);
    running.add(this);
    // ZeroMQ cuts a connection that delivers a message over maxMessageSize and does not make it again by
    // itself (a protocol error): the grader connects again, so the cells after it still have their output.
    iopub.events.on("disconnect", () => {
      if (this.exited || this.closed) return;
      this.iopubCutOff = true;
      try {
        iopub.disconnect(this.iopubEndpoint);
      } catch {
        // already gone
      }
      iopub.connect(this.iopubEndpoint);
    });
    proc.stderr?.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString("utf8")).slice(-4000);
    });
    proc.stdout?.on("data", () => undefined);
    proc.on("exit", () => {
      // Linux's OOM killer may have ended the kernel before the watcher saw its group go over the limit.
      if (this.cgroup?.oomKilled()) this.killedFor ??= "memory";
      else if (this.cgroup?.processLimitHit()) this.killedFor ??= "processes";
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
    if (opts.libDir && !opts.sandbox) throw new KernelStartError("another library (libDir) can only be mounted in the sandbox");
    const limits: KernelLimits = { ...DEFAULT_LIMITS, ...opts.limits };
    const key = randomUUID();
    // The grader's own folder for the connection file (mode 0700, never inside the sandbox).
    const connectionDir = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-kernel-"));
    const connectionFile = path.join(connectionDir, "kernel.json");
    // Sandboxed kernels have no network: ZeroMQ over Unix sockets in the sandbox's own SANDBOX_RUN_DIR
    // (tslab binds "<transport>://<ip>:<port>", so the sockets are files named "k:1" ... "k:5").
    const ports = opts.sandbox ? [1, 2, 3, 4, 5] : await freePorts(5);
    const [shellPort, iopubPort, stdinPort, controlPort, hbPort] = ports;
    const transport = opts.sandbox ? "ipc" : "tcp";
    const ip = opts.sandbox ? `${SANDBOX_RUN_DIR}/k` : "127.0.0.1";
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
    let cgroup: KernelCgroup | undefined;
    let enforcement: LimitEnforcement = { memory: "watched", processes: "watched", cpu: "watched", reason: "the kernel is not sandboxed" };
    let endpoint = (port: number) => `tcp://127.0.0.1:${port}`;
    let pidNamespace: string | undefined;
    if (opts.sandbox) {
      const root = fs.realpathSync(opts.root);
      env.COURSEKIT_NOTEBOOK_DIR = root;
      env.PATH = "/usr/local/bin:/usr/bin:/bin";
      const args = bwrapArgs({ root, connectionFile, env, diskMiB: limits.diskMiB, libDir: opts.libDir }, [
        fs.realpathSync(process.execPath),
        tslab,
        "kernel",
        "--config-path",
        `${SANDBOX_RUN_DIR}/kernel.json`,
      ]);
      const made = KernelCgroup.create({ memoryBytes: limits.memoryMiB * 1024 * 1024, maxTasks: limits.processes + CGROUP_THREAD_ALLOWANCE });
      if (made instanceof KernelCgroup) {
        cgroup = made;
        enforcement = { memory: "cgroup", processes: "cgroup", cpu: "cgroup" };
      } else {
        enforcement = { ...enforcement, reason: made.unavailable };
      }
      const command = [findBwrap() as string, ...args];
      const [file, ...rest] = cgroup ? cgroup.enterCommand(command) : command;
      proc = spawn(file, rest, { cwd: opts.cwd, env: {}, stdio: ["ignore", "pipe", "pipe"] });
      let sandboxPid: number;
      try {
        sandboxPid = await waitForSandbox(proc, opts.startTimeoutMs ?? 180000);
      } catch (e) {
        signalAll([...processTree(proc.pid ?? -1).map((p) => p.pid), ...(cgroup?.pids() ?? [])], "SIGKILL");
        await cgroup?.remove();
        fs.rmSync(connectionDir, { recursive: true, force: true });
        throw e;
      }
      endpoint = (port: number) => `ipc:///proc/${sandboxPid}/root${SANDBOX_RUN_DIR}/k:${port}`;
      // Never the grader's own namespace (that would be every process of the machine).
      const ns = namespaceOf(sandboxPid, "pid");
      pidNamespace = ns && ns !== namespaceOf("self", "pid") ? ns : undefined;
    } else {
      // Its own process group, so that the whole group can be killed at the end.
      proc = spawn("bash", [launcher, connectionFile], { cwd: opts.cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    }
    const shell = new zmq.Dealer({ linger: 0 });
    // No single message may be larger than a cell's whole output allowance; few may wait unread.
    const iopub = new zmq.Subscriber({
      linger: 0,
      maxMessageSize: Math.max(limits.streamBytes, limits.displayBytes) + 65536,
      receiveHighWaterMark: IOPUB_QUEUE,
    });
    shell.connect(endpoint(shellPort));
    iopub.connect(endpoint(iopubPort));
    iopub.subscribe();
    const kernel = new TslabKernel(proc, key, shell, iopub, connectionDir, {
      interruptGraceMs: opts.interruptGraceMs ?? 3000,
      limits,
      sandboxed: !!opts.sandbox,
      cgroup,
      enforcement,
      scratchDir: fs.realpathSync(opts.root),
      iopubEndpoint: endpoint(iopubPort),
      pidNamespace,
    });
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

  /**
   * Bytes in the sandbox's writable tmpfs mounts (files there take memory but no process's resident set):
   * read through /proc/<pid>/root/ with statfs. 0 for an unsandboxed kernel.
   */
  private tmpfsBytes(tree: ReturnType<typeof processTree>): number {
    if (!this.sandboxed) return 0;
    const inside = tree.find((p) => p.pid !== this.proc.pid);
    if (!inside) return 0;
    let used = 0;
    for (const dir of ["/tmp", "/dev/shm", SANDBOX_RUN_DIR, this.scratchDir]) {
      try {
        const st = fs.statfsSync(`/proc/${inside.pid}/root${dir}`);
        used += (st.blocks - st.bfree) * st.bsize;
      } catch {
        // gone
      }
    }
    return used;
  }

  /**
   * Reads the kernel's processes: CPU time, and the memory and process limits (kills when over). With a
   * cgroup, CPU time is the group's (exited children included) and Linux's OOM killer enforces memory;
   * without, the CPU time of the live tree and of the children it waited for, and memory as resident memory
   * plus the tmpfs files.
   */
  private watch(): void {
    if (this.exited || !this.proc.pid) return;
    const tree = processTree(this.proc.pid);
    if (tree.length === 0) return;
    for (const p of tree) this.seenPids.add(p.pid);
    const cpu = this.cgroup?.cpuSeconds() ?? tree.reduce((s, p) => s + p.cpuS + p.childCpuS, 0);
    this.cpuS = Math.max(this.cpuS, cpu);
    const rssMiB = (tree.reduce((s, p) => s + p.rssBytes, 0) + this.tmpfsBytes(tree)) / (1024 * 1024);
    if (rssMiB > this.limits.memoryMiB || this.cgroup?.oomKilled()) this.killFor("memory");
    else if (tree.length > this.limits.processes + 2 || this.cgroup?.processLimitHit()) this.killFor("processes"); // + bwrap's own two
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
      if (socket === this.iopub) {
        this.iopubActiveAt = Date.now();
        if (!this.admitUnparsed(frames)) continue; // dropped unread: over the cell's output allowance
      }
      const m = this.parse(frames);
      if (m) handle(m);
    }
  }

  /**
   * Before an output message is parsed: whether it may be (its cell's allowance still has room for its
   * raw size). A message of no pending cell is parsed only when small (status messages, late stragglers).
   */
  private admitUnparsed(frames: Buffer[]): boolean {
    const at = frames.findIndex((f) => f.length === DELIM.length && f.toString() === DELIM);
    if (at < 0 || frames.length < at + 6) return false;
    const small = (f: Buffer): Partial<Header> | undefined => {
      if (f.length > 4096) return undefined;
      try {
        return JSON.parse(f.toString("utf8")) as Partial<Header>;
      } catch {
        return undefined;
      }
    };
    const header = small(frames[at + 2]);
    const parentId = small(frames[at + 3])?.msg_id;
    const p = parentId ? this.pending.get(parentId) : undefined;
    if (!header?.msg_type) return false;
    if (!p) return frames[at + 5].length <= 65536;
    return p.out.fitsUnparsed(header.msg_type, frames[at + 5].length);
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
  async execute(code: string, cpuLimitMs: number, opts: ExecuteOptions = {}): Promise<ExecuteResult> {
    const wallLimitMs = opts.wallLimitMs ?? (hasProc() ? wallBackstopMs(cpuLimitMs) : cpuLimitMs);
    const outputLimits = opts.output ?? this.limits;
    const started = Date.now();
    if (this.exited) return { status: "dead", outputs: [], executionCount: null, durationMs: 0, kernelAlive: false, limit: this.killedFor };
    this.watch();
    const cpuAtStart = this.cpuS;
    this.iopubCutOff = false;
    let resolveDone: (s: ExecuteStatus) => void = () => undefined;
    const finished = new Promise<ExecuteStatus>((r) => (resolveDone = r));
    const entry: Pending = { out: new CellOutputs(outputLimits), idle: false, done: (s) => resolveDone(s) };
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
    const cutOff = this.iopubCutOff;
    if (entry.out.truncated || cutOff) {
      const mib = (b: number) => `${Math.round((b / 1048576) * 10) / 10} MiB`;
      outputs.push({
        output_type: "stream",
        name: "stderr",
        text: `\n[the grader dropped ${cutOff ? "output of this cell: it sent a single message larger than the grader accepts" : "the rest of this cell's output"}: a cell may print at most ${mib(outputLimits.streamBytes)} of text and ${mib(outputLimits.displayBytes)} of displays]\n`,
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
      truncated: entry.out.truncated || cutOff,
      outputBytes: entry.out.bytes,
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
    signalAll([...tree, ...this.seenPids, ...(this.pidNamespace ? processesIn(this.pidNamespace) : [])], "SIGKILL");
    this.cgroup?.killAll();
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
    this.cgroup?.removeNow();
    fs.rmSync(this.connectionDir, { recursive: true, force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    running.delete(this);
    clearInterval(this.watchTimer);
    this.shell.close();
    this.iopub.close();
    await this.cgroup?.remove();
    fs.rmSync(this.connectionDir, { recursive: true, force: true });
  }
}
