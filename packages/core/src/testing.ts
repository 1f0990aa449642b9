import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { pino } from 'pino';
import { Kms, storeOf, type Caller } from './kms.ts';
import { makeKeyring, rootKeyFromBytes, type Keyring } from './rootkey.ts';
import { scopedKey } from './operations/rows.ts';
import type { AuditEvent } from './audit-text.ts';

/**
 * Test support shared by every package: each storage test runs against embedded PGlite always, and
 * against the real Postgres named by DATABASE_URL when it is set (CI sets it). Each Postgres run gets
 * its own throwaway database so test files never see each other's rows.
 */
export type Backend = 'pglite' | 'postgres';

export const backends = (): Backend[] => (process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite']);

export const testKeyring = (): Keyring => makeKeyring(rootKeyFromBytes(randomBytes(32)));

/** Audit event `i` of a test trail: action `a<i>`, at second `i` of 2026, `{ i }` as its details. */
export const testAuditEvent = (i: number): AuditEvent => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
  tenantId: null,
  dialect: 't',
  principal: 'p',
  action: `a${i}`,
  keyId: null,
  outcome: 'allowed',
  details: { i },
});

export const silentLogger = () => pino({ level: process.env.POLYKMS_TEST_LOG ?? 'silent' });
/**
 * The gateway's default logging (`info`: a line per request and per audit event, written synchronously
 * as main.ts writes them), into /dev/null. `pino.destination(path)` alone would write asynchronously.
 */
export const infoLoggerToNull = () => pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));

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
  const kms = await Kms.open({
    databaseUrl: db.url,
    inMemory: backend === 'pglite',
    keyring,
    logger: silentLogger(),
    cacheSize: opts.cacheSize,
    now: opts.now,
  });
  return { kms, keyring, url: db.url, drop: db.drop };
}

/**
 * A store for one test file (`now`: its clock) with what `setup` puts in it, from `beforeAll`; `close`,
 * from `afterAll`, closes the store and drops its database, and runs at once when `setup` fails.
 */
async function preparedKms<T extends object>(backend: Backend, opts: { now?: () => Date }, setup: (kms: Kms) => Promise<T>) {
  const { kms, drop } = await openTestKms(backend, opts);
  const close = async () => {
    await kms.close();
    await drop();
  };
  try {
    return { kms, close, ...(await setup(kms)) };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * What most operation tests start from: two tenants, alice's and bob's, each used by an administrator
 * no policy restricts, so a test shows a key at work for one and hidden from the other. `now`: the
 * store's clock, for tests that move time.
 */
export const twoTenants = (backend: Backend, opts: { now?: () => Date } = {}) =>
  preparedKms(backend, opts, async (kms) => {
    const alice: Caller = {
      tenantId: (await kms.tenants.create('alice')).id,
      dialect: 'test',
      principal: 'alice-admin',
      requestId: 'req-1',
    };
    const bob: Caller = { tenantId: (await kms.tenants.create('bob')).id, dialect: 'test', principal: 'bob-admin' };
    return { alice, bob };
  });

/**
 * An audit trail holding each kind of event, allowed, failed and denied, for the tests that verify the
 * trail and tamper with it: `caller` is alice in tenant "audited", `liveKeyId` her key still active
 * (the other was deactivated).
 */
export const auditedTrail = (backend: Backend) =>
  preparedKms(backend, {}, async (kms) => {
    const caller: Caller = { tenantId: (await kms.tenants.create('audited')).id, dialect: 'test', principal: 'alice', requestId: 'r1' };
    const k = await kms.createKey(caller, { name: 'k', spec: { kind: 'oct', size: 256 } });
    const live = await kms.createKey(caller, { name: 'live', spec: { kind: 'oct', size: 256 } });
    for (let i = 0; i < 20; i++) await kms.encrypt(caller, k.id, Buffer.from(`m${i}`));
    await kms.deactivate(caller, k.id);
    await kms.encrypt(caller, k.id, Buffer.from('refused')).catch(() => undefined);
    await kms.getKey({ ...caller, authorize: () => false }, k.id).catch(() => undefined);
    return { caller, liveKeyId: live.id };
  });

/** Ports `freePort` has given in this process: never the same one twice. */
const given = new Set<number>();

/** The kernel's ephemeral range (outgoing connections, `listen(0)`); Linux's default elsewhere. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo! <= hi!) return [lo!, hi!];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

const tryListen = (port: number) =>
  new Promise<number | undefined>((res) => {
    const s = createServer();
    s.once('error', () => res(undefined));
    s.listen(port, '127.0.0.1', () => {
      const got = (s.address() as { port: number }).port;
      s.close(() => res(got));
    });
  });

/**
 * A port for a process the test starts on a port known in advance (a child gateway, a restart on
 * the same port). Chosen outside the kernel's ephemeral range where it has room (below it, from
 * 10000, or above it), where no outgoing connection and no `listen(0)` can take it between this check
 * and the child's own listen (under parallel test files that happened: EADDRINUSE); checked free by
 * listening on it once; never the same port twice in a process. With no room outside the range, an
 * ephemeral port as before.
 */
export async function freePort(): Promise<number> {
  const [lo, hi] = ephemeralRange();
  const sides = [
    [10_000, lo - 1],
    [hi + 1, 65_535],
  ].filter(([from, to]) => to! - from! >= 1000);
  for (let i = 0; sides.length && i < 100; i++) {
    const [from, to] = sides[randomInt(sides.length)]!;
    const port = from! + randomInt(to! - from! + 1);
    if (given.has(port)) continue;
    given.add(port); // before the check: a concurrent call must not pick it meanwhile
    if ((await tryListen(port)) !== undefined) return port;
    given.delete(port);
  }
  for (;;) {
    const port = await tryListen(0);
    if (port !== undefined && !given.has(port)) {
      given.add(port);
      return port;
    }
  }
}

/** Raw access to a test store (tampering, inspecting rows); apps never get it. */
export { storeOf };
export const dbOf = (kms: Kms) => storeOf(kms).db;

/** The parsed key a crypto operation left in the cache (the bench compares core with the same KeyObject). */
export const cachedKey = (kms: Kms, tenantId: string, keyId: string, version = 1) => kms.cache.get(scopedKey(tenantId, keyId), version);

/**
 * The authentication refusals of `dialect` as the trail holds them, once those over the rate bound are
 * summarized: the events written one each, the count the summaries carry, and the count core kept.
 */
export async function refusalsAudited(
  kms: Kms,
  dialect: string,
  isRefusal: (action: string, errorKind: string | null) => boolean = (a) => a === 'auth.refused',
) {
  kms.authFailures.sweep();
  await kms.audit.flush();
  const rows = await dbOf(kms).selectFrom('audit_events').selectAll().where('dialect', '=', dialect).execute();
  const each = rows.filter((r) => isRefusal(r.action, r.error_kind));
  const summarized = rows
    .filter((r) => r.action === 'auth.refused_summary')
    .reduce((n, r) => n + Number((r.details as { refused?: number } | null)?.refused ?? 0), 0);
  return { each, summarized, counted: kms.authFailures.counts[dialect] ?? 0 };
}
