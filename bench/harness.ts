import { writeFileSync } from 'node:fs';
import type { Load } from './load.ts';

/** One measured row, as `pnpm bench --json` writes it. */
export interface Row {
  scenario: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  baseline: string;
  baselineReqPerSec: number;
  ratio: number;
  /** Other references measured in the same slices (core in-process ...), with the ratio to each. */
  also?: { name: string; reqPerSec: number; ratio: number }[];
}

export interface Measure {
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  ops: number;
}

/** A closed loop: `concurrency` callers each run `op` back to back for `ms`. */
export async function closedLoop(op: () => Promise<unknown>, concurrency: number, ms: number): Promise<Measure> {
  const lat: number[] = [];
  const end = performance.now() + ms;
  const start = performance.now();
  const worker = async () => {
    while (performance.now() < end) {
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

/** What a row measures: an operation run in this process, or a load from a generator on its own thread. */
export type Subject = (() => Promise<unknown>) | Load;
export const measure = (s: Subject, concurrency: number, ms: number) => (typeof s === 'function' ? closedLoop(s, concurrency, ms) : s.measure(concurrency, ms));

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
  for (let i = 0; i < rounds; i++) {
    b.push(await closedLoop(baseline, opts.concurrency, slice));
    s.push(await closedLoop(subject, opts.concurrency, slice));
  }
  const rate = (m: Measure[]) => m.reduce((a, x) => a + x.opsPerSec, 0) / m.length;
  const worst = (m: Measure[], k: 'p50Ms' | 'p99Ms') => Math.max(...m.map((x) => x[k]));
  const reqPerSec = rate(s);
  const baselineReqPerSec = rate(b);
  return { scenario, reqPerSec, p50Ms: worst(s, 'p50Ms'), p99Ms: worst(s, 'p99Ms'), baseline: baselineName, baselineReqPerSec, ratio: reqPerSec / baselineReqPerSec };
}

/**
 * The subject and every reference alternate in `rounds` slices; the first reference is the row's
 * baseline (its ratio is the one the targets speak of), the others are reported beside it.
 */
export async function compareMany(
  scenario: string,
  references: { name: string; run: Subject }[],
  subject: Subject,
  opts: { concurrency: number; ms: number; rounds?: number; settle?: (() => Promise<unknown>) | undefined },
): Promise<Row> {
  const rounds = opts.rounds ?? 2;
  const slice = opts.ms / rounds;
  // Background work one slice leaves behind (audit rows to write, garbage to collect: core in-process
  // leaves ~50k events a second) is done between slices, untimed, so it is not billed to what runs next.
  const settle = async () => {
    await opts.settle?.();
    globalThis.gc?.();
  };
  for (const r of references) await measure(r.run, opts.concurrency, Math.min(300, slice / 2));
  await measure(subject, opts.concurrency, Math.min(300, slice / 2));
  await settle();
  const refs: Measure[][] = references.map(() => []);
  const s: Measure[] = [];
  for (let i = 0; i < rounds; i++) {
    for (const [j, r] of references.entries()) {
      refs[j]!.push(await measure(r.run, opts.concurrency, slice));
      await settle();
    }
    s.push(await measure(subject, opts.concurrency, slice));
    await settle();
  }
  const rate = (m: Measure[]) => m.reduce((a, x) => a + x.opsPerSec, 0) / m.length;
  const worst = (m: Measure[], k: 'p50Ms' | 'p99Ms') => Math.max(...m.map((x) => x[k]));
  const reqPerSec = rate(s);
  const [base, ...others] = references.map((r, j) => ({ name: r.name, reqPerSec: rate(refs[j]!), ratio: reqPerSec / rate(refs[j]!) }));
  return {
    scenario,
    reqPerSec,
    p50Ms: worst(s, 'p50Ms'),
    p99Ms: worst(s, 'p99Ms'),
    baseline: base!.name,
    baselineReqPerSec: base!.reqPerSec,
    ratio: base!.ratio,
    ...(others.length ? { also: others } : {}),
  };
}

export function printTable(rows: Row[]) {
  const head = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'baseline', 'baseline req/s', 'ratio', 'also'];
  const body = rows.map((r) => [
    r.scenario,
    r.reqPerSec.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.baseline,
    r.baselineReqPerSec.toFixed(0),
    r.ratio.toFixed(2),
    (r.also ?? []).map((a) => `${a.ratio.toFixed(2)} of ${a.name} (${a.reqPerSec.toFixed(0)}/s)`).join('; '),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 4 || i === 7 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  console.log(line(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const b of body) console.log(line(b));
}

export const writeJson = (file: string, rows: Row[]) => writeFileSync(file, JSON.stringify(rows, null, 2) + '\n');
