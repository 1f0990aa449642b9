import { Kysely, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { PgliteThread } from './pglite-thread.ts';
import { PgliteBroker } from './pglite-shared.ts';
import { localChannel as channel, PgliteClient } from './pglite-client.ts';

describe('the embedded database shared by workers', () => {
  const open: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of open.splice(0)) await close();
  });

  async function setup() {
    const thread = new PgliteThread(undefined);
    await thread.waitReady;
    open.push(() => thread.close());
    await thread.query('create table t (id int primary key, b bytea)');
    const broker = new PgliteBroker(thread);
    const worker = () => {
      const [primaryEnd, workerEnd] = channel();
      broker.attach(primaryEnd);
      const db = new Kysely<any>({ dialect: new PgliteClient(workerEnd).dialect() });
      return { db, primaryEnd, client: workerEnd };
    };
    return { broker, a: worker(), b: worker() };
  }

  it('runs a transaction of one worker whole: another worker waits for it and never sees half of it', async () => {
    const { a, b } = await setup();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inserted!: () => void;
    const first = new Promise<void>((r) => (inserted = r));
    const tx = a.db.transaction().execute(async (trx) => {
      await sql`insert into t values (1, ${Buffer.from('x')})`.execute(trx);
      inserted();
      await held;
      await sql`insert into t values (2, null)`.execute(trx);
    });
    await first;
    const count = sql<{ n: number }>`select count(*)::int as n from t`.execute(b.db);
    // B's statement is queued behind A's transaction, which is still open.
    await new Promise((r) => setTimeout(r, 50));
    release();
    await tx;
    expect((await count).rows[0]!.n).toBe(2);
    const row = await sql<{ b: Buffer }>`select b from t where id = 1`.execute(b.db);
    expect(Buffer.isBuffer(row.rows[0]!.b)).toBe(true);
    expect(row.rows[0]!.b.toString()).toBe('x');
  });

  it('keeps SQLSTATE codes across the channel', async () => {
    const { a } = await setup();
    await sql`insert into t values (1, null)`.execute(a.db);
    await expect(sql`insert into t values (1, null)`.execute(a.db)).rejects.toMatchObject({ code: '23505' });
  });

  it('rolls back the open transaction of a worker that died, and lets the others go on', async () => {
    const { broker, a, b } = await setup();
    let inserted!: () => void;
    const first = new Promise<void>((r) => (inserted = r));
    void a.db
      .transaction()
      .execute(async (trx) => {
        await sql`insert into t values (1, null)`.execute(trx);
        inserted();
        await new Promise(() => {}); // dies before committing
      })
      .catch(() => undefined);
    await first;
    const count = sql<{ n: number }>`select count(*)::int as n from t`.execute(b.db);
    await broker.detach(a.primaryEnd);
    expect((await count).rows[0]!.n).toBe(0);
  });

  it('delivers notifications to every listening worker', async () => {
    const { a, b } = await setup();
    const got: string[] = [];
    const client = new PgliteClient(b.client);
    await client.listen('chan', (p) => got.push(p));
    await sql`select pg_notify('chan', 'hello')`.execute(a.db);
    for (let t = 0; t < 100 && !got.length; t++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(['hello']);
  });
});
