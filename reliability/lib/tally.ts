/**
 * What the reliability suite counts. Failure counters (fiveXX, hangs, lost, leaks, tamperMissed, and
 * the "other" group) make `pnpm test:reliability` exit 1; everything else is shown for context.
 */
export type FailureKind =
  | 'fiveXX'
  | 'hangs'
  | 'lost'
  | 'unaudited'
  | 'leaks'
  | 'tamperMissed'
  | 'badBody'
  | 'slow'
  | 'crash'
  | 'consistency'
  | 'recovery'
  | 'dropped';

export const FAILURE_KINDS: FailureKind[] = [
  'fiveXX',
  'hangs',
  'lost',
  'unaudited',
  'leaks',
  'tamperMissed',
  'badBody',
  'slow',
  'crash',
  'consistency',
  'recovery',
  'dropped',
];

export interface Tally {
  /** Inputs sent by the fuzzer, per dialect. */
  inputs: Record<string, number>;
  /** Answers of the fuzzer by class, per dialect ("2xx", "4xx", "reset", ...). */
  answers: Record<string, Record<string, number>>;
  failures: Record<FailureKind, number>;
  /** Gateway processes killed with SIGKILL and restarted (crash safety). */
  kills: number;
  /** Acknowledged writes checked after the restarts (key states, ciphertexts). */
  ackedChecked: number;
  /** Acknowledged operations looked up in the audit trail after the restarts (crash audit). */
  auditedChecked: number;
  /** 5xx "unavailable" answers seen while the database was away (expected; not failures). */
  unavailable: number;
  /** Slowest such answer, ms. */
  unavailableMaxMs: number;
  /** Database outages survived (service came back by itself). */
  outages: number;
  isolationCases: number;
  tamperings: number;
  concurrencyRounds: number;
  /** One line per failure (capped per kind), for the report. */
  details: { kind: FailureKind; scenario: string; message: string; count: number }[];
  /** Scenario timings. */
  timings: { scenario: string; ms: number; error?: string | undefined }[];
}

export const newTally = (): Tally => ({
  inputs: {},
  answers: {},
  failures: Object.fromEntries(FAILURE_KINDS.map((k) => [k, 0])) as Record<FailureKind, number>,
  kills: 0,
  ackedChecked: 0,
  auditedChecked: 0,
  unavailable: 0,
  unavailableMaxMs: 0,
  outages: 0,
  isolationCases: 0,
  tamperings: 0,
  concurrencyRounds: 0,
  details: [],
  timings: [],
});

const MAX_DETAILS_PER_KIND = 40;

/** Counts a failure and keeps its description; identical messages are merged with a count. */
export function fail(t: Tally, kind: FailureKind, scenario: string, message: string) {
  t.failures[kind]++;
  const same = t.details.find((d) => d.kind === kind && d.scenario === scenario && d.message === message);
  if (same) {
    same.count++;
    return;
  }
  if (t.details.filter((d) => d.kind === kind).length < MAX_DETAILS_PER_KIND) t.details.push({ kind, scenario, message, count: 1 });
}

export function countAnswer(t: Tally, dialect: string, cls: string) {
  const a = (t.answers[dialect] ??= {});
  a[cls] = (a[cls] ?? 0) + 1;
}

export const totalInputs = (t: Tally) => Object.values(t.inputs).reduce((a, b) => a + b, 0);
export const otherFailures = (t: Tally) =>
  t.failures.badBody + t.failures.slow + t.failures.crash + t.failures.consistency + t.failures.recovery + t.failures.dropped;
export const failed = (t: Tally) => FAILURE_KINDS.some((k) => t.failures[k] > 0) || t.timings.some((x) => x.error);

/** The last line of `pnpm test:reliability`, in the issue's words. */
export const finalLine = (t: Tally) =>
  `reliability: inputs=${totalInputs(t)} 5xx=${t.failures.fiveXX} hangs=${t.failures.hangs} kills=${t.kills} lost=${t.failures.lost} unaudited=${t.failures.unaudited} leaks=${t.failures.leaks} tamper_missed=${t.failures.tamperMissed}`;

export function renderTable(t: Tally): string {
  const rows: [string, string][] = [];
  for (const [d, n] of Object.entries(t.inputs)) {
    const a = t.answers[d] ?? {};
    rows.push([
      `fuzz inputs tried (${d})`,
      `${n}  [${Object.entries(a)
        .sort()
        .map(([k, v]) => `${k}:${v}`)
        .join(' ')}]`,
    ]);
  }
  rows.push(['fuzz inputs tried (total)', String(totalInputs(t))]);
  rows.push(['5xx on bad input', String(t.failures.fiveXX)]);
  rows.push(['hangs (no answer in 10 s)', String(t.failures.hangs)]);
  rows.push(["4xx not in the dialect's error body", String(t.failures.badBody)]);
  rows.push(['kept-alive connections dropped', String(t.failures.dropped)]);
  rows.push(['processes crashed (not killed by us)', String(t.failures.crash)]);
  rows.push(['crashes survived (SIGKILL + restart)', String(t.kills)]);
  rows.push(['acknowledged writes checked', String(t.ackedChecked)]);
  rows.push(['acknowledged writes lost', String(t.failures.lost)]);
  rows.push(['acknowledged operations checked in the audit trail', String(t.auditedChecked)]);
  rows.push(['acknowledged operations without an audit event', String(t.failures.unaudited)]);
  rows.push(['database outages survived', String(t.outages)]);
  rows.push(['5xx "unavailable" during outages (expected)', `${t.unavailable} (slowest ${t.unavailableMaxMs} ms)`]);
  rows.push(['slow failures during outages (> 2 s)', String(t.failures.slow)]);
  rows.push(['no recovery after an outage', String(t.failures.recovery)]);
  rows.push(['concurrency rounds', String(t.concurrencyRounds)]);
  rows.push(['serializability violations', String(t.failures.consistency)]);
  rows.push(['isolation cases checked', String(t.isolationCases)]);
  rows.push(['isolation leaks', String(t.failures.leaks)]);
  rows.push(['audit tamperings made', String(t.tamperings)]);
  rows.push(['tamperings the verifier missed', String(t.failures.tamperMissed)]);
  const w = Math.max(...rows.map(([k]) => k.length));
  const line = `${'-'.repeat(w + 2)}+${'-'.repeat(40)}`;
  return [line, ...rows.map(([k, v]) => ` ${k.padEnd(w)} | ${v}`), line].join('\n');
}
