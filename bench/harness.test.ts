import { describe, expect, it, vi } from 'vitest';
import { closedLoop, compareMany, printTable, type Entry } from './harness.ts';
import type { Load } from './load.ts';
import type { Measure } from './harness.ts';

/** A load that replays given measurements, one a call (warm-up included): what the harness reports is then known. */
function replay(measures: Partial<Measure>[]): Load {
  let i = 0;
  return {
    measure: async () => ({ opsPerSec: 100, p50Ms: 1, p99Ms: 2, ops: 100, ...measures[Math.min(i++, measures.length - 1)] }),
  };
}

/** A process whose CPU grows by 1 ms of event loop a sample. */
function fakeCpu() {
  let us = 0;
  return () => {
    us += 1000;
    return { processUs: us, threads: new Map([['main', us]]), mainWaitUs: 0 };
  };
}

describe('compareMany', () => {
  it("reports the baseline's own p50 and p99 beside the subject's, the worst slice of each", async () => {
    // Calls: warm-up, then one slice per round.
    const baseline: Entry = {
      name: 'alone',
      run: replay([{}, { p50Ms: 2, p99Ms: 10 }, { p50Ms: 3, p99Ms: 6 }]),
      pid: process.pid, // read through `cpu`
      cpu: fakeCpu(),
      settle: async () => {},
    };
    const subject: Entry = {
      name: 'gateway',
      run: replay([{}, { p50Ms: 4, p99Ms: 30 }, { p50Ms: 5, p99Ms: 12 }]),
      pid: process.pid, // read through `cpu`
      cpu: fakeCpu(),
      settle: async () => {},
    };
    const row = await compareMany('row', [baseline], subject, { concurrency: 1, ms: 2, rounds: 2 });
    expect(row).toMatchObject({ p50Ms: 5, p99Ms: 30, baselineP50Ms: 3, baselineP99Ms: 10 });
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
    try {
      printTable([row]);
    } finally {
      log.mockRestore();
    }
    // The goal's measure of the tail, the subject's and its baseline's: 30 / 5 and 10 / 3.
    expect(out.join('\n')).toContain('p99 30.0 / 12.0 ms, 6.0x p50 (baseline 3.3x)');
  });
});

describe('closedLoop', () => {
  it('stops after the requests it was given, however long it may run', async () => {
    let calls = 0;
    const m = await closedLoop(
      async () => {
        calls++;
        await new Promise((r) => setImmediate(r));
      },
      4,
      86_400_000,
      10,
    );
    expect(calls).toBe(10);
    expect(m.ops).toBe(10);
  });
});
