import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';
import { opensslDerive } from '../test-openssl.ts';
import { generateKeyPairDetached } from '../keypair.ts';

describe.each(backends())('ECDH on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

  it('derives the secret OpenSSL derives from the peer private key and the key public key', async () => {
    const k = await kms.createKey(alice, { name: 'agree', spec: { kind: 'EC', curve: 'P-256' }, ops: ['deriveBits'] });
    expect(k.ops).toEqual(['deriveBits']);
    const peer = generateKeyPairDetached('ec', { namedCurve: 'P-256' });
    const r = await kms.deriveSharedSecret(alice, k.id, peer.publicKey.export({ format: 'der', type: 'spki' }));
    expect(r.secret.length).toBe(32);
    const pub = await kms.getPublicKey(alice, k.id);
    const z = opensslDerive(peer.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, pub.pem);
    expect(z.ok, z.out).toBe(true);
    expect(z.secret.toString('hex')).toBe(r.secret.toString('hex'));
  });

  it('refuses signing keys, other curves, bad public keys and other tenants', async () => {
    const k = await kms.createKey(alice, { name: 'agree2', spec: { kind: 'EC', curve: 'P-384' }, ops: ['deriveBits'] });
    const signer = await kms.createKey(alice, { name: 'signer', spec: { kind: 'EC', curve: 'P-384' } });
    expect(signer.ops).toEqual(['sign', 'verify']);
    const p384 = generateKeyPairDetached('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' });
    const p256 = generateKeyPairDetached('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    const rsa = generateKeyPairDetached('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
    await expectKind(kms.deriveSharedSecret(alice, signer.id, p384), 'unsupported');
    await expectKind(kms.deriveSharedSecret(alice, k.id, p256), 'invalid_argument', /P-384/);
    await expectKind(kms.deriveSharedSecret(alice, k.id, rsa), 'invalid_argument');
    await expectKind(kms.deriveSharedSecret(alice, k.id, Buffer.from('not der')), 'invalid_argument');
    await expectKind(kms.deriveSharedSecret(bob, k.id, p384), 'not_found');
    await expectKind(kms.createKey(alice, { name: 'x', spec: { kind: 'RSA', size: 2048 }, ops: ['deriveBits'] }), 'invalid_argument');
    await kms.deactivate(alice, k.id);
    await expectKind(kms.deriveSharedSecret(alice, k.id, p384), 'failed_precondition');
  });
});
