import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_CURVE, type Curve, type KeySpec } from '../keyspec.ts';
import type { Caller, Kms } from '../kms.ts';
import { expectKind } from '../test-expect.ts';
import { opensslVerify, wrapKeyPairWithOpenssl, wrapKeyWithOpenssl } from '../test-openssl.ts';
import { backends, dbOf, twoTenants } from '../testing.ts';
import { UNWRAP_FAILED } from './import-wrapped.ts';
import { NOT_A_PRIVATE_KEY } from './import-unwrap.ts';
import { generateKeyPairDetached } from '../keypair.ts';

/** A customer's key pair, made outside the gateway. */
const pairOf = (spec: KeySpec) => {
  const { privateKey, publicKey } =
    spec.kind === 'RSA'
      ? generateKeyPairDetached('rsa', { modulusLength: spec.size!, publicExponent: 65537 })
      : generateKeyPairDetached('ec', { namedCurve: NODE_CURVE[spec.curve as Curve] });
  return { pkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }), publicKey };
};
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }) as string;
const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });

/** The customer checks a signature with their own public key and the OpenSSL CLI: RSA-PSS or ECDSA, SHA-256. */
const opensslVerifies = (pub: KeyObject, msg: Buffer, sig: Uint8Array, pss: boolean) =>
  opensslVerify(pemOf(pub), msg, sig, 'sha256', pss ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'] : []);

describe.each(backends())('key pairs and re-imports brought to keys pending import, on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  let clock = new Date('2026-03-01T00:00:00Z');
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend, { now: () => clock }));
  });
  afterAll(() => close?.());

  const pending = (name: string, spec: KeySpec) =>
    kms.createKey(alice, { name, spec, ops: spec.kind === 'oct' ? undefined : ['sign', 'verify'], pendingImport: true });
  const bring = async (keyId: string, pkcs8: Buffer, opts: Parameters<typeof wrapKeyPairWithOpenssl>[2] = {}, expiresAt?: Date) => {
    const p = await kms.importParameters(alice, keyId, opts.hash === 'sha1' ? 'SHA-1' : 'SHA-256');
    const w = wrapKeyPairWithOpenssl(p.publicKey, pkcs8, opts);
    return kms.importKeyMaterial(alice, keyId, { token: p.token, wrapped: w.wrappedKey, privateKey: w.wrappedPrivateKey, expiresAt });
  };

  it.each([
    ['RSA 2048, OAEP SHA-256, AES-256 temporary key', { kind: 'RSA', size: 2048 }, {}],
    ['RSA 3072, OAEP SHA-1, AES-128 temporary key', { kind: 'RSA', size: 3072 }, { hash: 'sha1', temporary: randomBytes(16) }],
    ['EC P-256', { kind: 'EC', curve: 'P-256' }, {}],
    ['EC P-384, AES-128 temporary key', { kind: 'EC', curve: 'P-384' }, { temporary: randomBytes(16) }],
    ['EC secp256k1', { kind: 'EC', curve: 'secp256k1' }, {}],
  ] as [string, KeySpec, Parameters<typeof wrapKeyPairWithOpenssl>[2]][])(
    'imports %s wrapped by OpenSSL: the gateway signs, OpenSSL verifies with the customer key',
    async (_label, spec, opts) => {
      const k = await pending(`pair-${JSON.stringify(spec)}`, spec);
      await expectKind(kms.getPublicKey(alice, k.id), 'failed_precondition', /pending import/);
      const { pkcs8, publicKey } = pairOf(spec);
      expect((await bring(k.id, pkcs8, opts)).state).toBe('active');
      expect(Buffer.from((await kms.getPublicKey(alice, k.id)).spki).equals(spkiOf(publicKey))).toBe(true);
      const msg = randomBytes(100);
      const rsa = spec.kind === 'RSA';
      const sig = await kms.sign(alice, k.id, rsa ? { scheme: 'RSA-PSS', hash: 'SHA-256' } : { scheme: 'ECDSA', hash: 'SHA-256' }, msg);
      const ok = opensslVerifies(publicKey, msg, sig.signature, rsa);
      expect(ok.out).toMatch(/Verified OK/);
      const other = opensslVerifies(publicKey, Buffer.concat([msg, Buffer.from('x')]), sig.signature, rsa);
      expect(other.ok).toBe(false);
    },
  );

  it('refuses another spec, a public key or garbage (one answer), broken wrapping (the unwrap answer), and missing parts', async () => {
    const k = await pending('refusals', { kind: 'RSA', size: 2048 });
    const ec = await pending('refusals-ec', { kind: 'EC', curve: 'P-256' });
    const answer = async (keyId: string, pkcs8: Buffer, opts: Parameters<typeof wrapKeyPairWithOpenssl>[2] = {}) =>
      bring(keyId, pkcs8, opts).then(
        () => 'imported',
        (e) => `${e.kind}|${e.reason}|${e.message}`,
      );
    expect(await answer(k.id, pairOf({ kind: 'RSA', size: 3072 }).pkcs8)).toBe(
      'invalid_argument|import_private_key|the private key is an RSA 3072-bit key; this key is an RSA 2048-bit key',
    );
    expect(await answer(k.id, pairOf({ kind: 'EC', curve: 'P-256' }).pkcs8)).toMatch(/is an EC key on P-256; this key is an RSA 2048/);
    expect(await answer(ec.id, pairOf({ kind: 'EC', curve: 'P-384' }).pkcs8)).toMatch(/on P-384; this key is an EC key on P-256/);
    expect(await answer(ec.id, pairOf({ kind: 'EC', curve: 'secp256k1' }).pkcs8)).toMatch(/on secp256k1; this key is an EC key on P-256/);
    const small = generateKeyPairDetached('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'der', type: 'pkcs8' });
    expect(await answer(k.id, small)).toMatch(/import_private_key\|RSA keys must be 2048, 3072, 4096 bits; this one is 1024/);
    const uniform = new Set<string>();
    const pub = pairOf({ kind: 'RSA', size: 2048 }).publicKey;
    const pkcs1 = generateKeyPairDetached('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs1' });
    for (const bad of [spkiOf(pub), randomBytes(1200), pkcs1, Buffer.from('-----BEGIN PUBLIC KEY-----\n'), Buffer.alloc(1)])
      uniform.add(await answer(k.id, bad));
    expect([...uniform]).toEqual([`invalid_argument|import_private_key|${NOT_A_PRIVATE_KEY}`]);

    const { pkcs8 } = pairOf({ kind: 'RSA', size: 2048 });
    const p = await kms.importParameters(alice, k.id, 'SHA-256');
    const w = wrapKeyPairWithOpenssl(p.publicKey, pkcs8);
    const imp = (wrapped: Uint8Array, privateKey: Uint8Array | undefined) =>
      kms.importKeyMaterial(alice, k.id, { token: p.token, wrapped, privateKey }).then(
        () => 'imported',
        (e) => `${e.kind}|${e.reason}|${e.message}`,
      );
    const tampered = Buffer.from(w.wrappedPrivateKey);
    tampered[20]! ^= 1;
    const tamperedKey = Buffer.from(w.wrappedKey);
    tamperedKey[9]! ^= 1;
    const foreign = wrapKeyPairWithOpenssl(p.publicKey, pkcs8); // another temporary key
    const broken = new Set<string>();
    for (const [wrapped, priv] of [
      [w.wrappedKey, w.wrappedPrivateKey.subarray(0, w.wrappedPrivateKey.length - 8)],
      [w.wrappedKey, w.wrappedPrivateKey.subarray(0, 13)],
      [w.wrappedKey, tampered],
      [w.wrappedKey, foreign.wrappedPrivateKey],
      [w.wrappedKey, randomBytes(w.wrappedPrivateKey.length)],
      [tamperedKey, w.wrappedPrivateKey],
      [randomBytes(256), w.wrappedPrivateKey],
    ] as const)
      broken.add(await imp(wrapped, priv));
    expect([...broken]).toEqual([`invalid_argument|unwrap|${UNWRAP_FAILED}`]);
    expect(await imp(w.wrappedKey, undefined)).toMatch(/^invalid_argument\|import_private_key_missing\|/);
    expect(await imp(w.wrappedKey, new Uint8Array(0))).toMatch(/^invalid_argument\|import_private_key_missing\|/);
    const odd = wrapKeyPairWithOpenssl(p.publicKey, pkcs8, { temporary: randomBytes(24) });
    expect(await imp(odd.wrappedKey, odd.wrappedPrivateKey)).toBe(
      'invalid_argument|import_temporary_key|the temporary key is 16 or 32 bytes (AES-128 or AES-256); got 24',
    );
    expect((await kms.getKey(alice, k.id)).state).toBe('pending_import');
    // another tenant, a key not pending, a spent and an expired token
    await expectKind(
      kms.importKeyMaterial(bob, k.id, { token: p.token, wrapped: w.wrappedKey, privateKey: w.wrappedPrivateKey }),
      'not_found',
    );
    expect(await imp(w.wrappedKey, w.wrappedPrivateKey)).toBe('imported');
    await expectKind(
      kms.importKeyMaterial(alice, k.id, { token: p.token, wrapped: w.wrappedKey, privateKey: w.wrappedPrivateKey }),
      'failed_precondition',
      /not pending import/,
    );
    const q = await kms.importParameters(alice, ec.id, 'SHA-256');
    const x = wrapKeyPairWithOpenssl(q.publicKey, pairOf({ kind: 'EC', curve: 'P-256' }).pkcs8);
    clock = new Date(clock.getTime() + 25 * 3_600_000);
    await expectKind(
      kms.importKeyMaterial(alice, ec.id, { token: q.token, wrapped: x.wrappedKey, privateKey: x.wrappedPrivateKey }),
      'invalid_argument',
      /token has expired/,
    );
    // a symmetric key takes no private key
    const aes = await pending('aes-no-pair', { kind: 'oct', size: 256 });
    const r = await kms.importParameters(alice, aes.id, 'SHA-256');
    const y = wrapKeyPairWithOpenssl(r.publicKey, randomBytes(40));
    await expectKind(
      kms.importKeyMaterial(alice, aes.id, { token: r.token, wrapped: y.wrappedKey, privateKey: y.wrappedPrivateKey }),
      'invalid_argument',
      /without a private key/,
    );
  });

  it('a private key cannot be deleted, but expires; it comes back only as itself', async () => {
    const k = await pending('expiring-pair', { kind: 'EC', curve: 'P-256' });
    const mine = pairOf({ kind: 'EC', curve: 'P-256' });
    await bring(k.id, mine.pkcs8, {}, new Date(clock.getTime() + 3_600_000));
    const msg = Buffer.from('signed before expiry');
    const sig = await kms.sign(alice, k.id, { scheme: 'ECDSA', hash: 'SHA-256' }, msg);
    await expectKind(kms.deleteImportedMaterial(alice, k.id), 'failed_precondition', /private key material cannot be deleted/);
    clock = new Date(clock.getTime() + 2 * 3_600_000);
    expect(await kms.expireImportedMaterial()).toBeGreaterThanOrEqual(1);
    expect((await kms.getKey(alice, k.id)).state).toBe('pending_import');
    await expectKind(bring(k.id, pairOf({ kind: 'EC', curve: 'P-256' }).pkcs8), 'invalid_argument', /had other material/);
    expect((await kms.getKey(alice, k.id)).state).toBe('pending_import');
    await bring(k.id, mine.pkcs8);
    expect((await kms.verify(alice, k.id, { scheme: 'ECDSA', hash: 'SHA-256' }, msg, sig.signature)).valid).toBe(true);
  });

  it('deleted symmetric material comes back only as itself; the fingerprint is keyed and bound to the key', async () => {
    const wrap = async (keyId: string, bytes: Buffer) => {
      const p = await kms.importParameters(alice, keyId, 'SHA-256');
      return kms.importKeyMaterial(alice, keyId, { token: p.token, wrapped: wrapKeyWithOpenssl(p.publicKey, bytes) });
    };
    const aes = randomBytes(32);
    const a = await pending('again-a', { kind: 'oct', size: 256 });
    const b = await pending('again-b', { kind: 'oct', size: 256 });
    await wrap(a.id, aes);
    await wrap(b.id, aes);
    const ct = await kms.encrypt(alice, a.id, Buffer.from('kept'));
    const stored = async (id: string) =>
      Buffer.from(
        (await dbOf(kms).selectFrom('keys').select('material_fingerprint').where('id', '=', id).executeTakeFirstOrThrow())
          .material_fingerprint!,
      );
    const fa = await stored(a.id);
    expect(fa).toHaveLength(32);
    expect(fa.equals(await stored(b.id))).toBe(false);
    expect(fa.equals(createHash('sha256').update(aes).digest())).toBe(false);
    await kms.deleteImportedMaterial(alice, a.id);
    await expectKind(wrap(a.id, randomBytes(32)), 'invalid_argument', /had other material/);
    await wrap(a.id, aes);
    expect((await kms.decrypt(alice, ct.ciphertext)).plaintext.toString()).toBe('kept');

    // Material imported before fingerprints were kept gets one when it is deleted.
    const fb = await stored(b.id);
    await dbOf(kms).updateTable('keys').set({ material_fingerprint: null }).where('id', '=', b.id).execute();
    await kms.deleteImportedMaterial(alice, b.id);
    expect((await stored(b.id)).equals(fb)).toBe(true);
    await expectKind(wrap(b.id, randomBytes(32)), 'invalid_argument', /had other material/);
    await wrap(b.id, aes);
  });
});
