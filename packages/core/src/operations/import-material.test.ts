import { randomBytes, webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ciphertextAad, parseCiphertext } from '../ciphertext.ts';
import type { Caller, Kms } from '../kms.ts';
import { expectKind } from '../test-expect.ts';
import { wrapKeyWithOpenssl } from '../test-openssl.ts';
import { backends, twoTenants } from '../testing.ts';
import { UNWRAP_FAILED } from './import-wrapped.ts';

describe.each(backends())('material brought to a key pending import, on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  let clock = new Date('2026-01-01T00:00:00Z');
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend, { now: () => clock }));
  });
  afterAll(() => close?.());

  const pending = (name = 'byok') => kms.createKey(alice, { name, spec: { kind: 'oct', size: 256 }, pendingImport: true });
  /** The customer's side: RSA-OAEP with WebCrypto under the public key the gateway handed out. */
  const wrap = async (spki: Buffer, material: Uint8Array, hash: 'SHA-1' | 'SHA-256' = 'SHA-256') => {
    const pub = await webcrypto.subtle.importKey('spki', spki, { name: 'RSA-OAEP', hash }, false, ['encrypt']);
    return Buffer.from(await webcrypto.subtle.encrypt({ name: 'RSA-OAEP' }, pub, material));
  };
  /** Opens a ciphertext the gateway made, with the customer's own bytes. */
  const openLocally = async (material: Buffer, blob: Uint8Array, ctx: string) => {
    const p = parseCiphertext(blob);
    const k = await webcrypto.subtle.importKey('raw', material, 'AES-GCM', false, ['decrypt']);
    const pt = await webcrypto.subtle.decrypt(
      { name: 'AES-GCM', iv: p.parts.iv, additionalData: ciphertextAad(p.header, Buffer.from(ctx)) },
      k,
      Buffer.concat([p.parts.ciphertext, p.parts.tag]),
    );
    return Buffer.from(pt).toString();
  };

  it('a key created pending import has no material and cannot be used until its material is imported', async () => {
    const k = await pending();
    expect(k).toMatchObject({ state: 'pending_import', origin: 'imported', kind: 'oct', size: 256 });
    await expectKind(kms.encrypt(alice, k.id, Buffer.from('x')), 'failed_precondition', /pending import/);
    const p = await kms.importParameters(alice, k.id, 'SHA-256');
    expect(p.token).toHaveLength(200);
    expect(p.expiresAt.getTime() - clock.getTime()).toBe(24 * 3_600_000);
    const aes = randomBytes(32);
    const active = await kms.importKeyMaterial(alice, k.id, { token: p.token, wrapped: await wrap(p.publicKey, aes) });
    expect(active.state).toBe('active');
    const ct = await kms.encrypt(alice, k.id, Buffer.from('the customer key'), Buffer.from('c'));
    expect(await openLocally(aes, ct.ciphertext, 'c')).toBe('the customer key');
    // the token is spent
    await kms.deleteImportedMaterial(alice, k.id);
    await expectKind(
      kms.importKeyMaterial(alice, k.id, { token: p.token, wrapped: await wrap(p.publicKey, aes) }),
      'invalid_argument',
      /token is not valid/,
    );
  });

  it('wraps with RSA-OAEP SHA-1 too (OpenSSL CLI as the customer); an HMAC key takes its hash-length material', async () => {
    const k = await pending('sha1');
    const p = await kms.importParameters(alice, k.id, 'SHA-1');
    const aes = randomBytes(32);
    await kms.importKeyMaterial(alice, k.id, { token: p.token, wrapped: wrapKeyWithOpenssl(p.publicKey, aes, 'sha1') });
    const ct = await kms.encrypt(alice, k.id, Buffer.from('via openssl'), Buffer.from('c'));
    expect(await openLocally(aes, ct.ciphertext, 'c')).toBe('via openssl');

    const mac = await kms.createKey(alice, { name: 'mac', spec: { kind: 'HMAC', size: 384 }, pendingImport: true });
    const q = await kms.importParameters(alice, mac.id, 'SHA-256');
    const secret = randomBytes(48);
    await kms.importKeyMaterial(alice, mac.id, { token: q.token, wrapped: await wrap(q.publicKey, secret) });
    const tag = await kms.sign(alice, mac.id, { scheme: 'HMAC', hash: 'SHA-384' }, Buffer.from('m'));
    const wk = await webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-384' }, false, ['verify']);
    expect(await webcrypto.subtle.verify('HMAC', wk, tag.signature, Buffer.from('m'))).toBe(true);
  });

  it('refuses bad tokens, tampered or mis-hashed material (one answer), wrong lengths, past expiry, and keys not pending', async () => {
    const k = await pending('refusals');
    const other = await pending('other');
    const p = await kms.importParameters(alice, k.id, 'SHA-256');
    const q = await kms.importParameters(alice, other.id, 'SHA-256');
    const aes = randomBytes(32);
    const imp = (token: string, wrapped: Uint8Array, expiresAt?: Date) => kms.importKeyMaterial(alice, k.id, { token, wrapped, expiresAt });
    await expectKind(imp(randomBytes(150).toString('base64'), await wrap(p.publicKey, aes)), 'invalid_argument', /token is not valid/);
    await expectKind(imp('', await wrap(p.publicKey, aes)), 'invalid_argument', /token is not valid/);
    await expectKind(imp(q.token, await wrap(q.publicKey, aes)), 'invalid_argument', /another key/);
    const tampered = await wrap(p.publicKey, aes);
    tampered[10]! ^= 1;
    const answers = new Set<string>();
    for (const bad of [tampered, await wrap(p.publicKey, aes, 'SHA-1'), await wrap(q.publicKey, aes), randomBytes(256)]) {
      const e = await imp(p.token, bad).catch((err) => err);
      answers.add(`${e.kind}|${e.reason}|${e.message}`);
    }
    expect([...answers]).toEqual([`invalid_argument|unwrap|${UNWRAP_FAILED}`]);
    await expectKind(imp(p.token, await wrap(p.publicKey, randomBytes(16))), 'invalid_argument', /128-bit key, not 256/);
    await expectKind(imp(p.token, await wrap(p.publicKey, aes), new Date(clock.getTime() - 1000)), 'invalid_argument', /later than now/);
    expect((await kms.getKey(alice, k.id)).state).toBe('pending_import');
    await expectKind(kms.importKeyMaterial(bob, k.id, { token: p.token, wrapped: await wrap(p.publicKey, aes) }), 'not_found');
    const denied: Caller = { ...alice, authorize: (a) => a !== 'key.import' };
    await expectKind(kms.importParameters(denied, k.id, 'SHA-256'), 'permission_denied');
    await expectKind(kms.importKeyMaterial(denied, k.id, { token: p.token, wrapped: await wrap(p.publicKey, aes) }), 'permission_denied');
    await expectKind(kms.importParameters(alice, k.id, 'MD5' as never), 'invalid_argument', /SHA-1 or SHA-256/);
    const generated = await kms.createKey(alice, { name: 'gen', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.importParameters(alice, generated.id, 'SHA-256'), 'failed_precondition', /not pending import/);
    await expectKind(kms.deleteImportedMaterial(alice, generated.id), 'failed_precondition', /not imported/);
    await expectKind(kms.deleteImportedMaterial(alice, k.id), 'failed_precondition', /pending import: its material cannot be deleted/);
    // an expired token
    clock = new Date(clock.getTime() + 25 * 3_600_000);
    await expectKind(imp(p.token, await wrap(p.publicKey, aes)), 'invalid_argument', /token has expired/);
  });

  it('material past its expiration time is unusable at once, then deleted by the sweep: the key is pending import again', async () => {
    const k = await pending('expiring');
    const p = await kms.importParameters(alice, k.id, 'SHA-256');
    const aes = randomBytes(32);
    const expiresAt = new Date(clock.getTime() + 3_600_000);
    const got = await kms.importKeyMaterial(alice, k.id, { token: p.token, wrapped: await wrap(p.publicKey, aes), expiresAt });
    expect(got.materialExpiresAt).toEqual(expiresAt);
    const ct = await kms.encrypt(alice, k.id, Buffer.from('before'), Buffer.from('c'));
    clock = new Date(clock.getTime() + 2 * 3_600_000);
    await expectKind(kms.decrypt(alice, ct.ciphertext, Buffer.from('c')), 'failed_precondition', /expired/);
    expect(await kms.expireImportedMaterial()).toBe(1);
    expect(await kms.getKey(alice, k.id)).toMatchObject({ state: 'pending_import', materialExpiresAt: null });
    await expectKind(kms.encrypt(alice, k.id, Buffer.from('x')), 'failed_precondition', /pending import/);
    // the same material again: what it encrypted opens again
    const again = await kms.importParameters(alice, k.id, 'SHA-256');
    await kms.importKeyMaterial(alice, k.id, { token: again.token, wrapped: await wrap(again.publicKey, aes) });
    expect((await kms.decrypt(alice, ct.ciphertext, Buffer.from('c'))).plaintext.toString()).toBe('before');
  });

  it('a key pending import can be scheduled for deletion; cancelled, it is pending import again', async () => {
    const k = await pending('doomed');
    expect((await kms.scheduleDeletion(alice, k.id, 7, { deactivate: true })).state).toBe('pending_deletion');
    expect((await kms.cancelDeletion(alice, k.id)).state).toBe('pending_import');
    await expectKind(kms.activate(alice, k.id), 'failed_precondition');
  });
});
