import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KmsError } from '../errors.ts';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants, dbOf } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('encrypt on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('encrypts and decrypts with the context bound, finding the key from the ciphertext', async () => {
    const k = await kms.createKey(alice, { name: 'aes', spec: { kind: 'oct', size: 256 } });
    const pt = Buffer.from('attack at dawn');
    const ctx = Buffer.from('order-42');
    const { ciphertext } = await kms.encrypt(alice, k.id, pt, ctx);
    const out = await kms.decrypt(alice, ciphertext, ctx);
    expect(out.plaintext.equals(pt)).toBe(true);
    expect(out.keyId).toBe(k.id);
    expect(out.version).toBe(1);
    await expectKind(kms.decrypt(alice, ciphertext, Buffer.from('order-43')), 'invalid_argument', /context/);
    await expectKind(kms.decrypt(alice, ciphertext), 'invalid_argument');
    const tampered = Buffer.from(ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    await expectKind(kms.decrypt(alice, tampered, ctx), 'invalid_argument');
    await expectKind(kms.decrypt(alice, Buffer.from('not a ciphertext')), 'invalid_argument', /malformed/);
    // Empty plaintext is legal and round-trips.
    const empty = await kms.encrypt(alice, k.id, Buffer.alloc(0));
    expect((await kms.decrypt(alice, empty.ciphertext)).plaintext.length).toBe(0);
  });

  it('decrypts core ciphertexts with an independent AES-GCM (the layout is what ciphertext.ts says)', async () => {
    const k = await kms.importKey(alice, { name: 'imp', material: { format: 'raw', bytes: randomBytes(32) } });
    const raw = randomBytes(32);
    const k2 = await kms.importKey(alice, { name: 'imp2', material: { format: 'raw', bytes: raw } });
    const { ciphertext } = await kms.encrypt(alice, k2.id, Buffer.from('hello'), Buffer.from('c'));
    const header = ciphertext.subarray(0, 21);
    const iv = ciphertext.subarray(21, 33);
    const tag = ciphertext.subarray(33, 49);
    const d = (await import('node:crypto')).createDecipheriv('aes-256-gcm', raw, iv);
    d.setAAD(Buffer.concat([header, Buffer.from('c')]));
    d.setAuthTag(tag);
    expect(Buffer.concat([d.update(ciphertext.subarray(49)), d.final()]).toString()).toBe('hello');
    expect(k.origin).toBe('imported');
  });

  it('a row whose encrypted material is moved to another key id does not decrypt', async () => {
    const victim = await kms.importKey(alice, { name: 'victim', material: { format: 'raw', bytes: randomBytes(32) } });
    const attacker = await kms.createKey(alice, { name: 'attacker', spec: { kind: 'oct', size: 256 } });
    const src = await dbOf(kms).selectFrom('key_versions').selectAll().where('key_id', '=', victim.id).executeTakeFirstOrThrow();
    await dbOf(kms)
      .updateTable('key_versions')
      .set({ material: src.material, root_key_id: src.root_key_id })
      .where('key_id', '=', attacker.id)
      .execute();
    kms.cache.clear();
    await expectKind(kms.encrypt(alice, attacker.id, Buffer.from('x')), 'internal');
    // The message says what happened, and nothing of the material.
    await kms
      .encrypt(alice, attacker.id, Buffer.from('x'))
      .catch((e: KmsError) => expect(e.message).toBe('stored key material does not authenticate'));
  });

  it('keeps data keys and ciphertexts apart, and refuses impossible versions without hurting batched neighbours', async () => {
    const k = await kms.createKey(alice, { name: 'sep', spec: { kind: 'oct', size: 256 } });
    const dk = await kms.generateDataKey(alice, k.id, 32);
    await expectKind(kms.decrypt(alice, dk.ciphertext), 'invalid_argument', /data key/);
    const ct = await kms.encrypt(alice, k.id, Buffer.from('x'));
    await expectKind(kms.decrypt(alice, ct.ciphertext, undefined, { dataKey: true }), 'invalid_argument', /not a data key/);
    // Relabelling a data key as data breaks the authenticated header.
    const relabelled = Buffer.from(dk.ciphertext);
    relabelled[0] = 0x01;
    await expectKind(kms.decrypt(alice, relabelled), 'invalid_argument');
    const huge = Buffer.from(ct.ciphertext);
    huge.writeUInt32BE(3_000_000_000, 17);
    const [bad, good] = await Promise.allSettled([kms.decrypt(bob, huge), kms.decrypt(alice, ct.ciphertext)]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason.kind).toBe('invalid_argument');
    expect(good.status).toBe('fulfilled');
  });
});
