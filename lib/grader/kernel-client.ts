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
 */
import { ChildProcess, spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as zmq from "zeromq";
import type { JsonObject, JsonValue, NbOutput } from "../notebook/ipynb";

export type ExecuteStatus = "ok" | "error" | "abort" | "timeout" | "dead";

export interface ExecuteResult {
  status: ExecuteStatus;
  outputs: NbOutput[];
  executionCount: number | null;
  durationMs: number;
  /** After a timeout: whether the kernel survived the interrupt (false: it was killed). */
  kernelAlive: boolean;
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
  env?: NodeJS.ProcessEnv;
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
  outputs: NbOutput[];
  displayIndex: Map<string, number[]>;
  reply?: JsonObject;
  idle: boolean;
  done: (status: ExecuteStatus) => void;
}

const DELIM = "<IDS|MSG>";

/** `n` TCP ports on 127.0.0.1 that were free a moment ago. */
export function freePorts(n: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, () => new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as net.AddressInfo).port;
        server.close(() => resolve(port));
      });
    })),
  );
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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

  private constructor(
    private readonly proc: ChildProcess,
    private readonly key: string,
    private readonly shell: zmq.Dealer,
    private readonly iopub: zmq.Subscriber,
    private readonly connectionDir: string,
    private readonly interruptGraceMs: number,
  ) {
    proc.stderr?.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString("utf8")).slice(-4000);
    });
    proc.stdout?.on("data", () => undefined);
    proc.on("exit", () => {
      this.exited = true;
      for (const p of this.pending.values()) p.done("dead");
    });
    void this.readLoop(shell, (m) => this.onShell(m));
    void this.readLoop(iopub, (m) => this.onIopub(m));
  }

  /** Starts the kernel and waits until it answers (kernel_info) and its output channel is connected. */
  static async start(opts: KernelOptions): Promise<TslabKernel> {
    const launcher = path.join(opts.root, "scripts", "kernel", "launch.sh");
    if (!fs.existsSync(launcher)) throw new KernelStartError(`the kernel launcher ${launcher} is missing`);
    const [shellPort, iopubPort, stdinPort, controlPort, hbPort] = await freePorts(5);
    const key = randomUUID();
    const connectionDir = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-kernel-"));
    const connectionFile = path.join(connectionDir, "kernel.json");
    fs.writeFileSync(connectionFile, JSON.stringify({
      shell_port: shellPort, iopub_port: iopubPort, stdin_port: stdinPort, control_port: controlPort, hb_port: hbPort,
      ip: "127.0.0.1", key, transport: "tcp", signature_scheme: "hmac-sha256", kernel_name: "peft-course",
    }));
    const proc = spawn("bash", [launcher, connectionFile], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    const shell = new zmq.Dealer({ linger: 0 });
    const iopub = new zmq.Subscriber({ linger: 0 });
    shell.connect(`tcp://127.0.0.1:${shellPort}`);
    iopub.connect(`tcp://127.0.0.1:${iopubPort}`);
    iopub.subscribe();
    const kernel = new TslabKernel(proc, key, shell, iopub, connectionDir, opts.interruptGraceMs ?? 3000);
    try {
      await kernel.waitReady(opts.startTimeoutMs ?? 60000);
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
    const header: Header = { msg_id: randomUUID(), msg_type: msgType, session: this.session, username: "coursekit-grader", date: new Date().toISOString(), version: "5.3" };
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
    return { header: JSON.parse(header) as Header, parent_header: JSON.parse(parent) as Partial<Header>, content: JSON.parse(content) as JsonObject };
  }

  private async readLoop(socket: zmq.Dealer | zmq.Subscriber, handle: (m: Message) => void): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await socket.receive();
      } catch {
        return; // socket closed
      }
      const m = this.parse(frames);
      if (m) handle(m);
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
      if (p.idle) p.done(this.replyStatus(p));
      else setTimeout(() => p.done(this.replyStatus(p)), 1000); // idle normally follows at once
    }
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
    const c = m.content;
    switch (m.header.msg_type) {
      case "status":
        if (c.execution_state === "idle") {
          p.idle = true;
          if (p.reply) p.done(this.replyStatus(p));
        }
        break;
      case "stream": {
        const name = c.name === "stderr" ? "stderr" : "stdout";
        const last = p.outputs[p.outputs.length - 1];
        if (last && last.output_type === "stream" && last.name === name) last.text = `${String(last.text ?? "")}${String(c.text ?? "")}`;
        else p.outputs.push({ output_type: "stream", name, text: String(c.text ?? "") });
        break;
      }
      case "display_data":
      case "update_display_data":
      case "execute_result": {
        const output: NbOutput = {
          output_type: m.header.msg_type === "execute_result" ? "execute_result" : "display_data",
          data: (c.data ?? {}) as Record<string, JsonValue>,
          metadata: (c.metadata ?? {}) as JsonObject,
        };
        if (m.header.msg_type === "execute_result") output.execution_count = typeof c.execution_count === "number" ? c.execution_count : null;
        const displayId = (c.transient as JsonObject | undefined)?.display_id;
        if (m.header.msg_type === "update_display_data") {
          // Replace every earlier output of this display (progress bars update in place).
          for (const i of p.displayIndex.get(String(displayId)) ?? []) p.outputs[i] = output;
          break;
        }
        if (typeof displayId === "string") p.displayIndex.set(displayId, [...(p.displayIndex.get(displayId) ?? []), p.outputs.length]);
        p.outputs.push(output);
        break;
      }
      case "error":
        p.outputs.push({ output_type: "error", ename: String(c.ename ?? "Error"), evalue: String(c.evalue ?? ""), traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [] });
        break;
      case "clear_output":
        p.outputs.length = 0;
        p.displayIndex.clear();
        break;
      default:
        break;
    }
  }

  /**
   * Runs code; resolves when the kernel is idle again, the time limit has passed (interrupt, then kill
   * after the grace period), or the kernel has died. Never rejects for the code's own errors.
   */
  async execute(code: string, timeoutMs: number): Promise<ExecuteResult> {
    const started = Date.now();
    if (this.exited) return { status: "dead", outputs: [], executionCount: null, durationMs: 0, kernelAlive: false };
    let resolveDone: (s: ExecuteStatus) => void = () => undefined;
    const finished = new Promise<ExecuteStatus>((r) => (resolveDone = r));
    const entry: Pending = { outputs: [], displayIndex: new Map(), idle: false, done: (s) => resolveDone(s) };
    const id = await this.send("execute_request", { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: false });
    this.pending.set(id, entry);
    if (this.exited) entry.done("dead");
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeoutMs)));
    const status: ExecuteStatus = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
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
    }
    this.pending.delete(id);
    const count = entry.reply && typeof entry.reply.execution_count === "number" ? entry.reply.execution_count : null;
    return { status, outputs: entry.outputs, executionCount: count, durationMs: Date.now() - started, kernelAlive };
  }

  /** Interrupts the running cell (SIGINT, as Jupyter does for interrupt_mode "signal"). */
  interrupt(): void {
    if (!this.exited && this.proc.pid) this.proc.kill("SIGINT");
  }

  kill(): void {
    if (!this.exited && this.proc.pid) this.proc.kill("SIGKILL");
  }

  /** Asks the kernel to shut down, kills it if it does not, and closes the sockets. */
  async shutdown(): Promise<void> {
    if (!this.exited) {
      await Promise.race([this.request("shutdown_request", { restart: false }), sleep(2000)]);
      const exited = new Promise<void>((r) => (this.exited ? r() : this.proc.once("exit", () => r())));
      await Promise.race([exited, sleep(2000)]);
      this.kill();
    }
    await this.close();
  }

  private async close(): Promise<void> {
    this.closed = true;
    this.shell.close();
    this.iopub.close();
    fs.rmSync(this.connectionDir, { recursive: true, force: true });
  }
}
