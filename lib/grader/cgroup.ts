/**
 * Limits a grading kernel cannot step around: a Linux control group (cgroup) per kernel, so that the
 * kernel's memory (files in its tmpfs mounts and /dev/shm included), its number of processes and its CPU
 * time (children that already exited included) are counted and enforced by Linux, not only watched from
 * outside (lib/grader/kernel-client.ts watches too, and is all there is where no cgroup can be made).
 *
 * Supported: cgroup v1 with writable `memory`, `pids` and `cpuacct` hierarchies (a root grader on a v1 or
 * hybrid machine). The kernel's group is made under the grader's own group in each hierarchy
 * (/proc/self/cgroup), so any limit already placed on the grader still holds. Not supported (the report then
 * says "watched"): cgroup v2, which needs a delegated subtree (systemd's Delegate=) that this grader does not
 * ask for yet, and machines without cgroups (macOS).
 *
 * COURSEKIT_CGROUPS=none does without (every limit is then watched only, as where no cgroup can be made).
 *
 * The kernel enters its group before it runs anything: it is started through `/bin/sh -c`, which writes its
 * own pid into each group's cgroup.procs and then execs the sandbox (enterCommand), so no child escapes.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { sleep } from "../util/async";

/** How a limit is held: by a cgroup (Linux counts and enforces it) or only watched from outside (/proc). */
export type Enforcement = "cgroup" | "watched";

export interface CgroupLimits {
  memoryBytes: number;
  /** The ceiling on tasks: Linux counts every thread (Node.js alone runs about a dozen), not only processes. */
  maxTasks: number;
}

const CONTROLLERS = ["memory", "pids", "cpuacct"] as const;
type Controller = (typeof CONTROLLERS)[number];

interface Mount {
  /** Where the hierarchy is mounted. */
  mountPoint: string;
  /** The hierarchy's folder that is mounted there (usually "/"). */
  root: string;
}

/** The v1 hierarchies of this machine, by controller (from /proc/self/mountinfo). */
function v1Mounts(): Map<Controller, Mount> {
  const mounts = new Map<Controller, Mount>();
  let info: string;
  try {
    info = fs.readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return mounts;
  }
  for (const line of info.split("\n")) {
    // "36 25 0:31 / /sys/fs/cgroup/memory rw,relatime shared:14 - cgroup cgroup rw,memory"
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const [fstype, , superOptions = ""] = right.split(" ");
    if (fstype !== "cgroup") continue;
    const fields = left.split(" ");
    const options = superOptions.split(",");
    for (const c of CONTROLLERS) if (options.includes(c) && !mounts.has(c)) mounts.set(c, { root: fields[3], mountPoint: fields[4] });
  }
  return mounts;
}

/** This process's group in each v1 hierarchy (from /proc/self/cgroup: "4:memory:/process_api/abc"). */
function ownGroups(): Map<string, string> {
  const groups = new Map<string, string>();
  try {
    for (const line of fs.readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
      const m = /^\d+:([^:]*):(.*)$/.exec(line);
      if (m) for (const c of m[1].split(",")) if (c) groups.set(c, m[2]);
    }
  } catch {
    // no /proc
  }
  return groups;
}

/** A kernel's group is named after the grader that made it: coursekit-kernel-<grader pid>-<random>. */
const PREFIX = "coursekit-kernel-";

/** Whether a process is alive and is a Node.js process (a grader), not a recycled pid. */
function graderAlive(pid: number): boolean {
  try {
    return /node/.test(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return false;
  }
}

/**
 * The groups a grader that is gone left behind (it was killed before it could remove them): every process
 * still in one is killed (a sandbox whose grader died mid-start can outlive it), then the group is removed.
 */
function removeStale(parent: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    const owner = Number(n.slice(PREFIX.length).split("-")[0]);
    if (!Number.isInteger(owner) || owner === process.pid || graderAlive(owner)) continue;
    const dir = path.join(parent, n);
    try {
      for (const pid of fs
        .readFileSync(path.join(dir, "cgroup.procs"), "utf8")
        .split("\n")
        .filter((l) => /^\d+$/.test(l))) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone
        }
      }
      fs.rmdirSync(dir);
    } catch {
      // still emptying (removed next time) or gone
    }
  }
}

/** A kernel's cgroup: one folder per controller, made with the limits written, removed at the end. */
export class KernelCgroup {
  private constructor(private readonly dirs: Map<Controller, string>) {}

  /**
   * Makes a group with these limits, or returns why it cannot (then every limit is only watched).
   * Everything made is removed again when a step fails.
   */
  static create(limits: CgroupLimits): KernelCgroup | { unavailable: string } {
    if (process.platform !== "linux") return { unavailable: `no cgroups on ${process.platform}` };
    const mounts = v1Mounts();
    const missing = CONTROLLERS.filter((c) => !mounts.has(c));
    if (missing.length > 0) return { unavailable: `no cgroup v1 ${missing.join(", ")} hierarchy (cgroup v2 is not supported yet)` };
    const own = ownGroups();
    if (process.env.COURSEKIT_CGROUPS === "none") return { unavailable: "COURSEKIT_CGROUPS=none" };
    const name = `${PREFIX}${process.pid}-${randomUUID().slice(0, 12)}`;
    const dirs = new Map<Controller, string>();
    const group = new KernelCgroup(dirs);
    try {
      for (const c of CONTROLLERS) {
        const { mountPoint, root } = mounts.get(c) as Mount;
        const rel = path.posix.relative(root, own.get(c) ?? "/");
        const parent = path.join(mountPoint, rel.startsWith("..") ? "" : rel);
        removeStale(parent);
        const dir = path.join(parent, name);
        fs.mkdirSync(dir);
        dirs.set(c, dir);
      }
      const memory = dirs.get("memory") as string;
      fs.writeFileSync(path.join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
      // With swap accounting, memory + swap gets the same limit (no escape into swap).
      const memsw = path.join(memory, "memory.memsw.limit_in_bytes");
      if (fs.existsSync(memsw)) fs.writeFileSync(memsw, String(limits.memoryBytes));
      fs.writeFileSync(path.join(dirs.get("pids") as string, "pids.max"), String(limits.maxTasks));
      return group;
    } catch (e) {
      group.removeNow();
      const code = (e as NodeJS.ErrnoException).code;
      return { unavailable: `cannot make a cgroup here (${code ?? String(e)}; a root grader on cgroup v1 can)` };
    }
  }

  /**
   * The command that runs `command` inside the group: a shell that moves itself into every controller's
   * group, then execs the command (same pid, so nothing it starts is outside).
   */
  enterCommand(command: string[]): string[] {
    const script = 'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
    const procs = [...this.dirs.values()].map((d) => path.join(d, "cgroup.procs"));
    return ["/bin/sh", "-c", script, "coursekit-cgroup", ...procs, "--", ...command];
  }

  private read(c: Controller, file: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.dirs.get(c) as string, file), "utf8");
    } catch {
      return undefined;
    }
  }

  /** CPU seconds used by every process that ever ran in the group (exited ones included). */
  cpuSeconds(): number | undefined {
    const ns = Number(this.read("cpuacct", "cpuacct.usage"));
    return Number.isFinite(ns) ? ns / 1e9 : undefined;
  }

  /** Memory charged to the group now (resident memory, tmpfs files, page cache), in bytes. */
  memoryBytes(): number | undefined {
    const b = Number(this.read("memory", "memory.usage_in_bytes"));
    return Number.isFinite(b) ? b : undefined;
  }

  /** True once Linux's OOM killer has killed a process of the group for going over its memory limit. */
  oomKilled(): boolean {
    const m = /^oom_kill (\d+)$/m.exec(this.read("memory", "memory.oom_control") ?? "");
    if (m) return Number(m[1]) > 0;
    return /^under_oom 1$/m.test(this.read("memory", "memory.oom_control") ?? "");
  }

  /** True once a fork or a new thread was refused for going over the group's process ceiling. */
  processLimitHit(): boolean {
    const m = /^max (\d+)$/m.exec(this.read("pids", "pids.events") ?? "");
    return !!m && Number(m[1]) > 0;
  }

  /** The pids of every process in the group now. */
  pids(): number[] {
    return (this.read("pids", "cgroup.procs") ?? "")
      .split("\n")
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
  }

  /** SIGKILL to every process in the group (also one that left the kernel's process tree). */
  killAll(): void {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }

  /** Removes the group once its processes are gone (they are killed first), trying for up to 5 s. */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 50 && this.dirs.size > 0; attempt++) {
      this.killAll();
      this.removeNow();
      if (this.dirs.size > 0) await sleep(100);
    }
  }

  /** One attempt at removing every folder of the group (a folder still holding processes stays). */
  removeNow(): void {
    for (const [c, dir] of this.dirs) {
      try {
        fs.rmdirSync(dir);
        this.dirs.delete(c);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") this.dirs.delete(c);
      }
    }
  }
}
