import { createCipheriv, createHash, privateDecrypt, randomBytes, sign as cryptoSign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants, dbOf } from '../testing.ts';
import { expectKind } from '../test-expect.ts';
import { generateKeyPairDetached } from '../keypair.ts';

describe.each(backends())('create on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('creates every supported key type, active, with the operations its kind allows', async () => {
    const specs = [
      { kind: 'oct', size: 128 },
      { kind: 'oct', size: 192 },
      { kind: 'oct', size: 256 },
      { kind: 'RSA', size: 2048 },
      { kind: 'EC', curve: 'P-256' },
      { kind: 'EC', curve: 'P-384' },
      { kind: 'EC', curve: 'P-521' },
      { kind: 'HMAC', size: 256 },
    ] as const;
    for (const spec of specs) {
      const k = await kms.createKey(alice, { name: `k-${spec.kind}`, spec });
      expect(k.state).toBe('active');
      expect(k.kind).toBe(spec.kind);
      expect(k.currentVersion).toBe(1);
      expect(k.activatedAt).toBeInstanceOf(Date);
    }
    const ec = await kms.createKey(alice, { name: 'ec', spec: { kind: 'EC', curve: 'P-256' } });
    expect(ec.ops).toEqual(['sign', 'verify']);
  });

  it('refuses bad specs and operations with a message that says what is wrong', async () => {
    await expectKind(kms.createKey(alice, { name: 'x', spec: { kind: 'RSA', size: 1024 } }), 'invalid_argument', /2048, 3072, 4096/);
    await expectKind(kms.createKey(alice, { name: 'x', spec: { kind: 'EC', curve: 'P-192' as never } }), 'invalid_argument', /curve/);
    await expectKind(
      kms.createKey(alice, { name: 'x', spec: { kind: 'oct', size: 256 }, ops: ['sign'] }),
      'invalid_argument',
      /cannot 'sign'/,
    );
    await expectKind(kms.createKey(alice, { name: '', spec: { kind: 'oct', size: 256 } }), 'invalid_argument', /name/);
    await expectKind(kms.createKey(alice, { name: 'x', spec: { kind: 'DSA' as never } }), 'invalid_argument', /unknown key type/);
  });

  it('takes a caller-chosen key id once', async () => {
    const id = '6d1f0e4e-9b1c-4f0a-8a59-0c2f4d3e2b1a';
    const k = await kms.createKey(alice, { id, name: 'chosen', spec: { kind: 'oct', size: 256 } });
    expect(k.id).toBe(id);
    await expectKind(kms.createKey(alice, { id, name: 'again', spec: { kind: 'oct', size: 256 } }), 'conflict', /already exists/);
    await expectKind(kms.createKey(alice, { id: 'nope', name: 'bad', spec: { kind: 'oct', size: 256 } }), 'invalid_argument', /UUID/);
  });

  it('imports a public key: verifies and encrypts (checked with the private half outside), never signs or decrypts', async () => {
    const pair = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    await expectKind(
      kms.importKey(alice, {
        name: 'pub-sign',
        ops: ['sign', 'verify'],
        material: { format: 'jwk', jwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown> },
      }),
      'invalid_argument',
      /public key .* not sign/,
    );
    const k = await kms.importKey(alice, {
      name: 'pub',
      material: { format: 'jwk', jwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown> },
    });
    expect(k.ops.sort()).toEqual(['encrypt', 'verify', 'wrapKey']);
    const msg = Buffer.from('signed elsewhere');
    const sig = cryptoSign('sha256', msg, pair.privateKey);
    const params = { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
    expect((await kms.verify(alice, k.id, params, msg, sig)).valid).toBe(true);
    expect((await kms.verify(alice, k.id, params, Buffer.from('other'), sig)).valid).toBe(false);
    const wrapped = await kms.rsaEncrypt(alice, k.id, Buffer.from('dek'), { hash: 'SHA-256' });
    expect(privateDecrypt({ key: pair.privateKey, oaepHash: 'sha256' }, wrapped.ciphertext).toString()).toBe('dek');
    await expectKind(kms.sign(alice, k.id, params, msg), 'unsupported');
    await expectKind(kms.rsaDecrypt(alice, k.id, Buffer.alloc(256), { hash: 'SHA-256' }), 'unsupported');
    expect((await kms.getPublicKey(alice, k.id)).spki.equals(pair.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
  });

  it('keeps a plaintext sealed AES key out of every stored column', async () => {
    const raw = randomBytes(32);
    const k = await kms.importKey(alice, { name: 'leak', material: { format: 'raw', bytes: raw } });
    const v = await dbOf(kms).selectFrom('key_versions').selectAll().where('key_id', '=', k.id).executeTakeFirstOrThrow();
    expect(Buffer.from(v.material!).includes(raw)).toBe(false);
    const ksum = createHash('sha256').update(raw).digest();
    expect(Buffer.from(v.material!).includes(ksum.subarray(0, 8))).toBe(false);
    void createCipheriv;
  });

  it("scopes key ids by tenant: another tenant's id is as free as an unused one, and both keys stay apart", async () => {
    const a = await kms.createKey(alice, { name: 'a-own', spec: { kind: 'oct', size: 256 } });
    const pt = Buffer.from('per tenant');
    const fromA = await kms.encrypt(alice, a.id, pt); // alice's version is now in the caches
    const b = await kms.createKey(bob, { id: a.id.toUpperCase(), name: 'b-same-id', spec: { kind: 'oct', size: 256 } });
    expect(b.id).toBe(a.id);
    expect((await kms.getKey(bob, a.id)).name).toBe('b-same-id');
    expect((await kms.getKey(alice, a.id)).name).toBe('a-own');
    const fromB = await kms.encrypt(bob, a.id, pt);
    expect((await kms.decrypt(alice, fromA.ciphertext)).plaintext.equals(pt)).toBe(true);
    expect((await kms.decrypt(bob, fromB.ciphertext)).plaintext.equals(pt)).toBe(true);
    // Different material behind the same id and version: each tenant's ciphertext opens only there.
    await expectKind(kms.decrypt(bob, fromA.ciphertext), 'invalid_argument');
    await expectKind(kms.decrypt(alice, fromB.ciphertext), 'invalid_argument');
    // Changes stay in their tenant: bob's key destroyed, alice's still works and rotates alone.
    await kms.deactivate(bob, a.id);
    await kms.destroy(bob, a.id);
    await expectKind(kms.encrypt(bob, a.id, pt), 'failed_precondition');
    expect((await kms.getKey(alice, a.id)).state).toBe('active');
    expect((await kms.decrypt(alice, fromA.ciphertext)).plaintext.equals(pt)).toBe(true);
    await kms.rotate(alice, a.id);
    expect((await kms.encrypt(alice, a.id, pt)).version).toBe(2);
    expect((await kms.getKey(bob, a.id)).currentVersion).toBe(1);
    // Within one tenant an id is still taken once.
    await expectKind(kms.createKey(alice, { id: a.id, name: 'dup', spec: { kind: 'oct', size: 256 } }), 'conflict', /already exists/);
  });
});

describe.each(backends())('extractability and retried creates on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  const auditOf = async (keyId: string) =>
    (await kms.sealAudit(), dbOf(kms))
      .selectFrom('audit_events')
      .select(['action', 'outcome', 'details'])
      .where('key_id', '=', keyId)
      .orderBy('id')
      .execute();

  it('keys are not extractable unless asked; a public key alone is', async () => {
    const plain = await kms.createKey(alice, { name: 'plain', spec: { kind: 'oct', size: 256 } });
    expect([plain.extractable, plain.neverExtractable, plain.publicOnly]).toEqual([false, true, false]);
    const ext = await kms.createKey(alice, { name: 'ext', spec: { kind: 'oct', size: 256 }, extractable: true });
    expect([ext.extractable, ext.neverExtractable]).toEqual([true, false]);
    const { publicKey } = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    const pub = await kms.importKey(alice, {
      name: 'pub',
      material: { format: 'jwk', jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> },
    });
    expect([pub.extractable, pub.neverExtractable, pub.publicOnly]).toEqual([true, false, true]);
    const pubClosed = await kms.importKey(alice, {
      name: 'pub',
      extractable: false,
      material: { format: 'jwk', jwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> },
    });
    expect([pubClosed.extractable, pubClosed.publicOnly]).toEqual([false, true]);
    const imported = await kms.importKey(alice, { name: 'imp', material: { format: 'raw', bytes: randomBytes(32) } });
    expect([imported.extractable, imported.neverExtractable]).toEqual([false, true]);
    expect((await auditOf(ext.id))[0]?.details).toMatchObject({ extractable: true });
  });

  it('making a key extractable is audited and sets never_extractable false for good', async () => {
    const k = await kms.createKey(alice, { name: 'k', spec: { kind: 'oct', size: 256 } });
    const renamed = await kms.updateKey(alice, k.id, { name: 'k2' });
    expect([renamed.extractable, renamed.neverExtractable]).toEqual([false, true]);
    const opened = await kms.updateKey(alice, k.id, { extractable: true });
    expect([opened.extractable, opened.neverExtractable, opened.name]).toEqual([true, false, 'k2']);
    const closed = await kms.updateKey(alice, k.id, { extractable: false });
    expect([closed.extractable, closed.neverExtractable]).toEqual([false, false]);
    expect((await kms.getKey(alice, k.id)).neverExtractable).toBe(false);
    const events = (await auditOf(k.id)).filter((e) => e.action === 'key.update');
    expect(events.map((e) => e.details?.extractable)).toEqual([undefined, true, false]);
    // another tenant cannot touch it; a refused change leaves it as it was
    await expectKind(kms.updateKey(bob, k.id, { extractable: true }), 'not_found');
    const denied = { ...alice, authorize: () => false };
    await expectKind(kms.updateKey(denied, k.id, { extractable: true }), 'permission_denied');
    expect((await kms.getKey(alice, k.id)).extractable).toBe(false);
  });

  it('a retried create with the same body answers the key the first made; anything else with that id is a conflict', async () => {
    const id = '6f1c2a9e-5b7d-4e21-9c0a-7d8e6f5a4b3c';
    const input = {
      id,
      name: 'retry',
      spec: { kind: 'oct', size: 256 } as const,
      ops: ['encrypt', 'decrypt'],
      attributes: { context: 'c' },
    };
    const first = await kms.createKey(alice, input);
    const again = await kms.createKey(alice, { ...input, id: id.toUpperCase(), attributes: { context: 'c' } });
    expect(again).toEqual(first);
    expect(await dbOf(kms).selectFrom('keys').select('id').where('id', '=', id).execute()).toHaveLength(1);
    expect((await auditOf(id)).map((e) => [e.action, e.outcome, e.details?.replay])).toEqual([
      ['key.create', 'allowed', undefined],
      ['key.create', 'allowed', true],
    ]);
    for (const other of [
      { name: 'other' },
      { spec: { kind: 'oct', size: 128 } as const },
      { ops: ['encrypt'] },
      { attributes: { context: 'd' } },
      { extractable: true },
    ]) {
      await expectKind(kms.createKey(alice, { ...input, ...other }), 'conflict', /already exists/);
    }
    // an import with the same id is not a replay of a generation
    await expectKind(kms.importKey(alice, { ...input, material: { format: 'raw', bytes: randomBytes(32) } }), 'conflict');
    // the same id in another tenant is free
    expect((await kms.createKey(bob, input)).id).toBe(id);
  });

  it('a retried import must carry the same material', async () => {
    const id = '7f1c2a9e-5b7d-4e21-9c0a-7d8e6f5a4b3c';
    const bytes = randomBytes(32);
    const input = { id, name: 'imp', material: { format: 'raw' as const, bytes } };
    const first = await kms.importKey(alice, input);
    expect(await kms.importKey(alice, { ...input, material: { format: 'raw', bytes: Buffer.from(bytes) } })).toEqual(first);
    const other = Buffer.from(bytes);
    other[31]! ^= 1;
    await expectKind(kms.importKey(alice, { ...input, material: { format: 'raw', bytes: other } }), 'conflict');
    // a rotated key is not replayed either
    await kms.rotate(alice, id, { format: 'raw', bytes: randomBytes(32) });
    await expectKind(kms.importKey(alice, input), 'conflict');
  });
});
