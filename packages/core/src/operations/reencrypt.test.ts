import { createDecipheriv } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, dbOf, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('reEncrypt on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  const events = async (requestId: string) => {
    await kms.sealAudit();
    return dbOf(kms)
      .selectFrom('audit_events')
      .select(['action', 'key_id', 'outcome', 'details'])
      .where('request_id', '=', requestId)
      .orderBy('seq')
      .execute();
  };

  it('moves a ciphertext to another key, each half audited on its own key; the context moves with it', async () => {
    const raw = Buffer.alloc(32, 7);
    const src = await kms.createKey(alice, { name: 'src', spec: { kind: 'oct', size: 256 } });
    const dst = await kms.importKey(alice, { name: 'dst', material: { format: 'raw', bytes: raw } });
    const ct = await kms.encrypt(alice, src.id, Buffer.from('move me'), Buffer.from('ctx-a'));
    const c = { ...alice, requestId: 'req-move' };
    const r = await kms.reEncrypt(
      c,
      { ciphertext: ct.ciphertext, context: Buffer.from('ctx-a') },
      { keyId: dst.id, context: Buffer.from('ctx-b') },
    );
    expect(r).toMatchObject({ sourceKeyId: src.id, keyId: dst.id, version: 1 });
    expect((await kms.decrypt(alice, r.ciphertext, Buffer.from('ctx-b'))).plaintext.toString()).toBe('move me');
    await expectKind(kms.decrypt(alice, r.ciphertext, Buffer.from('ctx-a')), 'invalid_argument');
    // An independent AES-GCM opens it under the destination's raw key (core's layout, ciphertext.ts).
    const d = createDecipheriv('aes-256-gcm', raw, r.ciphertext.subarray(21, 33));
    d.setAAD(Buffer.concat([r.ciphertext.subarray(0, 21), Buffer.from('ctx-b')]));
    d.setAuthTag(r.ciphertext.subarray(33, 49));
    expect(Buffer.concat([d.update(r.ciphertext.subarray(49)), d.final()]).toString()).toBe('move me');
    expect(await events('req-move')).toEqual([
      { action: 'key.decrypt', key_id: src.id, outcome: 'allowed', details: { version: 1, reencrypt: 'source' } },
      { action: 'key.encrypt', key_id: dst.id, outcome: 'allowed', details: { version: 1, reencrypt: 'destination' } },
    ]);
  });

  it('keeps a data key a data key, and moves RSA-OAEP ciphertext in and out', async () => {
    const a = await kms.createKey(alice, { name: 'a', spec: { kind: 'oct', size: 256 } });
    const b = await kms.createKey(alice, { name: 'b', spec: { kind: 'oct', size: 256 } });
    const rsa = await kms.createKey(alice, { name: 'rsa', spec: { kind: 'RSA', size: 2048 }, ops: ['encrypt', 'decrypt'] });
    const dk = await kms.generateDataKey(alice, a.id, 32);
    const moved = await kms.reEncrypt(alice, { ciphertext: dk.ciphertext, dataKey: true }, { keyId: b.id });
    expect((await kms.decrypt(alice, moved.ciphertext, undefined, { dataKey: true })).plaintext.equals(dk.plaintext!)).toBe(true);
    await expectKind(kms.decrypt(alice, moved.ciphertext), 'invalid_argument', /data key/);
    const toRsa = await kms.reEncrypt(alice, { ciphertext: moved.ciphertext, dataKey: true }, { keyId: rsa.id, oaep: { hash: 'SHA-256' } });
    expect((await kms.rsaDecrypt(alice, rsa.id, toRsa.ciphertext, { hash: 'SHA-256' })).plaintext.equals(dk.plaintext!)).toBe(true);
    const back = await kms.reEncrypt(alice, { ciphertext: toRsa.ciphertext, keyId: rsa.id, oaep: { hash: 'SHA-256' } }, { keyId: a.id });
    expect(back.sourceKeyId).toBe(rsa.id);
    expect((await kms.decrypt(alice, back.ciphertext)).plaintext.equals(dk.plaintext!)).toBe(true);
  });

  it('refuses before decrypting when the destination cannot take it, and keeps tenants apart', async () => {
    const a = await kms.createKey(alice, { name: 'ra', spec: { kind: 'oct', size: 256 } });
    const signer = await kms.createKey(alice, { name: 'signer', spec: { kind: 'RSA', size: 2048 }, ops: ['sign', 'verify'] });
    const off = await kms.createKey(alice, { name: 'off', spec: { kind: 'oct', size: 256 } });
    await kms.deactivate(alice, off.id);
    const ct = await kms.encrypt(alice, a.id, Buffer.from('x'));
    const c = { ...alice, requestId: 'req-refused' };
    await expectKind(kms.reEncrypt(c, { ciphertext: ct.ciphertext }, { keyId: signer.id }), 'unsupported');
    await expectKind(kms.reEncrypt(c, { ciphertext: ct.ciphertext }, { keyId: off.id }), 'failed_precondition');
    // Nothing was decrypted: only the destination's refusals are in the trail.
    expect((await events('req-refused')).map((e) => [e.action, e.key_id, e.outcome])).toEqual([
      ['key.encrypt', signer.id, 'failed'],
      ['key.encrypt', off.id, 'failed'],
    ]);
    const denied = { ...alice, requestId: 'req-denied', authorize: (action: string) => action !== 'key.decrypt' };
    await expectKind(kms.reEncrypt(denied, { ciphertext: ct.ciphertext }, { keyId: a.id }), 'permission_denied');
    expect((await events('req-denied')).map((e) => [e.action, e.outcome])).toEqual([['key.decrypt', 'denied']]);
    await expectKind(kms.reEncrypt(alice, { ciphertext: ct.ciphertext, expectKeyId: off.id }, { keyId: a.id }), 'invalid_argument');
    // Another tenant's keys do not exist for bob, on either side.
    const bk = await kms.createKey(bob, { name: 'bk', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.reEncrypt(bob, { ciphertext: ct.ciphertext }, { keyId: bk.id }), 'not_found');
    await expectKind(kms.reEncrypt(alice, { ciphertext: ct.ciphertext }, { keyId: bk.id }), 'not_found');
  });
});
