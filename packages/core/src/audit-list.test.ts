import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsError } from './errors.ts';
import type { Caller, Kms } from './kms.ts';
import { backends, openTestKms } from './testing.ts';

describe.each(backends())('reading the audit trail on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let alice: Caller;
  let bob: Caller;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    alice = { tenantId: (await kms.tenants.create('alice')).id, dialect: 'test', principal: 'alice', requestId: 'r-a' };
    bob = { tenantId: (await kms.tenants.create('bob')).id, dialect: 'test', principal: 'bob' };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('lists newest first, per tenant and per key, pages with `before`, and sees buffered events at once', async () => {
    // Events in the same millisecond have no time order; a tick apart, they do.
    const tick = () => new Promise((r) => setTimeout(r, 3));
    const k = await kms.createKey(alice, { name: 'k', spec: { kind: 'oct', size: 256 } });
    await tick();
    await kms.getKey(alice, k.id); // buffered: inserted after the deactivation below, listed before it
    await tick();
    await kms.deactivate(alice, k.id);
    await tick();
    await kms.createKey(bob, { name: 'b', spec: { kind: 'oct', size: 128 } });

    const all = await kms.audit.list({ tenantId: alice.tenantId });
    expect(all.events.map((e) => e.action)).toEqual(['key.deactivate', 'key.get', 'key.create']);
    expect(all.events.every((e) => e.tenantId === alice.tenantId && e.keyId === k.id)).toBe(true);
    expect(all.events[2]).toMatchObject({
      dialect: 'test',
      principal: 'alice',
      outcome: 'allowed',
      requestId: 'r-a',
      errorKind: null,
    });
    expect(all.nextBefore).toBeNull();

    const p1 = await kms.audit.list({ tenantId: alice.tenantId, limit: 2 });
    expect(p1.events.map((e) => e.action)).toEqual(['key.deactivate', 'key.get']);
    const p2 = await kms.audit.list({ tenantId: alice.tenantId, limit: 2, before: p1.nextBefore! });
    expect(p2.events.map((e) => e.action)).toEqual(['key.create']);
    expect(p2.nextBefore).toBeNull();

    expect((await kms.audit.list({ keyId: k.id })).events).toHaveLength(3);
    expect((await kms.audit.list({ limit: 1 })).events[0]!.tenantId).toBe(bob.tenantId);
  });

  it("filters by dialect, principal (contains, literally), action, outcome and time, and hides one caller's reads", async () => {
    const t = await kms.tenants.create('filtered');
    const ops: Caller = { tenantId: t.id, dialect: 'admin', principal: 'admin-console' };
    const app: Caller = { tenantId: t.id, dialect: 'ovh', principal: 'urn:v1:eu:identity:account:a_b%c' };
    const start = new Date();
    const k = await kms.createKey(ops, { name: 'k', spec: { kind: 'oct', size: 256 } });
    await kms.getKey(ops, k.id);
    await kms.listKeys(ops);
    await kms.getKey(app, k.id);
    await kms.getKey(ops, '00000000-0000-4000-8000-000000000000').catch(() => undefined); // a failed read stays visible
    const actions = async (q: object) =>
      (await kms.audit.list({ tenantId: t.id, ...q })).events.map((e) => `${e.dialect}:${e.action}:${e.outcome}`).sort();
    expect(await actions({ dialect: 'ovh' })).toEqual(['ovh:key.get:allowed']);
    expect(await actions({ principal: 'A_B%' })).toEqual(['ovh:key.get:allowed']);
    expect(await actions({ principal: 'a%b' })).toEqual([]);
    expect(await actions({ action: 'key.get' })).toHaveLength(3);
    expect(await actions({ outcome: 'failed' })).toEqual(['admin:key.get:failed']);
    expect(await actions({ hide: { dialect: 'admin', principal: 'admin-console', actions: ['key.get', 'key.list'] } })).toEqual([
      'admin:key.create:allowed',
      'admin:key.get:failed',
      'ovh:key.get:allowed',
    ]);
    expect(await actions({ since: start })).toHaveLength(5);
    expect(await actions({ until: start })).toEqual([]);
    expect(await actions({ since: new Date(Date.now() + 60_000) })).toEqual([]);
    for (const q of [
      { outcome: 'maybe' },
      { principal: '' },
      { action: 'x'.repeat(300) },
      { since: new Date('nope') },
      { dialect: 'a\u0000' },
    ]) {
      await expect(kms.audit.list(q as never)).rejects.toSatisfy((e: unknown) => e instanceof KmsError && e.kind === 'invalid_argument');
    }
  });

  it('refuses a bad page size, position or id as invalid_argument (never a database error)', async () => {
    for (const q of [
      { limit: 0 },
      { limit: 1001 },
      { before: 'abc' },
      { before: 'a.b' },
      { before: Buffer.from('2020-01-01T00:00:00Z|0').toString('base64url') },
      { tenantId: 'nope' },
      { keyId: "1' or 1=1" },
    ]) {
      await expect(kms.audit.list(q)).rejects.toSatisfy((e: unknown) => e instanceof KmsError && e.kind === 'invalid_argument');
    }
  });
});
