import { Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, type DatabaseConnection, type Driver } from 'kysely';
import { describe, expect, it } from 'vitest';
import { AuditTrail, type AuditEvent } from './audit.ts';
import { silentLogger } from './testing.ts';

const event = (i: number): AuditEvent => ({ at: new Date(), tenantId: null, dialect: 't', principal: 'p', action: `a${i}`, keyId: null, outcome: 'allowed' });

/** A database (kysely over a stand-in driver) whose inserts fail `failures` times, then store. */
function fakeDb(failures: number, refuse?: (rows: { action: string }[]) => boolean) {
  const stored: unknown[] = [];
  let attempts = 0;
  const connection: DatabaseConnection = {
    async executeQuery(q) {
      attempts++;
      await new Promise((r) => setTimeout(r, 1));
      if (attempts <= failures) throw new Error('database down');
      // The batched insert sends the rows as one JSON document.
      const rows = JSON.parse(q.parameters[0] as string) as { action: string }[];
      if (refuse?.(rows)) throw Object.assign(new Error('invalid input syntax'), { code: '22P02' });
      stored.push(...rows);
      return { rows: [] };
    },
    streamQuery: () => {
      throw new Error('not used');
    },
  };
  const nothing = async () => undefined;
  const driver: Driver = { init: nothing, acquireConnection: async () => connection, beginTransaction: nothing, commitTransaction: nothing, rollbackTransaction: nothing, releaseConnection: nothing, destroy: nothing };
  const db = new Kysely<any>({
    dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => driver, createIntrospector: (k) => new PostgresIntrospector(k), createQueryCompiler: () => new PostgresQueryCompiler() },
  });
  return { db: db as never, stored, attempts: () => attempts };
}

describe('audit buffer', () => {
  it('keeps events through failures, backs off instead of spinning, and flush() waits for everything', async () => {
    const f = fakeDb(3);
    const trail = new AuditTrail(f.db, silentLogger(), { flushMs: 5, maxBatch: 4, maxBuffered: 1000 });
    for (let i = 0; i < 16; i++) trail.record(event(i));
    await new Promise((r) => setTimeout(r, 150));
    // Back-off: a handful of attempts, not thousands.
    expect(f.attempts()).toBeLessThan(10);
    for (let i = 0; i < 50 && f.stored.length < 16; i++) await trail.flush().catch(() => undefined);
    expect(f.stored.length).toBe(16);
    trail.close();
  });

  it('flush() resolves only once concurrent writers are done', async () => {
    const f = fakeDb(0);
    const trail = new AuditTrail(f.db, silentLogger(), { flushMs: 1000, maxBatch: 2, maxBuffered: 1000 });
    for (let i = 0; i < 9; i++) trail.record(event(i));
    await Promise.all([trail.flush(), trail.flush()]);
    expect(f.stored.length).toBe(9);
    trail.close();
  });

  it('holds callers back while the writer is behind, lets them go once it has caught up, and never while the database fails', async () => {
    const f = fakeDb(0);
    const trail = new AuditTrail(f.db, silentLogger(), { flushMs: 1000, maxBatch: 2, maxBuffered: 1000, highWater: 4 });
    for (let i = 0; i < 3; i++) trail.record(event(i));
    expect(trail.room()).toBeUndefined();
    for (let i = 3; i < 12; i++) trail.record(event(i));
    const wait = trail.room();
    expect(wait).toBeInstanceOf(Promise);
    await wait;
    expect(trail.pending).toBeLessThanOrEqual(4);
    await trail.flush();
    expect(f.stored.length).toBe(12);
    trail.close();

    const down = fakeDb(1_000_000);
    const t2 = new AuditTrail(down.db, silentLogger(), { flushMs: 1, maxBatch: 2, maxBuffered: 1000, highWater: 4 });
    for (let i = 0; i < 12; i++) t2.record(event(i));
    const queued = t2.room();
    expect(queued).toBeInstanceOf(Promise);
    // The first failed insert lets the waiting caller go, and later callers are not held.
    await queued;
    expect(t2.room()).toBeUndefined();
    expect(t2.pending).toBe(12);
    t2.close();
  });

  it('sets aside an event the database refuses for its content, and writes the rest of its batch and the ones after', async () => {
    const f = fakeDb(0, (rows) => rows.some((r) => r.action === 'a3'));
    const trail = new AuditTrail(f.db, silentLogger(), { flushMs: 1000, maxBatch: 4, maxBuffered: 1000 });
    for (let i = 0; i < 10; i++) trail.record(event(i));
    await trail.flush();
    expect((f.stored as { action: string }[]).map((r) => r.action).sort()).toEqual(['a0', 'a1', 'a2', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9']);
    expect(trail.dropped).toBe(1);
    expect(trail.pending).toBe(0);
    trail.close();
  });

  it('never holds a caller more than a second when the writer is stuck', async () => {
    const stuck = new AuditTrail({ insertInto: () => undefined, getExecutor: () => ({ transformQuery: (q: unknown) => q, compileQuery: () => ({ sql: '', parameters: [] }), executeQuery: () => new Promise(() => {}) }) } as never, silentLogger(), { flushMs: 1, maxBatch: 2, maxBuffered: 1000, highWater: 2 });
    for (let i = 0; i < 6; i++) stuck.record(event(i));
    const t = Date.now();
    await stuck.room();
    expect(Date.now() - t).toBeGreaterThanOrEqual(900);
    expect(Date.now() - t).toBeLessThan(3000);
    stuck.close();
  });
});
