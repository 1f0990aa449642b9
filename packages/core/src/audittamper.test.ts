import { sql, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from './kms.ts';
import { auditedTrail, backends, dbOf } from './testing.ts';

/**
 * Each tampering is done on the stored trail, must be reported by the verifier, and is then undone, after
 * which the trail verifies again (so every check is shown to fail and to pass).
 */
describe.each(backends())('tamper-evident audit trail, tampered with, on %s', (backend) => {
  let kms: Kms;
  let c: Caller;
  let keyId: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ kms, caller: c, liveKeyId: keyId, close } = await auditedTrail(backend));
  });
  afterAll(() => close?.());

  const reinsert = async (db: ReturnType<typeof dbOf>, saved: Record<string, unknown>[]) => {
    for (const r of saved) {
      const cols = Object.keys(r);
      await sql`insert into audit_events (${sql.join(cols.map((k) => sql.ref(k)))}) values (${sql.join(cols.map((k) => (k === 'details' && r[k] !== null ? JSON.stringify(r[k]) : r[k])))})`.execute(
        db,
      );
    }
  };
  const rows = async () => (await sql<{ id: string; seq: string }>`select id, seq from audit_events order by seq`.execute(dbOf(kms))).rows;

  /** Runs an insert returning the new event's id; the undo deletes that event. */
  const inserted = async (db: ReturnType<typeof dbOf>, insert: RawBuilder<unknown>) => {
    const r = (await insert.execute(db)).rows[0] as { id: string };
    return async () => void (await sql`delete from audit_events where id = ${r.id}`.execute(db));
  };

  const tamperings: [string, (db: ReturnType<typeof dbOf>) => Promise<() => Promise<void>>, RegExp][] = [
    [
      'an edited principal',
      async (db) => {
        const r = (await rows())[5]!;
        await sql`update audit_events set principal = 'mallory' where id = ${r.id}`.execute(db);
        return async () => void (await sql`update audit_events set principal = 'alice' where id = ${r.id}`.execute(db));
      },
      /edited/,
    ],
    [
      'an edited outcome (a denial turned into an allow)',
      async (db) => {
        const r = (await sql<{ id: string }>`select id from audit_events where outcome = 'denied' limit 1`.execute(db)).rows[0]!;
        await sql`update audit_events set outcome = 'allowed' where id = ${r.id}`.execute(db);
        return async () => void (await sql`update audit_events set outcome = 'denied' where id = ${r.id}`.execute(db));
      },
      /edited/,
    ],
    [
      'edited details',
      async (db) => {
        const r = (
          await sql<{
            id: string;
            details: unknown;
          }>`select id, details from audit_events where details is not null limit 1`.execute(db)
        ).rows[0]!;
        await sql`update audit_events set details = '{"forged": true}'::jsonb where id = ${r.id}`.execute(db);
        return async () =>
          void (await sql`update audit_events set details = ${JSON.stringify(r.details)}::jsonb where id = ${r.id}`.execute(db));
      },
      /edited/,
    ],
    [
      'a deleted event in the middle',
      async (db) => {
        const r = (await rows())[7]!;
        const saved = (await sql<Record<string, unknown>>`select * from audit_events where id = ${r.id}`.execute(db)).rows[0]!;
        await sql`delete from audit_events where id = ${r.id}`.execute(db);
        return async () => {
          const cols = Object.keys(saved);
          await sql`insert into audit_events (${sql.join(cols.map((k) => sql.ref(k)))}) values (${sql.join(cols.map((k) => (k === 'details' && saved[k] !== null ? JSON.stringify(saved[k]) : saved[k])))})`.execute(
            db,
          );
        };
      },
      /missing: deleted/,
    ],
    [
      'deleted events at the end',
      async (db) => {
        const all = await rows();
        const last = all.slice(-2);
        const saved = (
          await sql<Record<string, unknown>>`select * from audit_events where id in (${sql.join(last.map((r) => r.id))})`.execute(db)
        ).rows;
        await sql`delete from audit_events where id in (${sql.join(last.map((r) => r.id))})`.execute(db);
        return () => reinsert(db, saved);
      },
      /events at the end were deleted/,
    ],
    [
      'a forged event inserted without a MAC',
      (db) =>
        inserted(
          db,
          sql`insert into audit_events (at, dialect, principal, action, outcome) values (now(), 'ovh', 'mallory', 'key.destroy', 'allowed') returning id`,
        ),
      /not written by polykms/,
    ],
    [
      'a copied event given a MAC it cannot have (replayed into the trail)',
      async (db) => {
        const src = (await sql<Record<string, unknown>>`select * from audit_events where seq is not null order by seq limit 1`.execute(db))
          .rows[0]!;
        return inserted(
          db,
          sql`insert into audit_events (at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, mac) select at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, mac from audit_events where id = ${src.id} returning id`,
        );
      },
      /not in the chain/,
    ],
    [
      'two events swapped in the sequence',
      async (db) => {
        const [a, b] = (await rows()).slice(3, 5);
        await sql`update audit_events set seq = -1 where id = ${a!.id}`.execute(db);
        await sql`update audit_events set seq = ${a!.seq} where id = ${b!.id}`.execute(db);
        await sql`update audit_events set seq = ${b!.seq} where id = ${a!.id}`.execute(db);
        return async () => {
          await sql`update audit_events set seq = -1 where id = ${a!.id}`.execute(db);
          await sql`update audit_events set seq = ${b!.seq} where id = ${b!.id}`.execute(db);
          await sql`update audit_events set seq = ${a!.seq} where id = ${a!.id}`.execute(db);
        };
      },
      /chain link does not match/,
    ],
    [
      'deleted events at the end, the head moved back to the last surviving event',
      async (db) => {
        const all = await rows();
        const cut = all.slice(-3);
        const survivor = all[all.length - 4]!;
        const head = (await sql<Record<string, unknown>>`select * from audit_chain_head`.execute(db)).rows[0]!;
        const saved = (
          await sql<Record<string, unknown>>`select * from audit_events where id in (${sql.join(cut.map((r) => r.id))})`.execute(db)
        ).rows;
        await sql`delete from audit_events where id in (${sql.join(cut.map((r) => r.id))})`.execute(db);
        await sql`update audit_chain_head set seq = x.seq, chain = x.chain from audit_events x where x.id = ${survivor.id}`.execute(db);
        return async () => {
          await reinsert(db, saved);
          await sql`update audit_chain_head set seq = ${head.seq}, chain = ${head.chain}`.execute(db);
        };
      },
      /chain head does not match its MAC/,
    ],
    [
      'the head put back to an older copy of itself (MAC and all), the events after it deleted',
      async (db) => {
        const old = (await sql<Record<string, unknown>>`select * from audit_chain_head`.execute(db)).rows[0]!;
        for (let i = 0; i < 3; i++) await kms.encrypt(c, keyId, Buffer.from('later'));
        const head = (await sql<Record<string, unknown>>`select * from audit_chain_head`.execute(db)).rows[0]!;
        const saved = (await sql<Record<string, unknown>>`select * from audit_events where seq > ${old.seq}`.execute(db)).rows;
        await sql`delete from audit_events where seq > ${old.seq}`.execute(db);
        await sql`update audit_chain_head set seq = ${old.seq}, chain = ${old.chain}, mac = ${old.mac}`.execute(db);
        return async () => {
          await reinsert(db, saved);
          await sql`update audit_chain_head set seq = ${head.seq}, chain = ${head.chain}, mac = ${head.mac}`.execute(db);
        };
      },
      /chain head went back/,
    ],
    [
      'the head MAC removed',
      async (db) => {
        const head = (await sql<{ mac: Buffer }>`select mac from audit_chain_head`.execute(db)).rows[0]!;
        await sql`update audit_chain_head set mac = null`.execute(db);
        return async () => void (await sql`update audit_chain_head set mac = ${head.mac}`.execute(db));
      },
      /chain head has no MAC/,
    ],
    [
      'an unsealed event with id -1 (passed as "legacy" before)',
      async (db) => {
        await sql`insert into audit_events (id, at, dialect, principal, action, outcome) values (-1, now(), 'ovh', 'mallory', 'key.destroy', 'allowed')`.execute(
          db,
        );
        return async () => void (await sql`delete from audit_events where id = -1`.execute(db));
      },
      /not written by polykms/,
    ],
    [
      'the legacy bound raised over a forged unsealed event',
      async (db) => {
        const r = (
          await sql<{
            id: string;
          }>`insert into audit_events (at, dialect, principal, action, outcome) values (now(), 'ovh', 'mallory', 'key.destroy', 'allowed') returning id`.execute(
            db,
          )
        ).rows[0]!;
        await sql`update audit_chain_head set legacy_max_id = ${r.id}`.execute(db);
        return async () => {
          await sql`delete from audit_events where id = ${r.id}`.execute(db);
          await sql`update audit_chain_head set legacy_max_id = 0`.execute(db);
        };
      },
      /chain head does not match its MAC[\s\S]*not written by polykms/,
    ],
    [
      "a sealed event's MAC removed",
      async (db) => {
        const r = (await rows())[2]!;
        const saved = (await sql<{ mac: Buffer }>`select mac from audit_events where id = ${r.id}`.execute(db)).rows[0]!;
        await sql`update audit_events set mac = null where id = ${r.id}`.execute(db);
        return async () => void (await sql`update audit_events set mac = ${saved.mac} where id = ${r.id}`.execute(db));
      },
      /no MAC: this event was not written by polykms/,
    ],
  ];

  it.each(tamperings)('detects %s, and verifies again once it is undone', async (_name, tamper, expected) => {
    await kms.sealAudit();
    const undo = await tamper(dbOf(kms));
    const v = await kms.verifyAudit();
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.problem).join('\n')).toMatch(expected);
    await undo();
    const again = await kms.verifyAudit();
    expect(again.problems).toEqual([]);
    expect(again.ok).toBe(true);
  });
});
