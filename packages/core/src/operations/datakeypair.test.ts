import { createPrivateKey, createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';
import { openssl } from '../test-openssl.ts';

describe.each(backends())('data key pairs on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('an EC pair: the sealed private key decrypts to the one in clear, which OpenSSL pairs with the public key', async () => {
    const k = await kms.createKey(alice, { name: 'wrap', spec: { kind: 'oct', size: 256 } });
    const r = await kms.generateDataKeyPair(alice, k.id, { kind: 'EC', curve: 'P-384' }, { context: Buffer.from('ctx') });
    expect(r.spec).toEqual({ kind: 'EC', curve: 'P-384' });
    const opened = await kms.decrypt(alice, r.privateKeyCiphertext, Buffer.from('ctx'));
    expect(opened.plaintext.equals(r.privateKey!)).toBe(true);
    await expectKind(kms.decrypt(alice, r.privateKeyCiphertext), 'invalid_argument');
    const pem = createPrivateKey({ key: opened.plaintext, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' });
    const derived = openssl({ 'k.pem': pem }, () => ['pkey', '-in', 'k.pem', '-pubout', '-outform', 'DER']);
    expect(derived.ok).toBe(true);
    const pubPem = createPublicKey({ key: r.publicKey, format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' });
    expect(openssl({ 'p.pem': pubPem }, () => ['pkey', '-pubin', '-in', 'p.pem', '-text', '-noout']).out).toMatch(/secp384r1|P-384/);
    const fromOpenssl = openssl({ 'k.pem': pem }, () => ['pkey', '-in', 'k.pem', '-pubout']).out;
    expect(fromOpenssl.trim()).toBe(String(pubPem).trim());
  });

  it('an RSA pair without the private key in clear; refusals', async () => {
    const k = await kms.createKey(alice, { name: 'wrap2', spec: { kind: 'oct', size: 256 } });
    const r = await kms.generateDataKeyPair(alice, k.id, { kind: 'RSA', size: 2048 }, { withPlaintext: false });
    expect(r.privateKey).toBeUndefined();
    const priv = createPrivateKey({ key: (await kms.decrypt(alice, r.privateKeyCiphertext)).plaintext, format: 'der', type: 'pkcs8' });
    expect(priv.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(createPublicKey(priv).export({ format: 'der', type: 'spki' }).equals(r.publicKey)).toBe(true);
    await expectKind(kms.generateDataKeyPair(alice, k.id, { kind: 'RSA', size: 1024 }), 'invalid_argument');
    await expectKind(kms.generateDataKeyPair(alice, k.id, { kind: 'oct', size: 256 }), 'invalid_argument');
    const signer = await kms.createKey(alice, { name: 'sig', spec: { kind: 'EC', curve: 'P-256' } });
    await expectKind(kms.generateDataKeyPair(alice, signer.id, { kind: 'EC', curve: 'P-256' }), 'unsupported');
    await expectKind(kms.generateDataKeyPair(bob, k.id, { kind: 'EC', curve: 'P-256' }), 'not_found');
    await kms.deactivate(alice, k.id);
    await expectKind(kms.generateDataKeyPair(alice, k.id, { kind: 'EC', curve: 'P-256' }), 'failed_precondition');
  });
});
