import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from './kms.ts';
import type { Database } from './db/schema.ts';
import { moveHeadAndInsert, readHead, type Head } from './audit-sql.ts';
import { eventColumns } from './auditchain.ts';
import { headMac, sealBatch } from './auditseal.ts';
import { verifyAuditChain } from './auditchain.ts';
import { backends, dbOf, openTestKms } from './testing.ts';

/** The group commit's one statement (`polykms_audit_append`, migration 0013), called directly. */
describe.each(backends())('audit append statement on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let db: Kysely<Database>;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    db = dbOf(kms);
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  const key = () => kms.audit.macKey!;
  const current = async () => (await db.transaction().execute((trx) => readHead(trx))).head;
  const rows = () =>
    db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
  /** Events sealed after `from`, and the head they lead to. */
  const sealed = async (from: Head, n: number, tenantId: string | null = null) => {
    const events = Array.from({ length: n }, (_, i) =>
      eventColumns({ at: new Date(), tenantId, dialect: 'test', principal: 'p', action: `a${i}`, keyId: null, outcome: 'allowed' }),
    );
    const s = await sealBatch(key(), from, events);
    const to: Head = { seq: s.seq, chain: s.chain, legacy: from.legacy, mac: headMac(key(), s.seq, s.chain, from.legacy) };
    return { to, rows: s.rows };
  };

  it('inserts every row and moves the head when the head is still where the writer left it', async () => {
    await kms.audit.flush();
    const from = await current();
    const before = Number((await rows()).n);
    const { to, rows: json } = await sealed(from, 3);
    expect(await moveHeadAndInsert(db, from, to, json)).toBe(3);
    expect(Number((await rows()).n)).toBe(before + 3);
    const now = await current();
    expect(now.seq).toBe(to.seq);
    expect(now.chain.equals(to.chain)).toBe(true);
    expect((await verifyAuditChain(db, key())).ok).toBe(true);
  });

  it('inserts nothing and leaves the head when it has moved (returns 0)', async () => {
    const from = await current();
    const stale: Head = { ...from, seq: String(BigInt(from.seq) - 1n) };
    const before = Number((await rows()).n);
    const { to, rows: json } = await sealed(stale, 2);
    expect(await moveHeadAndInsert(db, stale, to, json)).toBe(0);
    expect(Number((await rows()).n)).toBe(before);
    expect((await current()).seq).toBe(from.seq);
  });

  it('joins an outer transaction: rolled back with it', async () => {
    const from = await current();
    const before = Number((await rows()).n);
    await expect(
      db.transaction().execute(async (trx) => {
        const { to, rows: json } = await sealed(from, 2);
        expect(await moveHeadAndInsert(trx, from, to, json)).toBe(2);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(Number((await rows()).n)).toBe(before);
    expect((await current()).seq).toBe(from.seq);
  });

  it('refuses a row the database cannot store with its SQLSTATE (class 22), the head unmoved', async () => {
    const from = await current();
    const { to, rows: json } = await sealed(from, 2, 'not-a-uuid');
    await expect(moveHeadAndInsert(db, from, to, json)).rejects.toMatchObject({ code: expect.stringMatching(/^22/) });
    expect((await current()).seq).toBe(from.seq);
  });

  it('raises, and leaves the head unmoved, when fewer rows were inserted than sealed (a trigger swallowing them)', async () => {
    await sql`create function swallow_audit() returns trigger language plpgsql as $$ begin return null; end $$`.execute(db);
    await sql`create trigger swallow before insert on audit_events for each row execute function swallow_audit()`.execute(db);
    const from = await current();
    try {
      const { to, rows: json } = await sealed(from, 2);
      await expect(moveHeadAndInsert(db, from, to, json)).rejects.toThrow(/inserted 0 of 2 rows/);
      expect((await current()).seq).toBe(from.seq);
    } finally {
      await sql`drop trigger swallow on audit_events`.execute(db);
      await sql`drop function swallow_audit()`.execute(db);
    }
    expect((await verifyAuditChain(db, key())).ok).toBe(true);
  });
});
