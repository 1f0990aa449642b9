import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from './kms.ts';
import { verifyAuditChain } from './auditchain.ts';
import { backends, dbOf, openTestKms } from './testing.ts';

/**
 * Each tampering is done on the stored trail, must be reported by the verifier, and is then undone, after
 * which the trail verifies again (so every check is shown to fail and to pass).
 */
describe.each(backends())('audit chain head on %s: upgrade, rollback, anchors', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let c: Caller;
  let keyId: string;
  const lines: Record<string, any>[] = [];

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    // The trail's own log lines, to read the anchors it writes.
    (kms.audit as unknown as { log: unknown }).log = {
      info: (o: Record<string, any>) => lines.push(o),
      warn: (o: Record<string, any>, m: string) => lines.push({ ...o, msg: m }),
      error: (o: Record<string, any>, m: string) => lines.push({ ...o, msg: m, level: 'error' }),
    };
    const t = await kms.tenants.create('head');
    c = { tenantId: t.id, dialect: 'test', principal: 'alice' };
    keyId = (await kms.createKey(c, { name: 'k', spec: { kind: 'oct', size: 256 } })).id;
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  const head = async () =>
    (
      await sql<{
        seq: string;
        chain: Buffer;
        mac: Buffer | null;
        legacy_max_id: string;
        adopt_pending: boolean;
      }>`select * from audit_chain_head`.execute(dbOf(kms))
    ).rows[0]!;

  it('logs the head (seq, chain) with each committed batch, and an anchor taken from it catches a rollback a fresh process cannot see', async () => {
    await kms.encrypt(c, keyId, Buffer.from('a'));
    const line = lines.filter((l) => l.audit && l.head).at(-1)!;
    const h = await head();
    expect(line.head).toEqual({ seq: String(h.seq), chain: h.chain.toString('hex') });
    expect(line.seq).toBe(String(h.seq));
    // Roll the head back to this copy after more events: a process that did not write them cannot tell.
    const old = h;
    for (let i = 0; i < 3; i++) await kms.encrypt(c, keyId, Buffer.from('b'));
    const anchor = lines.filter((l) => l.audit && l.head).at(-1)!.head as { seq: string; chain: string };
    const saved = (await sql<Record<string, unknown>>`select * from audit_events where seq > ${old.seq}`.execute(dbOf(kms))).rows;
    const now = await head();
    await sql`delete from audit_events where seq > ${old.seq}`.execute(dbOf(kms));
    await sql`update audit_chain_head set seq = ${old.seq}, chain = ${old.chain}, mac = ${old.mac}`.execute(dbOf(kms));
    const fresh = await verifyAuditChain(dbOf(kms), kms.audit.macKey!);
    expect(fresh.problems).toEqual([]);
    const anchored = await verifyAuditChain(dbOf(kms), kms.audit.macKey!, { anchor });
    expect(anchored.ok).toBe(false);
    expect(anchored.problems.map((p) => p.problem).join('\n')).toMatch(/anchored event .* is not in the chain/);
    expect((await kms.verifyAudit()).problems.map((p) => p.problem).join('\n')).toMatch(/went back/);
    for (const r of saved) {
      const cols = Object.keys(r);
      await sql`insert into audit_events (${sql.join(cols.map((k) => sql.ref(k)))}) values (${sql.join(cols.map((k) => (k === 'details' && r[k] !== null ? JSON.stringify(r[k]) : r[k])))})`.execute(
        dbOf(kms),
      );
    }
    await sql`update audit_chain_head set seq = ${now.seq}, chain = ${now.chain}, mac = ${now.mac}`.execute(dbOf(kms));
    expect((await kms.verifyAudit(anchor)).problems).toEqual([]);
  });

  it('MACs the head of an upgraded store once, legacy events and all; a head unMACed later is reported, and a write after it marks it for good', async () => {
    // A store as the previous version left it: events without MAC or place in the chain, the head
    // without MAC, the migration's adoption flag set.
    const h0 = await head();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (
          await sql<{
            id: string;
          }>`insert into audit_events (at, dialect, principal, action, outcome) values (now(), 'ovh', 'old', 'key.encrypt', 'allowed') returning id`.execute(
            dbOf(kms),
          )
        ).rows[0]!.id,
      );
    await sql`update audit_chain_head set mac = null, adopt_pending = true, legacy_max_id = ${ids.at(-1)}`.execute(dbOf(kms));
    // Until then the legacy bound is not trusted either.
    const before = (await kms.verifyAudit()).problems.map((p) => p.problem);
    expect(before[0]).toBe('the chain head is not authenticated yet (it is at the next start of the gateway)');
    expect(before.slice(1)).toEqual(ids.map(() => 'no MAC and not in the chain: this event was not written by polykms'));
    await kms.audit.useKey(kms.audit.macKey!);
    const adopted = await verifyAuditChain(dbOf(kms), kms.audit.macKey!);
    expect(adopted.problems).toEqual([]);
    expect(adopted.legacy).toBe(3);
    expect(BigInt((await head()).seq)).toBe(BigInt(h0.seq) + 1n);
    expect(lines.some((l) => /authenticated as found/.test(l.msg ?? ''))).toBe(true);
    expect(
      Number(
        (await sql<{ n: string }>`select count(*) as n from audit_events where action = 'audit.head_adopted'`.execute(dbOf(kms))).rows[0]!
          .n,
      ),
    ).toBe(1);

    // Resetting the flag too gets a second adoption, which the verifier reports.
    const adoptedHead = await head();
    await sql`update audit_chain_head set mac = null, adopt_pending = true`.execute(dbOf(kms));
    await kms.audit.useKey(kms.audit.macKey!);
    expect((await kms.verifyAudit()).problems.map((p) => p.problem)).toEqual([
      'the chain head was authenticated as found a second time: it had been reset in the database, and events before this one may have been cut',
    ]);
    await sql`delete from audit_events where seq > ${adoptedHead.seq}`.execute(dbOf(kms));
    await sql`update audit_chain_head set seq = ${adoptedHead.seq}, chain = ${adoptedHead.chain}, mac = ${adoptedHead.mac}`.execute(
      dbOf(kms),
    );
    expect((await verifyAuditChain(dbOf(kms), kms.audit.macKey!)).problems).toEqual([]);

    // Only once: the flag is gone, so a head whose MAC is removed later is not adopted again.
    await sql`update audit_chain_head set mac = null`.execute(dbOf(kms));
    await kms.audit.useKey(kms.audit.macKey!);
    expect((await kms.verifyAudit()).problems.map((p) => p.problem).join('\n')).toMatch(/has no MAC/);
    // The next write goes on (a database writer must not be able to stop the service) but marks the
    // trail, so MACing the head again does not launder the tampering.
    await kms.encrypt(c, keyId, Buffer.from('after'));
    const v = await kms.verifyAudit();
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.problem).join('\n')).toMatch(
      /found the chain head rewritten before this event \(the chain head had no MAC\)/,
    );
    expect(v.problems.map((p) => p.problem).join('\n')).not.toMatch(/has no MAC:/);
  });
});
