import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';
import { opensslVerify } from '../test-openssl.ts';

describe.each(backends())('sign on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('signs, verifies, exports public keys and does RSA-OAEP and HMAC through the store', async () => {
    const rsa = await kms.createKey(alice, { name: 'rsa', spec: { kind: 'RSA', size: 2048 } });
    const msg = Buffer.from('signed through core');
    const sig = await kms.sign(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, msg);
    const pub = await kms.getPublicKey(alice, rsa.id);
    expect(pub.pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(pub.jwk.kty).toBe('RSA');
    expect(
      opensslVerify(pub.pem, msg, sig.signature, 'sha256', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']).ok,
    ).toBe(true);
    expect((await kms.verify(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, msg, sig.signature)).valid).toBe(true);
    expect((await kms.verify(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, Buffer.from('other'), sig.signature)).valid).toBe(
      false,
    );
    const ct = await kms.rsaEncrypt(alice, rsa.id, Buffer.from('dek'), { hash: 'SHA-256' });
    expect((await kms.rsaDecrypt(alice, rsa.id, ct.ciphertext, { hash: 'SHA-256' })).plaintext.toString()).toBe('dek');
    await expectKind(kms.rsaDecrypt(alice, rsa.id, ct.ciphertext, { hash: 'SHA-1' }), 'invalid_argument');
    const mac = await kms.createKey(alice, { name: 'mac', spec: { kind: 'HMAC', size: 384 } });
    const tag = await kms.sign(alice, mac.id, { scheme: 'HMAC', hash: 'SHA-384' }, msg);
    expect(tag.signature.length).toBe(48);
    expect((await kms.verify(alice, mac.id, { scheme: 'HMAC', hash: 'SHA-384' }, msg, tag.signature)).valid).toBe(true);
    await expectKind(kms.getPublicKey(bob, rsa.id), 'not_found');
  });

  it('signs with Ed25519 and secp256k1 keys; OpenSSL verifies, a changed message does not verify', async () => {
    const msg = Buffer.from('signed on other curves');
    const ed = await kms.createKey(alice, { name: 'ed', spec: { kind: 'OKP', curve: 'Ed25519' } });
    expect([ed.kind, ed.curve, ed.ops]).toEqual(['OKP', 'Ed25519', ['sign', 'verify']]);
    const edSig = await kms.sign(alice, ed.id, { scheme: 'EdDSA', hash: 'SHA-512' }, msg);
    expect(edSig.signature).toHaveLength(64);
    const edPub = await kms.getPublicKey(alice, ed.id);
    expect(edPub.jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    const edCheck = (m: Buffer) => opensslVerify(edPub.pem, m, edSig.signature).ok;
    expect(edCheck(msg)).toBe(true);
    expect(edCheck(Buffer.from('changed'))).toBe(false);
    expect((await kms.verify(alice, ed.id, { scheme: 'EdDSA', hash: 'SHA-512' }, msg, edSig.signature)).valid).toBe(true);
    expect((await kms.verify(alice, ed.id, { scheme: 'EdDSA', hash: 'SHA-512' }, Buffer.from('x'), edSig.signature)).valid).toBe(false);
    await expectKind(kms.sign(alice, ed.id, { scheme: 'EdDSA', hash: 'SHA-512', prehashed: true }, msg), 'unsupported', /digest/);
    await expectKind(kms.sign(alice, ed.id, { scheme: 'ECDSA', hash: 'SHA-256' }, msg), 'unsupported');
    await expectKind(kms.createKey(alice, { name: 'bad', spec: { kind: 'OKP', curve: 'P-256' } }), 'invalid_argument', /Ed25519/);
    await expectKind(kms.createKey(alice, { name: 'bad', spec: { kind: 'OKP', curve: 'Ed25519' }, ops: ['encrypt'] }), 'invalid_argument');

    const k1 = await kms.createKey(alice, { name: 'k1', spec: { kind: 'EC', curve: 'secp256k1' } });
    const k1Pub = await kms.getPublicKey(alice, k1.id);
    expect(k1Pub.jwk).toMatchObject({ kty: 'EC', crv: 'secp256k1' });
    const digest = createHash('sha256').update(msg).digest();
    for (const [input, prehashed] of [
      [msg, false],
      [digest, true],
    ] as const) {
      const sig = await kms.sign(alice, k1.id, { scheme: 'ECDSA', hash: 'SHA-256', prehashed, ecdsaFormat: 'der' }, input);
      const check = (m: Buffer) => opensslVerify(k1Pub.pem, m, sig.signature, 'sha256').ok;
      expect(check(msg)).toBe(true);
      expect(check(Buffer.from('changed'))).toBe(false);
      const params = { scheme: 'ECDSA', hash: 'SHA-256', prehashed, ecdsaFormat: 'der' } as const;
      expect((await kms.verify(alice, k1.id, params, input, sig.signature)).valid).toBe(true);
    }
  });
});
