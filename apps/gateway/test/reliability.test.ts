import { describe, expect, it } from 'vitest';
import { runSuite } from '../../../reliability/suite.ts';
import { FAILURE_KINDS, finalLine, renderTable } from '../../../reliability/lib/tally.ts';

/**
 * The short (CI) version of `pnpm test:reliability` (reliability/README.md): fuzzing of every dialect,
 * the isolation matrix, audit tampering, concurrency, a database outage (PostgreSQL) and kill/restart
 * cycles on PGlite (and PostgreSQL when DATABASE_URL is set), with and without checking every
 * acknowledged operation's audit event, with smaller budgets. Every failure count must be zero, so a
 * reliability regression fails CI.
 */
describe('reliability (CI profile)', () => {
  // Each kill costs a gateway restart: generous on a busy machine.
  it('sees no 5xx on bad input, no hang, no crash, no lost write or audit event, no leak, no missed tampering', {
    timeout: 1_200_000,
  }, async () => {
    const lines: string[] = [];
    const tally = await runSuite({
      profile: 'ci',
      databaseUrl: process.env.DATABASE_URL || undefined,
      log: (m) => lines.push(m),
    });
    const report = [
      ...lines,
      ...tally.details.map((d) => `[${d.kind}] ${d.scenario}: ${d.message}${d.count > 1 ? ` (x${d.count})` : ''}`),
      renderTable(tally),
      finalLine(tally),
    ].join('\n');
    console.log(report);
    expect(
      tally.timings.filter((t) => t.error).map((t) => `${t.scenario}: ${t.error}`),
      report,
    ).toEqual([]);
    expect(Object.fromEntries(FAILURE_KINDS.map((k) => [k, tally.failures[k]])), report).toEqual(
      Object.fromEntries(FAILURE_KINDS.map((k) => [k, 0])),
    );
    expect(Object.values(tally.inputs).every((n) => n > 0) && Object.keys(tally.inputs).length === 3, report).toBe(true);
    expect(tally.kills, report).toBeGreaterThanOrEqual(20);
    expect(tally.auditedChecked, report).toBeGreaterThan(0);
    expect(tally.isolationCases, report).toBeGreaterThan(0);
    expect(tally.tamperings, report).toBeGreaterThan(0);
  });
});
