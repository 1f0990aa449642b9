import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from './kms.ts';
import { auditedTrail, backends, dbOf } from './testing.ts';

/**
 * Each tampering is done on the stored trail, must be reported by the verifier, and is then undone, after
 * which the trail verifies again (so every check is shown to fail and to pass).
 */
describe.each(backends())('tamper-evident audit trail on %s', (backend) => {
  let kms: Kms;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ kms, close } = await auditedTrail(backend));
  });
  afterAll(() => close?.());

  it('verifies an untouched trail, every event sealed in order', async () => {
    const v = await kms.verifyAudit();
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.checked).toBeGreaterThanOrEqual(24);
    expect(v.pending).toBe(0);
    expect(await kms.sealAudit()).toBe(0);
  });

  it('stores awkward values byte for byte through the batched insert (quotes, backslashes, braces, "NULL", unicode)', async () => {
    const awkward = ['NULL', '', 'a,b', '{x}', 'say "hi"', 'back\\slash', "it's", 'tab\tnl\n', 'é✓🔑', 'literal \\u0000 text'];
    for (const [i, p] of awkward.entries())
      kms.audit.record({
        at: new Date(),
        tenantId: null,
        dialect: 'test',
        principal: p,
        action: `awkward${i}`,
        keyId: null,
        outcome: 'failed',
        errorKind: i % 2 ? null : p,
        requestId: p,
        details: i % 3 ? null : { p, n: [1, null, { q: p }] },
      });
    await kms.audit.flush();
    const got = (
      await sql<{
        action: string;
        principal: string;
        error_kind: string | null;
        request_id: string | null;
        details: unknown;
      }>`select action, principal, error_kind, request_id, details from audit_events where action like 'awkward%'`.execute(dbOf(kms))
    ).rows;
    expect(got).toHaveLength(awkward.length);
    for (const [i, p] of awkward.entries()) {
      const r = got.find((x) => x.action === `awkward${i}`)!;
      expect([r.principal, r.error_kind, r.request_id, r.details]).toEqual([
        p,
        i % 2 ? null : p,
        p,
        i % 3 ? null : { p, n: [1, null, { q: p }] },
      ]);
    }
    expect((await kms.verifyAudit()).ok).toBe(true);
  });

  it('stores an event carrying NUL characters or unpaired surrogates (PostgreSQL refuses them) with U+FFFD instead, and the batch is not lost', async () => {
    kms.audit.record({
      at: new Date(),
      tenantId: null,
      dialect: 'test',
      principal: 'a\u0000b',
      action: 'nul',
      keyId: null,
      outcome: 'failed',
      requestId: '\u0000',
      details: { 'k\u0000': ['x\u0000y', 1] },
    });
    kms.audit.record({
      at: new Date(),
      tenantId: null,
      dialect: 'test',
      principal: 'p\ud800',
      action: 'nul-surrogate',
      keyId: null,
      outcome: 'denied',
      requestId: 'ok 🔑',
      details: { reason: '\udc00x', fine: '🔑' },
    });
    kms.audit.record({
      at: new Date(),
      tenantId: null,
      dialect: 'test',
      principal: 'after',
      action: 'nul-next',
      keyId: null,
      outcome: 'allowed',
    });
    await kms.audit.flush();
    const got = (
      await sql<{
        action: string;
        principal: string;
        request_id: string | null;
        details: unknown;
      }>`select action, principal, request_id, details from audit_events where action like 'nul%' order by action`.execute(dbOf(kms))
    ).rows;
    expect(got).toEqual([
      { action: 'nul', principal: 'a\ufffdb', request_id: '\ufffd', details: { 'k\ufffd': ['x\ufffdy', 1] } },
      { action: 'nul-next', principal: 'after', request_id: null, details: null },
      {
        action: 'nul-surrogate',
        principal: 'p\ufffd',
        request_id: 'ok 🔑',
        details: { reason: '\ufffdx', fine: '🔑' },
      },
    ]);
    expect((await kms.verifyAudit()).ok).toBe(true);
  });
});
