/**
 * Facts about processes straight from Linux's /proc, so tests about worker processes assert what the kernel sees
 * rather than what the service says about itself.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Pids whose parent is `pid` (any command). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let fields: string[];
    try {
      fields = statFields(`/proc/${entry}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    if (Number(fields[1]) === pid) children.push(Number(entry));
  }
  return children.sort((a, b) => a - b);
}

/** The nice value of each thread of this process, by thread id (the main thread's id is the pid). */
export function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      nices.set(Number(tid), Number(statFields(`/proc/self/task/${tid}/stat`)[16]));
    } catch {
      // exited meanwhile (a worker thread that was just terminated)
    }
  }
  return nices;
}

/**
 * The fields of a /proc stat file after "pid (comm)", from `state` on: comm may contain spaces and parentheses, so
 * they are split after the last ")".
 */
function statFields(file: string): string[] {
  const stat = readFileSync(file, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Resident memory of a process in MB (VmRSS of /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round(Number(kb) / 1024);
}

/** True while a process with this pid exists (zombies included until reaped). */
export function isAlive(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

/**
 * For each pid, how many ESTABLISHED TCP sockets whose local port is `localPort` it holds open: the server side of
 * client connections to that port, attributed to the process that owns each socket.
 */
export function establishedSocketsByPid(localPort: number, pids: readonly number[]): Map<number, number> {
  const inodes = establishedInodes(localPort);
  const owners = new Map<number, number>();
  for (const pid of pids) {
    let count = 0;
    for (const inode of socketInodes(pid)) if (inodes.has(inode)) count++;
    owners.set(pid, count);
  }
  return owners;
}

/** Inodes of ESTABLISHED (state 01) IPv4/IPv6 TCP sockets with this local port. */
function establishedInodes(localPort: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1];
      if (local === undefined || f[3] !== "01") continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === localPort && f[9] !== undefined) {
        inodes.add(f[9]);
      }
    }
  }
  return inodes;
}

function socketInodes(pid: number): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const inodes: string[] = [];
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.push(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}
