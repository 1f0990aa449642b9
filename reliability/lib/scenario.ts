import type { Tally } from './tally.ts';

/** How big a run is. `ci` is the vitest version, `short` the default, `full` is `--full`. */
export interface Profile {
  name: 'ci' | 'short' | 'full';
  seed: number;
  /** Fuzz inputs per dialect (HTTP-level), plus raw-framing inputs per dialect. */
  fuzzPerDialect: number;
  rawPerDialect: number;
  /** Kill/restart cycles on PGlite and on PostgreSQL (the latter only when DATABASE_URL is set). */
  killsPglite: number;
  killsPostgres: number;
  /** Load before each kill: clients, and the random window (ms) after which SIGKILL comes. */
  killClients: number;
  killWindowMs: [number, number];
  /** Crash-audit kill/restart cycles per backend, and the window of load before each SIGKILL. */
  auditKills: number;
  auditKillWindowMs: [number, number];
  /** Database outages (TCP proxy cut) and how long each lasts. */
  outages: number;
  outageMs: number;
  /** Concurrency rounds (one fresh key each) and clients per round. */
  concurrencyRounds: number;
  concurrencyClients: number;
}

export const PROFILES: Record<Profile['name'], Omit<Profile, 'seed'>> = {
  ci: {
    name: 'ci',
    fuzzPerDialect: 150,
    rawPerDialect: 8,
    killsPglite: 3,
    killsPostgres: 3,
    killClients: 3,
    killWindowMs: [200, 700],
    auditKills: 20,
    auditKillWindowMs: [0, 250],
    outages: 1,
    outageMs: 2500,
    concurrencyRounds: 2,
    concurrencyClients: 6,
  },
  short: {
    name: 'short',
    fuzzPerDialect: 300,
    rawPerDialect: 12,
    killsPglite: 12,
    killsPostgres: 8,
    killClients: 4,
    killWindowMs: [200, 900],
    auditKills: 20,
    auditKillWindowMs: [0, 600],
    outages: 1,
    outageMs: 3000,
    concurrencyRounds: 3,
    concurrencyClients: 8,
  },
  full: {
    name: 'full',
    fuzzPerDialect: 5000,
    rawPerDialect: 100,
    killsPglite: 25,
    killsPostgres: 25,
    killClients: 8,
    killWindowMs: [300, 3000],
    auditKills: 50,
    auditKillWindowMs: [0, 3000],
    outages: 3,
    outageMs: 10_000,
    concurrencyRounds: 20,
    concurrencyClients: 16,
  },
};

export interface Ctx {
  tally: Tally;
  profile: Profile;
  /** postgres://... when the PostgreSQL variants should run (DATABASE_URL). */
  databaseUrl: string | undefined;
  log(message: string): void;
}

export interface Scenario {
  name: string;
  title: string;
  run(ctx: Ctx): Promise<void>;
}

/** A small deterministic PRNG (mulberry32), so a run is repeatable from its seed. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (x: T, i: number) => Promise<void>) {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) {
        const k = i++;
        await fn(items[k]!, k);
      }
    }),
  );
}

export const preview = (x: unknown, n = 160) => {
  const s = Buffer.isBuffer(x) ? x.toString('utf8') : typeof x === 'string' ? x : (JSON.stringify(x) ?? String(x));
  return s.length > n ? `${s.slice(0, n)}...(${s.length} chars)` : s;
};
