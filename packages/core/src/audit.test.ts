import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type DatabaseConnection, type Driver } from 'kysely';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AuditTrail, type AuditEvent } from './audit.ts';
import { silentLogger } from './testing.ts';
import type { KmsError } from './errors.ts';

const event = (i: number): AuditEvent => ({
  at: new Date(),
  tenantId: null,
  dialect: 't',
  principal: 'p',
  action: `a${i}`,
  keyId: null,
  outcome: 'allowed',
});

/**
 * A database (kysely over a stand-in driver) whose inserts fail `failures` times, then store; each
 * statement waits for `gate()` when given, so a test can hold a write in flight.
 */
function fakeDb(failures: number, refuse?: (rows: { action: string }[]) => boolean, gate?: () => Promise<void>) {
  const stored: unknown[] = [];
  const batches: number[] = [];
  let attempts = 0;
  const connection: DatabaseConnection = {
    async executeQuery(q) {
      attempts++;
      await new Promise((r) => setTimeout(r, 1));
      if (gate) await gate();
      if (attempts <= failures) throw new Error('database down');
      // The batched insert sends the rows as one JSON document.
      const rows = JSON.parse(q.parameters[0] as string) as { action: string }[];
      if (refuse?.(rows)) throw Object.assign(new Error('invalid input syntax'), { code: '22P02' });
      stored.push(...rows);
      batches.push(rows.length);
      return { rows: [] };
    },
    streamQuery: () => {
      throw new Error('not used');
    },
  };
  const nothing = async () => undefined;
  const driver: Driver = {
    init: nothing,
    acquireConnection: async () => connection,
    beginTransaction: nothing,
    commitTransaction: nothing,
    rollbackTransaction: nothing,
    releaseConnection: nothing,
    destroy: nothing,
  };
  const db = new Kysely<any>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
  return { db: db as never, stored, batches, attempts: () => attempts };
}

const opts = { maxBatch: 500, maxQueued: 1000 };
/** The end of this event-loop turn, when the trail starts its write. */
const turn = () => new Promise((r) => setImmediate(r));
const settle = (p: Promise<void>) =>
  p.then(
    () => 'stored',
    (e: KmsError) => e.kind,
  );

describe('audit trail (group commit)', () => {
  it('writes at the end of the turn, gathers what is recorded during a write into the next statement, and resolves each event only once its batch is stored', async () => {
    let open!: () => void;
    let held = new Promise<void>((r) => (open = r));
    const f = fakeDb(0, undefined, () => held);
    const trail = new AuditTrail(f.db, silentLogger(), opts);
    // Recorded in one turn: one statement.
    const first = [0, 1, 2].map((i) => trail.record(event(i)));
    await turn();
    const rest = Array.from({ length: 10 }, (_, i) => trail.record(event(i + 3)));
    let done = 0;
    for (const p of [...first, ...rest]) void p.then(() => done++);
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(0); // nothing is answered while its write is in flight
    expect(trail.pending).toBe(13);
    const release = open;
    held = new Promise<void>((r) => (open = r));
    release();
    await Promise.all(first);
    expect(f.batches).toEqual([3]);
    expect(done).toBe(3);
    open();
    held = Promise.resolve();
    await Promise.all(rest);
    expect(f.batches).toEqual([3, 10]);
    expect(trail.pending).toBe(0);
    trail.close();
  });

  it('fails each event of a batch the store does not take with unavailable (counted and logged), and writes the next batch once the store is back', async () => {
    const f = fakeDb(1);
    const trail = new AuditTrail(f.db, silentLogger(), opts);
    const alone = settle(trail.record(event(0)));
    await turn();
    const lost = await Promise.all([alone, ...[1, 2].map((i) => settle(trail.record(event(i))))]);
    // The first statement failed: the first event (written alone) is refused; the two gathered meanwhile are stored.
    expect(lost).toEqual(['unavailable', 'stored', 'stored']);
    expect(trail.dropped).toBe(1);
    expect(await settle(trail.record(event(3)))).toBe('stored');
    expect((f.stored as { action: string }[]).map((r) => r.action)).toEqual(['a1', 'a2', 'a3']);
    trail.close();
  });

  it('flush() resolves only once every recorded event is written', async () => {
    const f = fakeDb(0);
    const trail = new AuditTrail(f.db, silentLogger(), { maxBatch: 2, maxQueued: 1000 });
    for (let i = 0; i < 9; i++) void trail.record(event(i));
    await Promise.all([trail.flush(), trail.flush()]);
    expect(f.stored.length).toBe(9);
    expect(trail.pending).toBe(0);
    trail.close();
  });

  it('refuses an event the database refuses for its content (its own operation fails), and writes the rest of its batch', async () => {
    const f = fakeDb(0, (rows) => rows.some((r) => r.action === 'a3'));
    const trail = new AuditTrail(f.db, silentLogger(), { maxBatch: 4, maxQueued: 1000 });
    const out = await Promise.all(Array.from({ length: 10 }, (_, i) => settle(trail.record(event(i)))));
    expect(out.filter((o) => o !== 'stored')).toEqual(['unavailable']);
    expect(out[3]).toBe('unavailable');
    expect((f.stored as { action: string }[]).map((r) => r.action).sort()).toEqual(['a0', 'a1', 'a2', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9']);
    expect(trail.dropped).toBe(1);
    expect(trail.pending).toBe(0);
    trail.close();
  });

  it('refuses new events past its bound while the store is stuck, instead of dropping them, and every event after close()', async () => {
    const f = fakeDb(0, undefined, () => new Promise(() => {}));
    const trail = new AuditTrail(f.db, silentLogger(), { maxBatch: 2, maxQueued: 3 });
    const inFlight = settle(trail.record(event(0)));
    await turn();
    const waiting = [inFlight, ...Array.from({ length: 4 }, (_, i) => settle(trail.record(event(i + 1))))];
    // One is being written, three wait: the fifth is refused at once.
    expect(await waiting[4]).toBe('unavailable');
    expect(trail.dropped).toBe(1);
    expect(trail.pending).toBe(4);
    trail.close();
    expect(await settle(trail.record(event(9)))).toBe('unavailable');
    expect(trail.dropped).toBe(2);
  });

  it("writes a large batch's log lines over several turns, so requests wait for a few hundred at most", async () => {
    let lines = 0;
    const log = pino({ level: 'info' }, { write: () => void lines++ });
    const trail = new AuditTrail(fakeDb(0).db, log, { maxBatch: 600, maxQueued: 1000 });
    let stored = false;
    void Promise.all(Array.from({ length: 600 }, (_, i) => trail.record(event(i)))).then(() => (stored = true));
    const seen = [0];
    while (!stored) {
      await turn();
      seen.push(lines);
    }
    expect(lines).toBe(600);
    const most = Math.max(...seen.slice(1).map((n, i) => n - seen[i]!));
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(256);
  });
});
