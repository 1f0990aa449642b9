import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants, dbOf } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('pipeline on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('enforces usage: a sign-only key cannot encrypt, an encrypt-only key cannot decrypt', async () => {
    const ec = await kms.createKey(alice, { name: 'ec', spec: { kind: 'EC', curve: 'P-256' } });
    await expectKind(kms.encrypt(alice, ec.id, Buffer.from('x')), 'unsupported', /not allowed to encrypt/);
    const encOnly = await kms.createKey(alice, { name: 'enc', spec: { kind: 'oct', size: 256 }, ops: ['encrypt'] });
    const { ciphertext } = await kms.encrypt(alice, encOnly.id, Buffer.from('x'));
    await expectKind(kms.decrypt(alice, ciphertext), 'unsupported', /not allowed to decrypt/);
    const aes = await kms.createKey(alice, { name: 'aes', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.sign(alice, aes.id, { scheme: 'ECDSA', hash: 'SHA-256' }, Buffer.from('m')), 'unsupported');
    await expectKind(kms.getPublicKey(alice, aes.id), 'unsupported');
  });

  it('isolates tenants: another tenant key is not found, for every operation', async () => {
    const k = await kms.createKey(alice, { name: 'mine', spec: { kind: 'oct', size: 256 } });
    const { ciphertext } = await kms.encrypt(alice, k.id, Buffer.from('secret'));
    await expectKind(kms.getKey(bob, k.id), 'not_found');
    await expectKind(kms.encrypt(bob, k.id, Buffer.from('x')), 'not_found');
    await expectKind(kms.decrypt(bob, ciphertext), 'not_found');
    await expectKind(kms.deactivate(bob, k.id), 'not_found');
    await expectKind(kms.destroy(bob, k.id), 'not_found');
    await expectKind(kms.updateKey(bob, k.id, { name: 'pwned' }), 'not_found');
    await expectKind(kms.rotate(bob, k.id), 'not_found');
    await expectKind(kms.generateDataKey(bob, k.id, 32), 'not_found');
    expect((await kms.listKeys(bob)).keys.find((x) => x.id === k.id)).toBeUndefined();
    await expectKind(kms.getKey(alice, 'not-a-uuid'), 'not_found');
    await expectKind(kms.getKey({ ...alice, tenantId: 'nope' }, k.id), 'not_found');
    expect((await kms.getKey(alice, k.id)).name).toBe('mine');
  });

  it('applies the dialect policy hook and audits denials', async () => {
    const k = await kms.createKey(alice, { name: 'policy', spec: { kind: 'oct', size: 256 } });
    const readOnly: Caller = {
      ...alice,
      principal: 'reader',
      requestId: 'req-deny',
      authorize: (action) => action === 'key.get' || action === 'key.list',
    };
    expect((await kms.getKey(readOnly, k.id)).id).toBe(k.id);
    await expectKind(kms.encrypt(readOnly, k.id, Buffer.from('x')), 'permission_denied');
    await expectKind(kms.createKey(readOnly, { name: 'n', spec: { kind: 'oct', size: 256 } }), 'permission_denied');
    // No flush: a refusal is answered once its event is stored.
    const denied = await dbOf(kms)
      .selectFrom('audit_events')
      .selectAll()
      .where('request_id', '=', 'req-deny')
      .where('outcome', '=', 'denied')
      .execute();
    expect(denied.map((d) => d.action).sort()).toEqual(['key.create', 'key.encrypt']);
    expect(denied[0]!.principal).toBe('reader');
  });

  it('writes an audit event for every operation, allowed or not', async () => {
    const caller = { ...alice, requestId: 'req-audit' };
    const k = await kms.createKey(caller, { name: 'audited', spec: { kind: 'oct', size: 256 } });
    await kms.encrypt(caller, k.id, Buffer.from('x'));
    await kms.deactivate(caller, k.id);
    await expectKind(kms.encrypt(caller, k.id, Buffer.from('x')), 'failed_precondition');
    // No flush: every operation was answered only once its event was stored.
    const rows = await dbOf(kms).selectFrom('audit_events').selectAll().where('request_id', '=', 'req-audit').orderBy('id').execute();
    // Changes are written in their transaction, reads and crypto through the buffer: compare as a set.
    expect(rows.map((r) => `${r.action}:${r.outcome}`).sort()).toEqual([
      'key.create:allowed',
      'key.deactivate:allowed',
      'key.encrypt:allowed',
      'key.encrypt:failed',
    ]);
    expect(rows.every((r) => r.tenant_id === alice.tenantId && r.key_id === k.id && r.dialect === 'test')).toBe(true);
    expect(rows.find((r) => r.outcome === 'failed')!.error_kind).toBe('failed_precondition');
  });

  it('never serves a key state older than the last acknowledged change, even with reads in flight', async () => {
    const k = await kms.createKey(alice, { name: 'racy', spec: { kind: 'oct', size: 256 } });
    for (let i = 0; i < 15; i++) {
      const inFlight = Array.from({ length: 8 }, () => kms.encrypt(alice, k.id, Buffer.from('x')).catch(() => 'refused'));
      await kms.deactivate(alice, k.id);
      await expectKind(kms.encrypt(alice, k.id, Buffer.from('after')), 'failed_precondition');
      await Promise.all(inFlight);
      await expectKind(kms.encrypt(alice, k.id, Buffer.from('after')), 'failed_precondition');
      await kms.activate(alice, k.id);
      expect((await kms.encrypt(alice, k.id, Buffer.from('again'))).keyId).toBe(k.id);
    }
  });

  it('keeps a key a dialect owns out of every other dialect, linked or not; customer keys stay shared', async () => {
    const t = await kms.tenants.create('owned-keys');
    const cse: Caller = { tenantId: t.id, dialect: 'cse', principal: 'system:cse' };
    const others: Caller[] = ['ovh', 'huawei', 'admin', 'test'].map((dialect) => ({
      tenantId: t.id,
      dialect,
      principal: 'p',
    }));
    // A customer key named like the KEK, made first, is not taken for it.
    const squatter = await kms.createKey(others[0]!, { name: 'google-cse-kek', spec: { kind: 'oct', size: 256 } });
    const kek = await kms.ownKey(cse, {
      name: 'google-cse-kek',
      spec: { kind: 'oct', size: 256 },
      ops: ['encrypt', 'decrypt'],
    });
    expect(kek.id).not.toBe(squatter.id);
    expect(kek.owner).toBe('cse');
    expect((await kms.ownKey(cse, { name: 'google-cse-kek', spec: { kind: 'oct', size: 256 } })).id).toBe(kek.id);
    const customer = await kms.createKey(others[1]!, { name: 'shared', spec: { kind: 'oct', size: 256 } });
    const ctx = Buffer.from('google-cse/wrapped-key/v1');
    const sealed = await kms.encrypt(cse, kek.id, Buffer.from('a DEK'), ctx);
    for (const c of others) {
      const listed = (await kms.listKeys(c)).keys.map((k) => k.id);
      expect(listed, c.dialect).toContain(customer.id);
      expect(listed, c.dialect).not.toContain(kek.id);
      for (const attempt of [
        () => kms.getKey(c, kek.id),
        () => kms.encrypt(c, kek.id, Buffer.from('x')),
        () => kms.decrypt(c, sealed.ciphertext, ctx),
        () => kms.decrypt(c, sealed.ciphertext, ctx, { expectKeyId: kek.id }),
        () => kms.generateDataKey(c, kek.id, 32),
        () => kms.updateKey(c, kek.id, { name: 'mine' }),
        () => kms.deactivate(c, kek.id),
        () => kms.activate(c, kek.id),
        () => kms.scheduleDeletion(c, kek.id, 0, { deactivate: true }),
        () => kms.cancelDeletion(c, kek.id),
        () => kms.destroy(c, kek.id),
        () => kms.rotate(c, kek.id),
        () => kms.getPublicKey(c, kek.id),
      ])
        await expectKind(attempt(), 'not_found');
      // Customer keys are the tenant's, for every dialect.
      expect((await kms.getKey(c, customer.id)).id).toBe(customer.id);
    }
    // Nothing changed behind the refusals; the owner still uses, rotates and sees both kinds of key.
    const after = await kms.getKey(cse, kek.id);
    expect([after.state, after.name, after.currentVersion]).toEqual(['active', 'google-cse-kek', 1]);
    expect((await kms.decrypt(cse, sealed.ciphertext, ctx)).plaintext.toString()).toBe('a DEK');
    expect((await kms.listKeys(cse)).keys.map((k) => k.id).sort()).toEqual([squatter.id, kek.id, customer.id].sort());
    await kms.rotate(cse, kek.id);
    expect((await kms.decrypt(cse, sealed.ciphertext, ctx)).plaintext.toString()).toBe('a DEK');
  });

  it('fails closed: while the store refuses audit events, reads, crypto and random fail with unavailable; a refusal keeps its own error', async () => {
    const k = await kms.createKey(alice, { name: 'closed', spec: { kind: 'oct', size: 256 } });
    const ct = await kms.encrypt(alice, k.id, Buffer.from('x'));
    await sql`alter table audit_events add constraint refuse_audit check (false) not valid`.execute(dbOf(kms));
    try {
      await expectKind(kms.encrypt(alice, k.id, Buffer.from('x')), 'unavailable', /audit/);
      await expectKind(kms.decrypt(alice, ct.ciphertext), 'unavailable', /audit/);
      await expectKind(kms.getKey(alice, k.id), 'unavailable', /audit/);
      await expectKind(kms.listKeys(alice), 'unavailable', /audit/);
      await expectKind(kms.random(alice, 16), 'unavailable', /audit/);
      await expectKind(kms.encrypt({ ...alice, authorize: () => false }, k.id, Buffer.from('x')), 'permission_denied');
      await expectKind(kms.getKey(alice, randomUUID()), 'not_found');
    } finally {
      await sql`alter table audit_events drop constraint refuse_audit`.execute(dbOf(kms));
    }
    expect((await kms.decrypt(alice, ct.ciphertext)).plaintext.toString()).toBe('x');
    expect((await kms.verifyAudit()).problems).toEqual([]);
  });
});
