import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

/**
 * Pinning and CPU accounting for the bench's processes (Linux): `taskset` from util-linux starts a
 * process on a set of CPUs (every thread it creates later inherits it), and `/proc` says where each
 * thread may run and how much CPU it used.
 */

/** "0-2,5" -> [0, 1, 2, 5]. */
export function parseCpuList(list: string): number[] {
  const out = new Set<number>();
  for (const part of list.split(',').map((p) => p.trim())) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`not a CPU list: '${list}' (expected e.g. 0 or 1-3 or 0,2)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`not a CPU list: '${list}'`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  if (!out.size) throw new Error(`not a CPU list: '${list}'`);
  return [...out].sort((x, y) => x - y);
}

export const formatCpuList = (cpus: number[]) => cpus.join(',');

let tasksetOk: boolean | undefined;
/** Whether processes can be pinned here: Linux with /proc and util-linux's `taskset`. */
export function canPin(): boolean {
  if (tasksetOk === undefined) {
    tasksetOk =
      existsSync('/proc/self/status') && spawnSync('taskset', ['-c', '-p', String(process.pid)], { stdio: 'ignore' }).status === 0;
  }
  return tasksetOk;
}

/** The CPUs a thread may run on, from its Cpus_allowed_list. */
export function allowedCpus(pid: number, tid: number = pid): number[] {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
  if (!m) throw new Error(`no Cpus_allowed_list for thread ${tid} of ${pid}`);
  return parseCpuList(m[1]!);
}

const tids = (pid: number) => readdirSync(`/proc/${pid}/task`).map(Number);

/** Every thread of `pid` with the CPUs it may run on (threads that end meanwhile are left out). */
export function threadAffinity(pid: number): { tid: number; name: string; cpus: number[] }[] {
  const out: { tid: number; name: string; cpus: number[] }[] = [];
  for (const tid of tids(pid)) {
    try {
      out.push({
        tid,
        name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
        cpus: allowedCpus(pid, tid),
      });
    } catch {} // the thread ended
  }
  return out;
}

/** Checks that every thread of `pid` may run on exactly `cpus`; a sentence for the log, or an error naming the strays. */
export function checkPinned(label: string, pid: number, cpus: number[]): string {
  const want = formatCpuList(cpus);
  const threads = threadAffinity(pid);
  const stray = threads.filter((t) => formatCpuList(t.cpus) !== want);
  if (stray.length)
    throw new Error(
      `${label} (pid ${pid}): ${stray.length} of ${threads.length} threads not pinned to ${want}: ${stray.map((t) => `${t.tid} ${t.name} on ${formatCpuList(t.cpus)}`).join('; ')}`,
    );
  return `${label} pid ${pid}: all ${threads.length} threads on CPU ${want}`;
}

/** Pins every thread of a running process (the bench's own, so that it stays off the server's CPUs). */
export function pinRunning(pid: number, cpus: number[]) {
  const r = spawnSync('taskset', ['-a', '-c', '-p', formatCpuList(cpus), String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset -a -p ${formatCpuList(cpus)} ${pid} failed: ${r.stderr || r.error?.message}`);
}

/**
 * Node running `args`, pinned to `cpus` when given (taskset execs node, so the pid is node's), with an
 * IPC channel. `--import tsx` lets the entry be TypeScript, as for `pnpm bench` itself.
 */
export function spawnNode(args: string[], cpus: number[] | undefined, opts: SpawnOptions = {}): ChildProcess {
  const node = [process.execPath, '--expose-gc', '--import', 'tsx', ...args];
  const [cmd, ...rest] = cpus ? ['taskset', '-c', formatCpuList(cpus), ...node] : node;
  return spawn(cmd!, rest, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...opts });
}

let clkTck: number | undefined;
/** Clock ticks a second, the unit of /proc's utime and stime. */
function ticksPerSecond() {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clkTck = Number(r.stdout) > 0 ? Number(r.stdout) : 100;
  }
  return clkTck;
}

/** utime + stime in µs from a /proc stat line (the fields after the command name, which may hold spaces). */
function statCpuUs(line: string) {
  const f = line.slice(line.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / ticksPerSecond();
}

export interface CpuSample {
  /** The whole process, threads that ended included. */
  processUs: number;
  /** Each live thread: 'main' for the event loop's, else its name (comm) and id, as name#tid. */
  threads: Map<string, number>;
  /** How long the event loop's thread has been runnable but waiting for a CPU (schedstat), if known. */
  mainWaitUs?: number | undefined;
}

/** Run-queue wait in µs: the second field of /proc/<pid>/task/<tid>/schedstat (ns), if the kernel keeps it. */
function waitUs(pid: number): number | undefined {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]);
    return Number.isFinite(ns) ? ns / 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The CPU time `pid` has used so far, in total and by thread. */
export function cpuSample(pid: number): CpuSample {
  const threads = new Map<string, number>();
  for (const tid of tids(pid)) {
    try {
      const name = tid === pid ? 'main' : `${readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()}#${tid}`;
      threads.set(name, statCpuUs(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
    } catch {} // the thread ended
  }
  return { processUs: statCpuUs(readFileSync(`/proc/${pid}/stat`, 'utf8')), threads, mainWaitUs: waitUs(pid) };
}

/**
 * CPU used between two samples: the process's total, its event loop's thread ('main'), and each other
 * thread by id (Node 20 leaves them all named 'node': libuv's pool, V8's helpers, worker threads).
 */
export function cpuBetween(
  a: CpuSample,
  b: CpuSample,
): { processUs: number; mainUs: number; otherThreadsUs: number; threads: Record<string, number>; mainWaitUs?: number } {
  const threads: Record<string, number> = {};
  for (const [k, v] of b.threads) threads[k] = v - (a.threads.get(k) ?? 0);
  const mainUs = threads.main ?? 0;
  const processUs = b.processUs - a.processUs;
  const wait = a.mainWaitUs !== undefined && b.mainWaitUs !== undefined ? { mainWaitUs: b.mainWaitUs - a.mainWaitUs } : {};
  return { processUs, mainUs, otherThreadsUs: processUs - mainUs, threads, ...wait };
}
