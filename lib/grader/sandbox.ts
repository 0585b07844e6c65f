/**
 * The sandbox a grading kernel runs in (Linux namespaces through bubblewrap, Debian's `bubblewrap`):
 *   - it sees only what a notebook needs, read-only: the system's programs and libraries, and from the
 *     course repository lib/, node_modules/, datasets/, results/, package.json and tsconfig.json. The
 *     repository folder itself is a small in-memory scratch space (files a notebook writes, e.g. out/, land
 *     there and vanish); nothing of solutions/, notebooks/, other submissions or the grader's files;
 *   - no network (its own network namespace), its own PID namespace (it cannot see or signal the grader;
 *     when the sandbox's first process dies, every process in it dies), no capabilities;
 *   - a scrubbed environment: PATH, HOME, LANG, the kernel's own COURSEKIT_* variables and the grading seed;
 *   - it runs as uid/gid nobody (65534) in its own user namespace, without capabilities;
 *   - nothing it can write is on the host's disk or visible to the host's users: "/" and /dev are
 *     read-only, and the only writable places are size-limited tmpfs mounts of its own mount namespace,
 *     all nosuid and nodev (/tmp, /dev/shm, the repository's scratch space, and SANDBOX_RUN_DIR, where its
 *     sockets are). The grader reaches those sockets through /proc/<pid>/root/, which only the grader's own
 *     uid (and root) may enter: a setuid file planted there is out of every other user's reach.
 * Memory (tmpfs files included), process count and CPU time (exited children included) are enforced by a
 * cgroup where the machine offers one (lib/grader/cgroup.ts) and watched by the kernel client
 * (lib/grader/kernel-client.ts) from outside in every case; output is capped by the kernel client.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface SandboxSpec {
  /** The course repository (its lib/, node_modules/, datasets/ are mounted read-only). */
  root: string;
  /** The kernel's connection file on the host: mounted read-only at `${SANDBOX_RUN_DIR}/kernel.json`. */
  connectionFile: string;
  /** Environment variables of the kernel (the only ones it gets). */
  env: Record<string, string>;
  /** Size of each writable tmpfs (/tmp, /dev/shm and the repository's scratch space), in MiB. */
  diskMiB: number;
  /** A folder mounted read-only as the repository's lib/ instead of the real one (a verdict run's library). */
  libDir?: string;
}

/** The kernel's own folder inside the sandbox (a 1 MiB tmpfs): its connection file and its sockets. */
export const SANDBOX_RUN_DIR = "/run/coursekit-kernel";
/** The uid and gid the kernel runs as inside the sandbox (nobody). */
export const SANDBOX_UID = 65534;
const RUN_DIR_BYTES = 1024 * 1024;

/** What the kernel sees of the repository, read-only. */
export const SANDBOX_REPO_PATHS = ["lib", "node_modules", "datasets", "results", "package.json", "tsconfig.json"];

const SYSTEM_ETC = [
  "passwd",
  "group",
  "hosts",
  "nsswitch.conf",
  "localtime",
  "ssl",
  "ca-certificates",
  "alternatives",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
];

let cachedBwrap: string | null | undefined;

/** Where bubblewrap may be: COURSEKIT_BWRAP (a path, or "none" to do without), else the usual places. */
function bwrapCandidates(): string[] {
  const chosen = process.env.COURSEKIT_BWRAP;
  if (chosen) return chosen === "none" ? [] : [chosen];
  return ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"];
}

/** The bubblewrap binary, if it is installed and can create namespaces here (checked once). */
export function findBwrap(): string | null {
  if (cachedBwrap !== undefined) return cachedBwrap;
  cachedBwrap = null;
  for (const candidate of bwrapCandidates()) {
    if (!fs.existsSync(candidate)) continue;
    try {
      execFileSync(candidate, ["--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--", "/bin/true"], { stdio: "ignore", timeout: 20000 });
      cachedBwrap = candidate;
    } catch {
      // installed but not usable (no user namespaces, seccomp): treated as missing
    }
    break;
  }
  return cachedBwrap;
}

/** Why sandboxing is unavailable here (for error messages), or null. */
export function sandboxUnavailableReason(): string | null {
  if (process.platform !== "linux") return `kernels can be sandboxed on Linux only (this is ${process.platform})`;
  if (findBwrap()) return null;
  if (process.env.COURSEKIT_BWRAP === "none") return "COURSEKIT_BWRAP=none";
  const installed = bwrapCandidates().some((p) => fs.existsSync(p));
  return installed
    ? "bubblewrap is installed but cannot create namespaces here (user namespaces disabled?)"
    : "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; npm run setup does it as root)";
}

/** The folders a path needs to exist inside the sandbox, outermost first ("/a", "/a/b"). */
function parents(p: string): string[] {
  const out: string[] = [];
  let dir = path.dirname(p);
  while (dir !== path.dirname(dir)) {
    out.unshift(dir);
    dir = path.dirname(dir);
  }
  return out;
}

/** bubblewrap's arguments for running `command` in the sandbox. */
export function bwrapArgs(spec: SandboxSpec, command: string[]): string[] {
  const a: string[] = [];
  const diskBytes = String(spec.diskMiB * 1024 * 1024);
  /** A writable tmpfs of its own, size-limited (bubblewrap mounts every tmpfs nosuid and nodev). */
  const tmpfs = (dir: string, bytes: string, perms = "1777") => a.push("--perms", perms, "--size", bytes, "--tmpfs", dir);
  a.push("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL");
  a.push("--uid", String(SANDBOX_UID), "--gid", String(SANDBOX_UID));
  a.push("--ro-bind", "/usr", "/usr");
  for (const link of ["bin", "lib", "lib32", "lib64", "libx32", "sbin"]) {
    const host = `/${link}`;
    if (!fs.existsSync(host)) continue;
    const st = fs.lstatSync(host);
    if (st.isSymbolicLink()) a.push("--symlink", fs.readlinkSync(host), host);
    else a.push("--ro-bind", host, host);
  }
  for (const name of SYSTEM_ETC) if (fs.existsSync(`/etc/${name}`)) a.push("--ro-bind", `/etc/${name}`, `/etc/${name}`);
  // Node itself when it lives outside /usr (nvm, /opt): its installation folder, read-only.
  const node = fs.realpathSync(process.execPath);
  if (!node.startsWith("/usr/")) {
    const prefix = path.dirname(path.dirname(node));
    a.push("--ro-bind", prefix, prefix);
  }
  a.push("--proc", "/proc", "--dev", "/dev");
  tmpfs("/dev/shm", diskBytes);
  a.push("--remount-ro", "/dev");
  tmpfs("/tmp", diskBytes);
  const root = fs.realpathSync(spec.root);
  for (const dir of parents(root)) a.push("--dir", dir);
  tmpfs(root, diskBytes);
  for (const rel of SANDBOX_REPO_PATHS) {
    const p = path.join(root, rel);
    const from = rel === "lib" && spec.libDir ? spec.libDir : p;
    if (fs.existsSync(from)) a.push("--ro-bind", from, p);
  }
  a.push("--dir", path.dirname(SANDBOX_RUN_DIR));
  tmpfs(SANDBOX_RUN_DIR, String(RUN_DIR_BYTES), "0700");
  a.push("--ro-bind", spec.connectionFile, `${SANDBOX_RUN_DIR}/kernel.json`);
  a.push("--remount-ro", "/");
  a.push("--clearenv");
  for (const [k, v] of Object.entries(spec.env)) a.push("--setenv", k, v);
  a.push("--chdir", root, "--", ...command);
  return a;
}
