import { writeFileSync } from 'node:fs';
import type { Load } from './load.ts';
import { cpuBetween, cpuSample, type CpuSample } from './pin.ts';

/** One measured row, as `pnpm bench --json` writes it. */
export interface Row {
  scenario: string;
  /** CPUs the server processes were pinned to (absent: everything in one process, or an in-process suite). */
  cores?: number;
  reqPerSec: number;
  reqPerSecPerCore?: number;
  p50Ms: number;
  p99Ms: number;
  /** The gateway process's CPU time a request (user + system, settling between slices included): all, its event loop, its other threads. */
  cpuUsPerReq?: number;
  mainThreadUsPerReq?: number;
  otherThreadsUsPerReq?: number;
  /** How long the event loop waited for a CPU while it had work, a request (schedstat; Linux). */
  mainWaitUsPerReq?: number;
  /** By thread ('main' = the event loop; Node 20 names the others 'node', told apart by thread id). */
  threadsUsPerReq?: Record<string, number>;
  /** CPU the gateway used over wall time times its cores, and the load generator's over wall time (1 = one CPU). */
  serverBusy?: number;
  loadBusy?: number;
  baseline: string;
  baselineReqPerSec: number;
  baselineReqPerSecPerCore?: number;
  baselineCpuUsPerReq?: number;
  baselineLoadBusy?: number;
  baselineThreadsUsPerReq?: Record<string, number>;
  /** The baseline's p50 and p99 as the subject's are taken (the worst slice), for the tail it would have itself. */
  baselineP50Ms?: number;
  baselineP99Ms?: number;
  ratio: number;
  /** Other references measured in the same slices (core in-process ...), with the ratio to each. */
  also?: {
    name: string;
    reqPerSec: number;
    reqPerSecPerCore?: number;
    cpuUsPerReq?: number;
    loadBusy?: number;
    threadsUsPerReq?: Record<string, number>;
    ratio: number;
  }[];
  /** The subject's slices, for the p99 of each round. */
  slices?: { reqPerSec: number; p50Ms: number; p99Ms: number; server?: ServerSeen | undefined }[];
}

export interface Measure {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  ops: number;
}

/**
 * A closed loop: `concurrency` callers each run `op` back to back for `ms`, or until `requests` have
 * started (bench/instructions.ts, where time means little).
 */
export async function closedLoop(op: () => Promise<unknown>, concurrency: number, ms: number, requests = Infinity): Promise<Measure> {
  const lat: number[] = [];
  const end = performance.now() + ms;
  const start = performance.now();
  let started = 0;
  const worker = async () => {
    while (performance.now() < end && started++ < requests) {
      const t = performance.now();
      await op();
      lat.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - start;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return { opsPerSec: (lat.length / elapsed) * 1000, p50Ms: q(0.5), p99Ms: q(0.99), ops: lat.length };
}

/**
 * Requests started at a fixed rate (`perSec`), at most `concurrency` in flight: what a server costs at a
 * load it keeps up with, rather than at saturation, where each turn carries as many requests as are
 * waiting. Latency counts from when a request was due, so a server that falls behind shows it (no
 * coordinated omission); a request still waiting for a free connection at the end is not sent, and
 * counts in the percentiles with the wait it had so far.
 */
export function openLoop(op: () => Promise<unknown>, perSec: number, concurrency: number, ms: number): Promise<Measure> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    const start = performance.now();
    const waiting: number[] = [];
    let started = 0;
    let inFlight = 0;
    let stopped = false;
    let failed = false;
    const finish = () => {
      const now = performance.now();
      const ops = lat.length;
      for (const due of waiting) lat.push(now - due);
      lat.sort((a, b) => a - b);
      const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
      resolve({ opsPerSec: (ops / (now - start)) * 1000, p50Ms: q(0.5), p99Ms: q(0.99), ops });
    };
    const send = (due: number) => {
      inFlight++;
      op().then(
        () => {
          lat.push(performance.now() - due);
          inFlight--;
          const next = stopped ? undefined : waiting.shift();
          if (next !== undefined) send(next);
          else if (stopped && !inFlight && !failed) finish();
        },
        (e) => {
          failed = stopped = true;
          clearInterval(timer);
          reject(e);
        },
      );
    };
    const timer = setInterval(() => {
      const now = performance.now();
      for (const due = Math.min(ms, now - start) * (perSec / 1000); started < due; started++) {
        const at = start + (started * 1000) / perSec;
        if (inFlight < concurrency) send(at);
        else waiting.push(at);
      }
      if (now - start < ms) return;
      stopped = true;
      clearInterval(timer);
      if (!inFlight) finish();
    }, 1);
  });
}

/** What a row measures: an operation run in this process, or a load from a generator on its own thread. */
export type Subject = (() => Promise<unknown>) | Load;
export const measure = (s: Subject, concurrency: number, ms: number) =>
  typeof s === 'function' ? closedLoop(s, concurrency, ms) : s.measure(concurrency, ms);

/**
 * Baseline and subject alternate in `rounds` slices, so drift on a shared machine hits both alike;
 * the figures are the totals over all slices.
 */
export async function compare(
  scenario: string,
  baselineName: string,
  baseline: () => Promise<unknown>,
  subject: () => Promise<unknown>,
  opts: { concurrency: number; ms: number; rounds?: number },
): Promise<Row> {
  const rounds = opts.rounds ?? 2;
  const slice = opts.ms / rounds;
  await closedLoop(baseline, opts.concurrency, Math.min(300, slice / 2));
  await closedLoop(subject, opts.concurrency, Math.min(300, slice / 2));
  const b: Measure[] = [];
  const s: Measure[] = [];
  // This process's CPU over each side's slices: every thread, PGlite's included (a Postgres server's is not).
  const cpu = { b: 0, s: 0 };
  const timed = async (side: 'b' | 's', op: () => Promise<unknown>) => {
    const c0 = process.cpuUsage();
    const m = await closedLoop(op, opts.concurrency, slice);
    const c = process.cpuUsage(c0);
    cpu[side] += c.user + c.system;
    return m;
  };
  for (let i = 0; i < rounds; i++) {
    b.push(await timed('b', baseline));
    s.push(await timed('s', subject));
  }
  const rate = (m: Measure[]) => m.reduce((a, x) => a + x.opsPerSec, 0) / m.length;
  const worst = (m: Measure[], k: 'p50Ms' | 'p99Ms') => Math.max(...m.map((x) => x[k]));
  const ops = (m: Measure[]) => m.reduce((a, x) => a + x.ops, 0);
  const reqPerSec = rate(s);
  const baselineReqPerSec = rate(b);
  return {
    scenario,
    reqPerSec,
    p50Ms: worst(s, 'p50Ms'),
    p99Ms: worst(s, 'p99Ms'),
    cpuUsPerReq: Math.round(cpu.s / ops(s)),
    baseline: baselineName,
    baselineReqPerSec,
    baselineCpuUsPerReq: Math.round(cpu.b / ops(b)),
    ratio: reqPerSec / baselineReqPerSec,
  };
}

/** Something measured in a row: a load, and where it is served when that is a process of its own. */
export interface Entry {
  name: string;
  run: Subject;
  /** The serving process (its CPU is read from /proc around each slice). */
  pid?: number | undefined;
  /** How to read its CPU when it is more than one process (`pid`'s alone otherwise). */
  cpu?: (() => CpuSample) | undefined;
  /** The load generator's process (how busy it was: at 100% it, not the server, set the pace). */
  loadPid?: number | undefined;
  /** The background work a slice leaves behind in that server, done untimed before the next slice. */
  settle?: (() => Promise<unknown>) | undefined;
}

/** What a server process saw of a slice (bench/serve.ts): its longest event-loop stall and GC pause. */
export interface ServerSeen {
  loopMaxMs: number;
  gcMaxMs: number;
}
const isSeen = (v: unknown): v is ServerSeen => typeof (v as ServerSeen | undefined)?.loopMaxMs === 'number';

interface Slice extends Measure {
  wallMs: number;
  server?: ServerSeen | undefined;
  cpu?: ReturnType<typeof cpuBetween>;
  loadUs?: number;
}

/** One slice: the load for `ms`, then the server's settling; the server's CPU over both (the work the slice caused). */
async function slice(e: Entry, concurrency: number, ms: number, settle: () => Promise<unknown>): Promise<Slice> {
  const sample = () => (e.cpu ? e.cpu() : cpuSample(e.pid!));
  const c0 = e.pid ? sample() : undefined;
  const l0 = e.loadPid ? cpuSample(e.loadPid).processUs : undefined;
  const t0 = performance.now();
  const m = await measure(e.run, concurrency, ms);
  const wallMs = performance.now() - t0;
  const loadUs = e.loadPid && l0 !== undefined ? cpuSample(e.loadPid).processUs - l0 : undefined;
  const seen = await (e.settle ?? settle)();
  return {
    ...m,
    wallMs,
    ...(isSeen(seen) ? { server: seen } : {}),
    ...(c0 ? { cpu: cpuBetween(c0, sample()) } : {}),
    ...(loadUs !== undefined ? { loadUs } : {}),
  };
}

/** Each thread's CPU a request over the slices, the busiest first (the rest summed as 'others'). */
function perThread(cpu: ReturnType<typeof cpuBetween>[], ops: number): Record<string, number> {
  const t = new Map<string, number>();
  for (const c of cpu) for (const [k, v] of Object.entries(c.threads)) t.set(k, (t.get(k) ?? 0) + v);
  const sorted = [...t].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
  const out: Record<string, number> = Object.fromEntries(sorted.slice(0, 6).map(([k, v]) => [k, Math.round(v / ops)]));
  const rest = sorted.slice(6).reduce((a, [, v]) => a + v, 0);
  if (rest) out.others = Math.round(rest / ops);
  return out;
}

/** What a row reports of one entry's slices: the mean rate, and with a pid, the CPU a request cost. */
function summary(s: Slice[], cores: number | undefined) {
  const ops = s.reduce((a, x) => a + x.ops, 0);
  const reqPerSec = s.reduce((a, x) => a + x.opsPerSec, 0) / s.length;
  const wallUs = s.reduce((a, x) => a + x.wallMs, 0) * 1000;
  const cpu = s.every((x) => x.cpu) ? s.map((x) => x.cpu!) : undefined;
  const sum = (k: 'processUs' | 'mainUs' | 'otherThreadsUs') => cpu!.reduce((a, x) => a + x[k], 0);
  return {
    reqPerSec,
    ...(cores ? { reqPerSecPerCore: reqPerSec / cores } : {}),
    ...(cpu && ops
      ? {
          cpuUsPerReq: sum('processUs') / ops,
          mainThreadUsPerReq: sum('mainUs') / ops,
          otherThreadsUsPerReq: sum('otherThreadsUs') / ops,
          // The server's share of its CPUs while loaded (settling included): well under 1 on an idle
          // machine means something other than its CPU set the pace.
          serverBusy: sum('processUs') / (wallUs * (cores ?? 1)),
          threadsUsPerReq: perThread(cpu, ops),
          ...(cpu.every((c) => c.mainWaitUs !== undefined) ? { mainWaitUsPerReq: cpu.reduce((a, c) => a + c.mainWaitUs!, 0) / ops } : {}),
        }
      : {}),
    ...(s.every((x) => x.loadUs !== undefined) ? { loadBusy: s.reduce((a, x) => a + x.loadUs!, 0) / wallUs } : {}),
  };
}

/** Server processes that have had their first warm-up. */
const warmed = new Set<number>();

/**
 * The subject and every reference alternate in `rounds` slices; the first reference is the row's
 * baseline (its ratio is the one the targets speak of), the others are reported beside it. With
 * `cores`, the servers run in processes pinned to that many CPUs and rates are also given per core.
 */
export async function compareMany(
  scenario: string,
  references: Entry[],
  subject: Subject | Entry,
  opts: {
    concurrency: number;
    ms: number;
    rounds?: number;
    settle?: (() => Promise<unknown>) | undefined;
    cores?: number | undefined;
  },
): Promise<Row> {
  const subj: Entry = typeof subject === 'function' || 'measure' in subject ? { name: scenario, run: subject } : subject;
  const rounds = opts.rounds ?? 2;
  const sliceMs = opts.ms / rounds;
  // Background work one slice leaves behind (audit rows to write, garbage to collect: core in-process
  // leaves ~50k events a second) is done between slices, untimed, so it is not billed to what runs next.
  const settle = async () => {
    await opts.settle?.();
    globalThis.gc?.();
  };
  // Warm-up, untimed: connections, JIT, caches; longer for a server's first row, which otherwise
  // carried its start-up (a suite's first row measured far below the rest, whichever server it was).
  const warm = Math.min(1000, sliceMs / 2);
  for (const e of [...references, subj]) {
    const fresh = e.pid !== undefined && !warmed.has(e.pid);
    if (e.pid !== undefined) warmed.add(e.pid);
    await measure(e.run, opts.concurrency, fresh ? Math.max(warm, 3000) : warm);
  }
  for (const e of [...references, subj]) await (e.settle ?? settle)();
  const refs: Slice[][] = references.map(() => []);
  const s: Slice[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const [j, r] of references.entries()) refs[j]!.push(await slice(r, opts.concurrency, sliceMs, settle));
    s.push(await slice(subj, opts.concurrency, sliceMs, settle));
  }
  const worst = (m: Slice[], k: 'p50Ms' | 'p99Ms') => Math.max(...m.map((x) => x[k]));
  const subjectSummary = summary(s, opts.cores);
  const [base, ...others] = references.map((r, j) => {
    const { reqPerSec, reqPerSecPerCore, cpuUsPerReq, loadBusy, threadsUsPerReq } = summary(refs[j]!, opts.cores);
    return {
      name: r.name,
      reqPerSec,
      ratio: subjectSummary.reqPerSec / reqPerSec,
      ...(reqPerSecPerCore !== undefined ? { reqPerSecPerCore } : {}),
      ...(cpuUsPerReq !== undefined ? { cpuUsPerReq } : {}),
      ...(loadBusy !== undefined ? { loadBusy } : {}),
      ...(threadsUsPerReq ? { threadsUsPerReq } : {}),
    };
  });
  return {
    scenario,
    ...(opts.cores ? { cores: opts.cores } : {}),
    ...subjectSummary,
    p50Ms: worst(s, 'p50Ms'),
    p99Ms: worst(s, 'p99Ms'),
    baseline: base!.name,
    baselineReqPerSec: base!.reqPerSec,
    ...(base!.reqPerSecPerCore !== undefined ? { baselineReqPerSecPerCore: base!.reqPerSecPerCore } : {}),
    ...(base!.cpuUsPerReq !== undefined ? { baselineCpuUsPerReq: base!.cpuUsPerReq } : {}),
    ...(base!.loadBusy !== undefined ? { baselineLoadBusy: base!.loadBusy } : {}),
    ...(base!.threadsUsPerReq ? { baselineThreadsUsPerReq: base!.threadsUsPerReq } : {}),
    baselineP50Ms: worst(refs[0]!, 'p50Ms'),
    baselineP99Ms: worst(refs[0]!, 'p99Ms'),
    ratio: base!.ratio,
    ...(others.length ? { also: others } : {}),
    slices: s.map((x) => ({ reqPerSec: x.opsPerSec, p50Ms: x.p50Ms, p99Ms: x.p99Ms, server: x.server })),
  };
}

/**
 * p99 over p50 (the goal's measure of the tail), each the worst slice's as the table gives them, and the
 * baseline's taken the same way: the same transport's own tail.
 */
const tail = (r: Row) =>
  `, ${(r.p99Ms / r.p50Ms).toFixed(1)}x p50${r.baselineP50Ms ? ` (baseline ${(r.baselineP99Ms! / r.baselineP50Ms).toFixed(1)}x)` : ''}`;

/** The server's longest event-loop stall and GC pause in each slice, where it reported them. */
const stallsOf = (r: Row) => {
  const seen = (r.slices ?? []).map((x) => x.server);
  if (!seen.length || !seen.every((x) => x)) return '';
  const ms = (k: keyof ServerSeen) => seen.map((x) => x![k].toFixed(0)).join(' / ');
  return `; longest stall ${ms('loopMaxMs')} ms, GC pause ${ms('gcMaxMs')} ms`;
};

const us = (n: number | undefined) => (n === undefined ? '' : n.toFixed(0));

export function printTable(rows: Row[]) {
  const pinned = rows.some((r) => r.cores);
  let head = [
    'scenario',
    pinned ? 'req/s/core' : 'req/s',
    'p50 ms',
    'p99 ms',
    'cpu us/req',
    'baseline',
    pinned ? 'base req/s/core' : 'base req/s',
    'base cpu us/req',
    'ratio',
    'also',
  ];
  let body = rows.map((r) => [
    r.scenario,
    (r.reqPerSecPerCore ?? r.reqPerSec).toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    us(r.cpuUsPerReq),
    r.baseline,
    (r.baselineReqPerSecPerCore ?? r.baselineReqPerSec).toFixed(0),
    us(r.baselineCpuUsPerReq),
    r.ratio.toFixed(2),
    (r.also ?? [])
      .map(
        (a) =>
          `${a.ratio.toFixed(2)} of ${a.name} (${(a.reqPerSecPerCore ?? a.reqPerSec).toFixed(0)}/s${a.cpuUsPerReq !== undefined ? `, ${us(a.cpuUsPerReq)} us` : ''})`,
      )
      .join('; '),
  ]);
  // Without CPU figures, no CPU columns.
  const keep = head.map((_, i) => !(i === 4 || i === 7) || body.some((b) => b[i]));
  const pick = <T>(a: T[]) => a.filter((_, i) => keep[i]);
  const left = new Set(pick(head.map((_, i) => i)).flatMap((orig, i) => ([0, 5, 9].includes(orig) ? [i] : [])));
  head = pick(head);
  body = body.map(pick);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (left.has(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const b of body) console.log(line(b));
  const detail = rows.filter((r) => r.mainThreadUsPerReq !== undefined);
  if (detail.length) {
    console.log(
      "\nCPU a request costs the gateway process (us: event loop + other threads; the event loop's wait for a CPU), how busy its CPUs and the load generator were, p99 by slice and p99 over p50 (the baseline's beside it), and what the server saw:",
    );
    for (const r of detail) {
      const pct = (x: number | undefined) => (x === undefined ? '?' : `${(x * 100).toFixed(0)}%`);
      console.log(
        `  ${r.scenario}: ${us(r.mainThreadUsPerReq)} + ${us(r.otherThreadsUsPerReq)}${r.mainWaitUsPerReq !== undefined ? `, waited ${us(r.mainWaitUsPerReq)}` : ''}; server ${pct(r.serverBusy)}, load ${pct(r.loadBusy)}; p99 ${(r.slices ?? []).map((x) => x.p99Ms.toFixed(1)).join(' / ')} ms${tail(r)}${stallsOf(r)}`,
      );
    }
  }
}

export const writeJson = (file: string, rows: Row[]) => writeFileSync(file, `${JSON.stringify(rows, null, 2)}\n`);
