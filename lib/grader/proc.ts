/**
 * What the grader reads about a kernel's processes from Linux's /proc: the tree under a process, its CPU
 * time (so a time limit means the same on a busy machine as on an idle one) and its resident memory.
 * Where /proc is missing (macOS) every function answers "unknown" (undefined / empty), and the grader falls
 * back to wall-clock limits.
 */
import * as fs from "node:fs";

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** user + system CPU time, in seconds */
  cpuS: number;
  /** user + system CPU time of the children it has waited for (exited ones), in seconds */
  childCpuS: number;
  /** resident set size, in bytes */
  rssBytes: number;
}

const TICKS_PER_S = 100; // USER_HZ: 100 on every Linux architecture Node supports
const PAGE_BYTES = 4096;

export const hasProc = (): boolean => fs.existsSync("/proc/self/stat");

function readInfo(pid: number): ProcInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(rest[1]);
    const cpuTicks = Number(rest[11]) + Number(rest[12]);
    const childTicks = Number(rest[13]) + Number(rest[14]);
    const rssPages = Number(rest[21]);
    return { pid, ppid, cpuS: cpuTicks / TICKS_PER_S, childCpuS: childTicks / TICKS_PER_S, rssBytes: rssPages * PAGE_BYTES };
  } catch {
    return undefined; // gone, or not ours to read
  }
}

/** The process and all its descendants that are alive now. */
export function processTree(root: number): ProcInfo[] {
  if (!hasProc()) return [];
  const all: ProcInfo[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const info = readInfo(Number(name));
    if (info) all.push(info);
  }
  const children = new Map<number, ProcInfo[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const rootInfo = all.find((p) => p.pid === root);
  if (!rootInfo) return [];
  const out: ProcInfo[] = [];
  const stack = [rootInfo];
  while (stack.length > 0) {
    const p = stack.pop() as ProcInfo;
    out.push(p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

/** Sends a signal to every process in a list, ignoring those already gone. */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
