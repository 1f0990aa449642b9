import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { pino } from 'pino';
import { Kms } from './kms.ts';
import { makeKeyring, rootKeyFromBytes, type Keyring } from './rootkey.ts';

/**
 * Test support shared by every package: each storage test runs against embedded PGlite always, and
 * against the real Postgres named by DATABASE_URL when it is set (CI sets it). Each Postgres run gets
 * its own throwaway database so test files never see each other's rows.
 */
export type Backend = 'pglite' | 'postgres';

export const backends = (): Backend[] => (process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite']);

export const testKeyring = (): Keyring => makeKeyring(rootKeyFromBytes(randomBytes(32)));

export const silentLogger = () => pino({ level: process.env.POLYKMS_TEST_LOG ?? 'silent' });
/** The gateway's default logging (`info`: a line per request and per audit event, written synchronously), into /dev/null. */
export const infoLoggerToNull = () => pino({ level: 'info' }, pino.destination('/dev/null'));

export interface TestDb {
  url: string | undefined;
  drop(): Promise<void>;
}

/** A fresh database on the server of DATABASE_URL, or nothing (PGlite in memory). */
export async function createTestDatabase(backend: Backend): Promise<TestDb> {
  if (backend === 'pglite') return { url: undefined, drop: async () => {} };
  const pg = (await import('pg')).default;
  const base = new URL(process.env.DATABASE_URL!);
  const name = `polykms_t_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base.toString() });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

export async function openTestKms(backend: Backend, opts: { keyring?: Keyring; url?: string; cacheSize?: number; now?: () => Date } = {}) {
  const db = opts.url ? { url: opts.url, drop: async () => {} } : await createTestDatabase(backend);
  const keyring = opts.keyring ?? testKeyring();
  const kms = await Kms.open({ databaseUrl: db.url, inMemory: backend === 'pglite', keyring, logger: silentLogger(), cacheSize: opts.cacheSize, now: opts.now });
  return { kms, keyring, url: db.url, drop: db.drop };
}

/**
 * A port for a process the test starts on a port known in advance (a child gateway, a restart on
 * the same port). Chosen below the kernel's ephemeral range, where no outgoing connection and no
 * `listen(0)` can take it between this check and the child's own listen (under parallel test files
 * that happened: EADDRINUSE); checked free by listening on it once.
 */
export async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the usual lower bound
  }
  const from = 10_000;
  const span = Math.max(1, low - from);
  for (let i = 0; i < 100; i++) {
    const port = from + randomInt(span);
    const free = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port found between ${from} and ${from + span}`);
}
